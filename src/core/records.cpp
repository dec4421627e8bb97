#include "core/records.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"

namespace sxb {

namespace fs = std::filesystem;

double Record::fraction() const {
  if (peak) return value / *peak;
  return unit == "%" ? value / 100.0 : value;
}

std::string Record::cite() const {
  return fmt::format(
      "record {}: {:g} {}{} ({}, {}; {}; {}{})", id, value, unit,
      peak ? fmt::format(" = {:.1f}% of {:g} {}", 100 * fraction(), *peak, unit) : "",
      url.empty() ? source : url, date, hardware, conditions,
      scaling.empty() ? "" : fmt::format("; fp8 {} scaling", scaling));
}

namespace {

constexpr double kMaxRecordValue = 1e9;

std::string require_text(const nlohmann::json& o, const char* key, const std::string& where) {
  const auto s = json_string_member(o, key, where);
  if (!s || s->empty()) {
    throw usage_error(fmt::format("{}: key \"{}\" is required (a non-empty string)", where, key));
  }
  return *s;
}

Record read_record(const nlohmann::json& r, const std::string& where) {
  if (!r.is_object()) throw usage_error(fmt::format("{} is not an object", where));
  Record rec;
  rec.id = require_text(r, "id", where);
  const std::string w = fmt::format("{} ('{}')", where, rec.id);
  rec.kind = require_text(r, "kind", w);
  rec.precision = json_string_member(r, "precision", w).value_or("");
  rec.op = json_string_member(r, "op", w).value_or("");
  if (const auto scaling = json_string_member(r, "scaling", w)) {
    if (!known_fp8_scaling(*scaling)) {
      throw usage_error(fmt::format("{}: unknown fp8 scaling '{}' (tensor, block)",
                                    json_key_name(w, "scaling"), *scaling));
    }
    rec.scaling = *scaling;
  }
  if (!rec.scaling.empty() && precision_class(rec.precision) != "fp8") {
    throw usage_error(fmt::format("{}: only an fp8 record has a scaling (precision is '{}')",
                                  json_key_name(w, "scaling"), rec.precision));
  }
  const auto value = json_number_member(r, "value", w, 0, kMaxRecordValue);
  if (!value || !(*value > 0)) {
    throw usage_error(fmt::format("{}: key \"value\" is required (a positive number)", w));
  }
  rec.value = *value;
  rec.unit = require_text(r, "unit", w);
  rec.source = require_text(r, "source", w);
  rec.url = json_string_member(r, "url", w).value_or("");
  rec.date = require_text(r, "date", w);
  if (r.contains("peak")) {
    const auto& p = r["peak"];
    const std::string pw = json_key_name(w, "peak");
    if (!p.is_object()) throw usage_error(fmt::format("{} must be an object", pw));
    const auto pv = json_number_member(p, "value", pw, 0, kMaxRecordValue);
    if (!pv || !(*pv > 0)) {
      throw usage_error(fmt::format("{}: key \"value\" is required (a positive number)", pw));
    }
    rec.peak = *pv;
    rec.peak_source = require_text(p, "source", pw);
  } else if (rec.unit != "%") {
    throw usage_error(fmt::format(
        "{}: key \"peak\" is required for a record in {} (only a percentage stands alone)", w,
        rec.unit));
  }
  if (!r.contains("conditions") || !r["conditions"].is_object()) {
    throw usage_error(fmt::format("{}: key \"conditions\" is required (an object)", w));
  }
  const auto& c = r["conditions"];
  const std::string cw = json_key_name(w, "conditions");
  rec.hardware = require_text(c, "hardware", cw);
  std::string parts;
  for (const char* key : {"precision", "parallelism", "size"}) {
    parts += (parts.empty() ? "" : ", ") + require_text(c, key, cw);
  }
  rec.conditions = parts;
  return rec;
}

}  // namespace

std::vector<Record> load_records(const fs::path& dir) {
  const std::vector<fs::path> files = json_files_in(dir);
  std::vector<Record> out;
  std::set<std::string> ids;
  for (const auto& f : files) {
    const nlohmann::json j = read_json_file(f);
    const std::string file = f.string();
    if (!j.is_object() || !j.contains("records") || !j["records"].is_array()) {
      throw usage_error(fmt::format("{}: expected an object with a \"records\" array", file));
    }
    if (json_string_member(j, "schema", file).value_or("") != "sxbench.records/1") {
      throw usage_error(fmt::format("{}: key \"schema\" must be \"sxbench.records/1\"", file));
    }
    int i = 0;
    for (const auto& r : j["records"]) {
      Record rec = read_record(r, fmt::format("{}: records[{}]", file, i++));
      if (!ids.insert(rec.id).second) {
        throw usage_error(fmt::format("{}: record id '{}' appears twice", file, rec.id));
      }
      out.push_back(std::move(rec));
    }
  }
  return out;
}

std::string precision_class(std::string_view dtype) {
  if (dtype == "bf16" || dtype == "fp16") return "16-bit";
  if (dtype.rfind("fp8", 0) == 0) return "fp8";
  return std::string(dtype);
}

bool known_fp8_scaling(std::string_view scaling) {
  return scaling == "tensor" || scaling == "block";
}

const Record* best_record(const std::vector<Record>& records, std::string_view kind,
                          std::string_view precision, std::string_view op,
                          std::string_view scaling) {
  const Record* best = nullptr;
  for (const auto& r : records) {
    if (r.kind != kind) continue;
    if (!r.precision.empty() && precision_class(r.precision) != precision_class(precision)) {
      continue;
    }
    if (!op.empty() && r.op != op && r.op != "any") continue;
    if (!r.scaling.empty() && r.scaling != scaling) continue;
    if (!best || r.fraction() > best->fraction()) best = &r;
  }
  return best;
}

std::string record_scope(std::string_view kind, std::string_view precision, std::string_view op,
                         std::string_view scaling) {
  std::string out(kind);
  for (const std::string& part :
       {std::string(precision), std::string(op),
        scaling.empty() ? std::string() : fmt::format("{} scaling", scaling)}) {
    if (!part.empty()) out += ", " + part;
  }
  return out;
}

}  // namespace sxb
