#include "train/safetensors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "train/cpu_model.hpp"

namespace sxb {

namespace fs = std::filesystem;
using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader assumes a little-endian host");

namespace {

// safetensors' own limit on the header (100 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

DataType parse_st_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return DataType::f32;
  if (s == "BF16") return DataType::bf16;
  if (s == "F16") return DataType::f16;
  throw usage_error(
      fmt::format("{}: dtype \"{}\" is not supported (BF16, F16 or F32)", where, s));
}

uint64_t json_u64(const json& v, const std::string& where, const char* what) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    throw usage_error(fmt::format("{}: {} must be non-negative integers", where, what));
  }
  return v.get<uint64_t>();
}

}  // namespace

std::string safetensors_dtype_name(DataType t) {
  switch (t) {
    case DataType::f32: return "F32";
    case DataType::bf16: return "BF16";
    case DataType::f16: return "F16";
  }
  return "?";
}

int64_t SafetensorsTensor::elements() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

SafetensorsFile::SafetensorsFile(fs::path path) : path_(std::move(path)) {
  const std::string file = path_.string();
  std::error_code ec;
  if (!fs::is_regular_file(path_, ec)) throw usage_error(fmt::format("{}: no such file", file));
  const uint64_t size = fs::file_size(path_, ec);
  if (ec) throw usage_error(fmt::format("{}: cannot read: {}", file, ec.message()));
  if (size < 8) {
    throw usage_error(fmt::format(
        "{}: truncated: {} bytes, shorter than the 8-byte header length", file, size));
  }
  std::ifstream in(path_, std::ios::binary);
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) {
    throw usage_error(fmt::format("{}: cannot read the header length", file));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes) {
    throw usage_error(fmt::format("{}: header length {} exceeds the format's limit of {} bytes",
                                  file, n, kMaxHeaderBytes));
  }
  if (n > size - 8) {
    throw usage_error(fmt::format(
        "{}: truncated: header length {} but only {} bytes follow it", file, n, size - 8));
  }
  std::string text(n, '\0');
  if (!in.read(text.data(), std::streamsize(n))) {
    throw usage_error(fmt::format("{}: cannot read the {}-byte header", file, n));
  }
  data_start_ = 8 + n;
  const uint64_t data_bytes = size - data_start_;
  const json h = parse_json_text(text, file + " header");
  if (!h.is_object()) throw usage_error(fmt::format("{}: header is not a JSON object", file));
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) {
        throw usage_error(fmt::format("{}: __metadata__ must be an object of strings", file));
      }
      for (const auto& [k, mv] : v.items()) {
        if (!mv.is_string()) {
          throw usage_error(
              fmt::format("{}: __metadata__ key \"{}\" must be a string", file, k));
        }
        metadata_[k] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor {}", file, name);
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets")) {
      throw usage_error(
          fmt::format("{}: entry must be an object with dtype, shape and data_offsets", where));
    }
    if (!v["dtype"].is_string()) throw usage_error(where + ": dtype must be a string");
    SafetensorsTensor t;
    t.name = name;
    t.dtype = parse_st_dtype(v["dtype"].get<std::string>(), where);
    if (!v["shape"].is_array()) throw usage_error(where + ": shape must be an array");
    uint64_t elements = 1;
    for (const auto& d : v["shape"]) {
      const uint64_t dim = json_u64(d, where, "shape dimensions");
      if (dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(elements, dim, &elements) ||
          elements > uint64_t(INT64_MAX) / 4) {
        throw usage_error(where + ": shape's element count overflows");
      }
      t.shape.push_back(int64_t(dim));
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2) {
      throw usage_error(where + ": data_offsets must be [begin, end]");
    }
    t.begin = json_u64(off[0], where, "data_offsets");
    t.end = json_u64(off[1], where, "data_offsets");
    if (t.begin > t.end) {
      throw usage_error(fmt::format("{}: data_offsets [{}, {}] end before they begin", where,
                                    t.begin, t.end));
    }
    const uint64_t need = elements * dtype_size(t.dtype);
    if (t.end - t.begin != need) {
      throw usage_error(fmt::format(
          "{}: data_offsets [{}, {}] hold {} bytes, shape {} in {} needs {}", where, t.begin,
          t.end, t.end - t.begin, shape_str(t.shape), safetensors_dtype_name(t.dtype), need));
    }
    if (t.end > data_bytes) {
      throw usage_error(fmt::format(
          "{}: data_offsets [{}, {}] out of range: the file has {} data bytes (truncated?)",
          where, t.begin, t.end, data_bytes));
    }
    tensors_.emplace(name, std::move(t));
  }
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& [name, t] : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      throw usage_error(fmt::format("{}: tensor {} overlaps tensor {} (data_offsets)", file,
                                    by_offset[i]->name, by_offset[i - 1]->name));
    }
  }
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::read_f32(const SafetensorsTensor& t, float* out) const {
  const uint64_t bytes = t.end - t.begin;
  std::string raw(bytes, '\0');
  std::ifstream in(path_, std::ios::binary);
  in.seekg(std::streamoff(data_start_ + t.begin));
  if (!in || !in.read(raw.data(), std::streamsize(bytes))) {
    throw usage_error(
        fmt::format("{}: tensor {}: cannot read its {} bytes", path_.string(), t.name, bytes));
  }
  const int64_t n = t.elements();
  for (int64_t i = 0; i < n; ++i) out[i] = load_as_float(raw.data(), size_t(i), t.dtype);
}

void write_safetensors(const fs::path& path, const std::vector<SafetensorsOutput>& tensors,
                       DataType dtype, const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  const size_t es = dtype_size(dtype);
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (int64_t s : t.shape) n *= uint64_t(s);
    h[t.name] = {{"dtype", safetensors_dtype_name(dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + n * es}}};
    offset += n * es;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + header.size() + offset);
  const uint64_t hn = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((hn >> (8 * i)) & 0xff));
  out += header;
  const size_t data_start = out.size();
  out.resize(data_start + offset);
  char* data = out.data() + data_start;
  size_t index = 0;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t s : t.shape) n *= s;
    for (int64_t i = 0; i < n; ++i) store_from_float(data, index++, dtype, t.data[i]);
  }
  write_file_atomic(path, out);
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const fs::path& dir) {
  std::error_code ec;
  const fs::path index = dir / "model.safetensors.index.json";
  const fs::path single = dir / "model.safetensors";
  if (fs::is_regular_file(index, ec)) {
    source_ = index;
    const json j = read_json_file(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw usage_error(
          fmt::format("{}: needs \"weight_map\", an object of tensor name to shard file",
                      index.string()));
    }
    std::map<std::string, size_t> shard_index;
    std::vector<std::pair<std::string, std::string>> entries;
    for (const auto& [name, v] : j["weight_map"].items()) {
      if (!v.is_string()) {
        throw usage_error(fmt::format("{}: tensor {}: shard must be a file name", index.string(),
                                      name));
      }
      const std::string shard = v.get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." ||
          shard == "..") {
        throw usage_error(fmt::format("{}: tensor {}: shard \"{}\" is not a file name in {}",
                                      index.string(), name, shard, dir.string()));
      }
      shard_index.emplace(shard, 0);
      entries.emplace_back(name, shard);
    }
    for (auto& [shard, i] : shard_index) {
      i = files_.size();
      files_.emplace_back(dir / shard);
    }
    for (const auto& [name, shard] : entries) {
      const size_t i = shard_index.at(shard);
      if (!files_[i].find(name)) {
        throw usage_error(fmt::format("{}: tensor {}: not in its shard {}", index.string(), name,
                                      files_[i].path().string()));
      }
      where_[name] = i;
    }
    for (const auto& f : files_) {
      for (const auto& [name, t] : f.tensors()) {
        auto it = where_.find(name);
        if (it == where_.end() || files_[it->second].path() != f.path()) {
          throw usage_error(fmt::format("{}: tensor {} is not listed for this shard in {}",
                                        f.path().string(), name, index.string()));
        }
      }
    }
  } else if (fs::is_regular_file(single, ec)) {
    source_ = single;
    files_.emplace_back(single);
    for (const auto& [name, t] : files_[0].tensors()) where_[name] = 0;
  } else {
    throw usage_error(fmt::format(
        "{}: no model.safetensors or model.safetensors.index.json (safetensors weights)",
        dir.string()));
  }
}

SafetensorsCheckpoint::Located SafetensorsCheckpoint::find(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) return {nullptr, nullptr};
  const SafetensorsFile& f = files_[it->second];
  return {&f, f.find(name)};
}

std::vector<SafetensorsCheckpoint::Located> SafetensorsCheckpoint::all() const {
  std::vector<Located> out;
  for (const auto& [name, i] : where_) out.push_back({&files_[i], files_[i].find(name)});
  return out;
}

namespace {

bool ignored_tensor(const std::string& name) {
  const std::string suffix = ".rotary_emb.inv_freq";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

PretrainedSummary check_against(const ModelConfig& cfg, const SafetensorsCheckpoint& ck) {
  const std::vector<cpu::ParamTensor> layout = cpu::parameter_layout(cfg);
  std::set<std::string> names;
  std::set<std::string> dtypes;
  for (const auto& p : layout) {
    names.insert(p.name);
    const auto loc = ck.find(p.name);
    if (!loc.file) {
      throw usage_error(fmt::format("{}: tensor {} missing (the model's config implies shape {})",
                                    ck.source().string(), p.name, shape_str(p.shape)));
    }
    if (loc.tensor->shape != p.shape) {
      throw usage_error(fmt::format("{}: tensor {} has shape {}, the model's config implies {}",
                                    loc.file->path().string(), p.name,
                                    shape_str(loc.tensor->shape), shape_str(p.shape)));
    }
    dtypes.insert(safetensors_dtype_name(loc.tensor->dtype));
  }
  for (const auto& loc : ck.all()) {
    if (!names.count(loc.tensor->name) && !ignored_tensor(loc.tensor->name)) {
      throw usage_error(fmt::format(
          "{}: tensor {} is not a parameter of {} ({} layers, untied lm_head, no biases)",
          loc.file->path().string(), loc.tensor->name, cfg.name, cfg.num_layers));
    }
  }
  PretrainedSummary s;
  s.tensors = int64_t(layout.size());
  s.files = ck.file_count();
  s.dtypes.assign(dtypes.begin(), dtypes.end());
  s.source = ck.source().string();
  return s;
}

}  // namespace

PretrainedSummary check_pretrained(const ModelConfig& cfg, const fs::path& dir) {
  const SafetensorsCheckpoint ck(dir);
  return check_against(cfg, ck);
}

std::vector<float> load_pretrained(const ModelConfig& cfg, const fs::path& dir) {
  std::vector<float> out(size_t(cfg.param_count()));
  load_pretrained(cfg, dir, out.data());
  return out;
}

void load_pretrained(const ModelConfig& cfg, const fs::path& dir, float* out) {
  const SafetensorsCheckpoint ck(dir);
  check_against(cfg, ck);
  for (const auto& p : cpu::parameter_layout(cfg)) {
    const auto loc = ck.find(p.name);
    float* dst = out + p.offset;
    loc.file->read_f32(*loc.tensor, dst);
    for (int64_t i = 0; i < p.size; ++i) {
      if (!std::isfinite(dst[i])) {
        throw usage_error(fmt::format("{}: tensor {}: element {} is not finite ({})",
                                      loc.file->path().string(), p.name, i, dst[i]));
      }
    }
  }
}

void save_pretrained(const ModelConfig& cfg, const float* params, const fs::path& dir,
                     DataType dtype) {
  std::vector<SafetensorsOutput> tensors;
  for (const auto& p : cpu::parameter_layout(cfg)) {
    tensors.push_back({p.name, p.shape, params + p.offset});
  }
  write_safetensors(dir / "model.safetensors", tensors, dtype, {{"format", "pt"}});
  json c = hf_config_json(cfg);
  c["torch_dtype"] = dtype == DataType::f32 ? "float32"
                     : dtype == DataType::bf16 ? "bfloat16"
                                               : "float16";
  write_json_atomic(dir / "config.json", c);
}

}  // namespace sxb
