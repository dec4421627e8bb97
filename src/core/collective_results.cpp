#include "core/collective_results.hpp"

namespace sxb {

void to_json(nlohmann::json& j, const CollectiveMeasurement& m) {
  j = {{"time_us", m.time_us},
       {"algbw_gb_per_s", m.algbw_gb_per_s},
       {"busbw_gb_per_s", m.busbw_gb_per_s},
       {"wrong", m.wrong ? nlohmann::json(*m.wrong) : nlohmann::json()}};
}

void from_json(const nlohmann::json& j, CollectiveMeasurement& m) {
  j.at("time_us").get_to(m.time_us);
  j.at("algbw_gb_per_s").get_to(m.algbw_gb_per_s);
  j.at("busbw_gb_per_s").get_to(m.busbw_gb_per_s);
  m.wrong = j.at("wrong").is_null() ? std::nullopt : std::optional<int64_t>(j["wrong"].get<int64_t>());
}

void to_json(nlohmann::json& j, const CollectiveRow& r) {
  j = {{"op", r.op},       {"dtype", r.dtype}, {"redop", r.redop},
       {"root", r.root},   {"size_bytes", r.size_bytes}, {"count", r.count},
       {"out_of_place", r.out_of_place},
       {"in_place", r.in_place ? nlohmann::json(*r.in_place) : nlohmann::json()}};
}

void from_json(const nlohmann::json& j, CollectiveRow& r) {
  j.at("op").get_to(r.op);
  j.at("dtype").get_to(r.dtype);
  j.at("redop").get_to(r.redop);
  j.at("root").get_to(r.root);
  j.at("size_bytes").get_to(r.size_bytes);
  j.at("count").get_to(r.count);
  j.at("out_of_place").get_to(r.out_of_place);
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
  j.at("schema").get_to(r.schema);
  j.at("tool_version").get_to(r.tool_version);
  j.at("status").get_to(r.status);
  j.at("started_utc").get_to(r.started_utc);
  j.at("finished_utc").get_to(r.finished_utc);
  j.at("library_version").get_to(r.library_version);
  j.at("mpi_library_version").get_to(r.mpi_library_version);
  j.at("launcher").get_to(r.launcher);
  j.at("world_size").get_to(r.world_size);
  j.at("node_count").get_to(r.node_count);
  j.at("ranks").get_to(r.ranks);
  j.at("params").get_to(r.params);
  j.at("method").get_to(r.method);
  j.at("rows").get_to(r.rows);
  j.at("summary").get_to(r.summary);
}

}  // namespace sxb
