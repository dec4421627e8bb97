#include "core/compute_results.hpp"

#include <limits>

namespace sxb {

namespace {

using nlohmann::json;

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json();
}

template <typename T>
void get_opt(const json& j, const char* key, std::optional<T>& v) {
  const json& x = j.at(key);
  v = x.is_null() ? std::nullopt : std::optional<T>(x.get<T>());
}

}  // namespace

SpecComparison compare_with_spec(double measured, const std::string& key,
                                 std::optional<double> value) {
  SpecComparison s;
  s.key = key;
  s.value = value;
  if (value && *value > 0) s.fraction = measured / *value;
  return s;
}

void to_json(json& j, const ComputeDevice& v) {
  j = {{"index", v.index},
       {"name", v.name},
       {"pci_bus_id", v.pci_bus_id},
       {"sm_count", v.sm_count},
       {"compute_capability", std::to_string(v.compute_capability_major) + "." +
                                  std::to_string(v.compute_capability_minor)},
       {"compute_capability_major", v.compute_capability_major},
       {"compute_capability_minor", v.compute_capability_minor},
       {"l2_bytes", v.l2_bytes},
       {"memory_bytes", v.memory_bytes},
       {"spec_id", v.spec_id}};
}

void from_json(const json& j, ComputeDevice& v) {
  j.at("index").get_to(v.index);
  j.at("name").get_to(v.name);
  j.at("pci_bus_id").get_to(v.pci_bus_id);
  j.at("sm_count").get_to(v.sm_count);
  j.at("compute_capability_major").get_to(v.compute_capability_major);
  j.at("compute_capability_minor").get_to(v.compute_capability_minor);
  j.at("l2_bytes").get_to(v.l2_bytes);
  j.at("memory_bytes").get_to(v.memory_bytes);
  j.at("spec_id").get_to(v.spec_id);
}

void to_json(json& j, const SpecComparison& v) {
  j = {{"key", v.key}, {"value", opt(v.value)}, {"fraction", opt(v.fraction)}};
}

void from_json(const json& j, SpecComparison& v) {
  j.at("key").get_to(v.key);
  get_opt(j, "value", v.value);
  get_opt(j, "fraction", v.fraction);
}

void to_json(json& j, const GemmResult& v) {
  j = {{"device", v.device},
       {"dtype", v.dtype},
       {"layout", v.layout},
       {"group", v.group},
       {"name", v.name},
       {"phase", v.phase},
       {"m", v.m},
       {"n", v.n},
       {"k", v.k},
       {"flop", v.flop},
       {"time_us_median", v.time_us_median},
       {"time_us_p10", v.time_us_p10},
       {"time_us_p90", v.time_us_p90},
       {"tflop_per_s", v.tflop_per_s},
       {"iters", v.iters},
       {"algos_tried", v.algos_tried},
       {"algo_rank", v.algo_rank},
       {"input_sets", v.input_sets},
       {"input_bytes_per_set", v.input_bytes_per_set},
       {"scale_pointers", v.scale_pointers},
       {"spec", v.spec}};
}

void from_json(const json& j, GemmResult& v) {
  j.at("device").get_to(v.device);
  j.at("dtype").get_to(v.dtype);
  j.at("layout").get_to(v.layout);
  j.at("group").get_to(v.group);
  j.at("name").get_to(v.name);
  j.at("phase").get_to(v.phase);
  j.at("m").get_to(v.m);
  j.at("n").get_to(v.n);
  j.at("k").get_to(v.k);
  j.at("flop").get_to(v.flop);
  j.at("time_us_median").get_to(v.time_us_median);
  j.at("time_us_p10").get_to(v.time_us_p10);
  j.at("time_us_p90").get_to(v.time_us_p90);
  j.at("tflop_per_s").get_to(v.tflop_per_s);
  j.at("iters").get_to(v.iters);
  j.at("algos_tried").get_to(v.algos_tried);
  j.at("algo_rank").get_to(v.algo_rank);
  j.at("input_sets").get_to(v.input_sets);
  j.at("input_bytes_per_set").get_to(v.input_bytes_per_set);
  j.at("scale_pointers").get_to(v.scale_pointers);
  j.at("spec").get_to(v.spec);
}

void to_json(json& j, const GemmCheck& v) {
  // JSON has no infinity: an error that is not finite (NaN in the output) is written as null.
  const bool finite = v.relative_error <= 1e300;
  j = {{"device", v.device},
       {"dtype", v.dtype},
       {"layout", v.layout},
       {"m", v.m},
       {"n", v.n},
       {"k", v.k},
       {"relative_error", finite ? json(v.relative_error) : json()},
       {"tolerance", v.tolerance},
       {"passed", v.passed},
       {"scale_pointers", v.scale_pointers}};
}

void from_json(const json& j, GemmCheck& v) {
  j.at("device").get_to(v.device);
  j.at("dtype").get_to(v.dtype);
  j.at("layout").get_to(v.layout);
  j.at("m").get_to(v.m);
  j.at("n").get_to(v.n);
  j.at("k").get_to(v.k);
  const json& e = j.at("relative_error");
  v.relative_error = e.is_null() ? std::numeric_limits<double>::infinity() : e.get<double>();
  j.at("tolerance").get_to(v.tolerance);
  j.at("passed").get_to(v.passed);
  j.at("scale_pointers").get_to(v.scale_pointers);
}

void to_json(json& j, const BandwidthResult& v) {
  j = {{"test", v.test},
       {"variant", v.variant},
       {"src_device", v.src_device},
       {"dst_device", v.dst_device},
       {"buffer_bytes", v.buffer_bytes},
       {"bytes_counted", v.bytes_counted},
       {"time_us_median", v.time_us_median},
       {"gb_per_s", v.gb_per_s},
       {"iters", v.iters},
       {"kernel", v.kernel},
       {"spec", v.spec}};
}

void from_json(const json& j, BandwidthResult& v) {
  j.at("test").get_to(v.test);
  j.at("variant").get_to(v.variant);
  j.at("src_device").get_to(v.src_device);
  j.at("dst_device").get_to(v.dst_device);
  j.at("buffer_bytes").get_to(v.buffer_bytes);
  j.at("bytes_counted").get_to(v.bytes_counted);
  j.at("time_us_median").get_to(v.time_us_median);
  j.at("gb_per_s").get_to(v.gb_per_s);
  j.at("iters").get_to(v.iters);
  j.at("kernel").get_to(v.kernel);
  j.at("spec").get_to(v.spec);
}

void to_json(json& j, const LatencyResult& v) {
  j = {{"test", v.test},
       {"variant", v.variant},
       {"src_device", v.src_device},
       {"dst_device", v.dst_device},
       {"bytes", v.bytes},
       {"latency_us", v.latency_us},
       {"iters", v.iters}};
}

void from_json(const json& j, LatencyResult& v) {
  j.at("test").get_to(v.test);
  j.at("variant").get_to(v.variant);
  j.at("src_device").get_to(v.src_device);
  j.at("dst_device").get_to(v.dst_device);
  j.at("bytes").get_to(v.bytes);
  j.at("latency_us").get_to(v.latency_us);
  j.at("iters").get_to(v.iters);
}

void to_json(json& j, const GpuLinkInfo& v) {
  j = {{"device", v.device},
       {"nvlink_active_links", opt(v.nvlink_active_links)},
       {"nvlink_links_to_switch", opt(v.nvlink_links_to_switch)},
       {"pcie_link_generation", opt(v.pcie_link_generation)},
       {"pcie_link_width", opt(v.pcie_link_width)},
       {"pcie_max_link_generation", opt(v.pcie_max_link_generation)},
       {"pcie_max_link_width", opt(v.pcie_max_link_width)}};
}

void from_json(const json& j, GpuLinkInfo& v) {
  j.at("device").get_to(v.device);
  get_opt(j, "nvlink_active_links", v.nvlink_active_links);
  get_opt(j, "nvlink_links_to_switch", v.nvlink_links_to_switch);
  get_opt(j, "pcie_link_generation", v.pcie_link_generation);
  get_opt(j, "pcie_link_width", v.pcie_link_width);
  get_opt(j, "pcie_max_link_generation", v.pcie_max_link_generation);
  get_opt(j, "pcie_max_link_width", v.pcie_max_link_width);
}

void to_json(json& j, const GpuPairLink& v) {
  j = {{"a", v.a},
       {"b", v.b},
       {"p2p_access", v.p2p_access},
       {"performance_rank", v.performance_rank},
       {"native_atomics", v.native_atomics},
       {"link", v.link},
       {"evidence", v.evidence}};
}

void from_json(const json& j, GpuPairLink& v) {
  j.at("a").get_to(v.a);
  j.at("b").get_to(v.b);
  j.at("p2p_access").get_to(v.p2p_access);
  j.at("performance_rank").get_to(v.performance_rank);
  j.at("native_atomics").get_to(v.native_atomics);
  j.at("link").get_to(v.link);
  j.at("evidence").get_to(v.evidence);
}

void to_json(json& j, const ComputeTopology& v) {
  j = {{"gpus", v.gpus}, {"pairs", v.pairs}, {"nvml", v.nvml}};
}

void from_json(const json& j, ComputeTopology& v) {
  j.at("gpus").get_to(v.gpus);
  j.at("pairs").get_to(v.pairs);
  j.at("nvml").get_to(v.nvml);
}

void to_json(json& j, const SkippedTest& v) {
  j = {{"test", v.test}, {"reason", v.reason}};
}

void from_json(const json& j, SkippedTest& v) {
  j.at("test").get_to(v.test);
  j.at("reason").get_to(v.reason);
}

void to_json(json& j, const ComputeReport& v) {
  j = {{"schema", v.schema},
       {"tool_version", v.tool_version},
       {"status", v.status},
       {"started_utc", v.started_utc},
       {"finished_utc", v.finished_utc},
       {"argv", v.argv},
       {"cuda_runtime_version", v.cuda_runtime_version},
       {"cuda_driver_version", v.cuda_driver_version},
       {"cublaslt_version", v.cublaslt_version},
       {"spec_source", v.spec_source},
       {"devices", v.devices},
       {"params", v.params},
       {"methods", v.methods},
       {"tests", v.tests},
       {"gemm_checks", v.gemm_checks},
       {"gemm", v.gemm},
       {"bandwidth", v.bandwidth},
       {"latency", v.latency},
       {"topology", v.topology ? json(*v.topology) : json()},
       {"skipped", v.skipped}};
}

void from_json(const json& j, ComputeReport& v) {
  j.at("schema").get_to(v.schema);
  j.at("tool_version").get_to(v.tool_version);
  j.at("status").get_to(v.status);
  j.at("started_utc").get_to(v.started_utc);
  j.at("finished_utc").get_to(v.finished_utc);
  j.at("argv").get_to(v.argv);
  j.at("cuda_runtime_version").get_to(v.cuda_runtime_version);
  j.at("cuda_driver_version").get_to(v.cuda_driver_version);
  j.at("cublaslt_version").get_to(v.cublaslt_version);
  j.at("spec_source").get_to(v.spec_source);
  j.at("devices").get_to(v.devices);
  v.params = j.at("params");
  v.methods = j.at("methods");
  j.at("tests").get_to(v.tests);
  j.at("gemm_checks").get_to(v.gemm_checks);
  j.at("gemm").get_to(v.gemm);
  j.at("bandwidth").get_to(v.bandwidth);
  j.at("latency").get_to(v.latency);
  get_opt(j, "topology", v.topology);
  j.at("skipped").get_to(v.skipped);
}

}  // namespace sxb
