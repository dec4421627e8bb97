#include "core/collective_results.hpp"

#include "core/error.hpp"
#include "core/result_schema.hpp"

namespace sxb {

namespace {
constexpr std::string_view kFile = "nccl.json";
}  // namespace

void to_json(nlohmann::json& j, const CollectiveMeasurement& m) {
  j = {{"time_us", m.time_us},
       {"algbw_gb_per_s", m.algbw_gb_per_s},
       {"busbw_gb_per_s", m.busbw_gb_per_s},
       {"wrong", m.wrong ? nlohmann::json(*m.wrong) : nlohmann::json()}};
}

void from_json(const nlohmann::json& j, CollectiveMeasurement& m) {
  get_field(j, "time_us", m.time_us, kFile);
  get_field(j, "algbw_gb_per_s", m.algbw_gb_per_s, kFile);
  get_field(j, "busbw_gb_per_s", m.busbw_gb_per_s, kFile);
  if (j.at("wrong").is_null()) {
    m.wrong.reset();
  } else {
    int64_t wrong = 0;
    get_field(j, "wrong", wrong, kFile);
    if (wrong < 0) throw usage_error(json_key_name(kFile, "wrong") + ": a negative count");
    m.wrong = wrong;
  }
}

void to_json(nlohmann::json& j, const CollectiveRow& r) {
  j = {{"op", r.op},       {"dtype", r.dtype}, {"redop", r.redop},
       {"root", r.root},   {"size_bytes", r.size_bytes}, {"count", r.count},
       {"out_of_place", r.out_of_place},
       {"in_place", r.in_place ? nlohmann::json(*r.in_place) : nlohmann::json()}};
}

void from_json(const nlohmann::json& j, CollectiveRow& r) {
  get_field(j, "op", r.op, kFile);
  get_field(j, "dtype", r.dtype, kFile);
  get_field(j, "redop", r.redop, kFile);
  get_field(j, "root", r.root, kFile);
  get_field(j, "size_bytes", r.size_bytes, kFile);
  get_field(j, "count", r.count, kFile);
  get_field(j, "out_of_place", r.out_of_place, kFile);
  if (j.at("in_place").is_null()) {
    r.in_place.reset();
  } else {
    r.in_place = j["in_place"].get<CollectiveMeasurement>();
  }
}

void to_json(nlohmann::json& j, const CollectiveReport& r) {
  j = {{"schema", r.schema},
       {"tool_version", r.tool_version},
       {"status", r.status},
       {"started_utc", r.started_utc},
       {"finished_utc", r.finished_utc},
       {"library_version", r.library_version},
       {"mpi_library_version", r.mpi_library_version},
       {"launcher", r.launcher},
       {"world_size", r.world_size},
       {"node_count", r.node_count},
       {"ranks", r.ranks},
       {"params", r.params},
       {"method", r.method},
       {"rows", r.rows},
       {"summary", r.summary}};
}

void from_json(const nlohmann::json& j, CollectiveReport& r) {
  get_field(j, "schema", r.schema, kFile);
  get_field(j, "tool_version", r.tool_version, kFile);
  get_field(j, "status", r.status, kFile);
  get_field(j, "started_utc", r.started_utc, kFile);
  get_field(j, "finished_utc", r.finished_utc, kFile);
  get_field(j, "library_version", r.library_version, kFile);
  get_field(j, "mpi_library_version", r.mpi_library_version, kFile);
  get_field(j, "launcher", r.launcher, kFile);
  get_field(j, "world_size", r.world_size, kFile);
  get_field(j, "node_count", r.node_count, kFile);
  get_field(j, "ranks", r.ranks, kFile);
  get_field(j, "params", r.params, kFile);
  get_field(j, "method", r.method, kFile);
  get_field(j, "rows", r.rows, kFile);
  get_field(j, "summary", r.summary, kFile);
}

}  // namespace sxb
