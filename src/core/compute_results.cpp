#include "core/compute_results.hpp"

#include "core/result_schema.hpp"

#include <limits>

namespace sxb {

namespace {
constexpr std::string_view kFile = "compute.json";
}  // namespace

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
  get_field(j, "index", v.index, kFile);
  get_field(j, "name", v.name, kFile);
  get_field(j, "pci_bus_id", v.pci_bus_id, kFile);
  get_field(j, "sm_count", v.sm_count, kFile);
  get_field(j, "compute_capability_major", v.compute_capability_major, kFile);
  get_field(j, "compute_capability_minor", v.compute_capability_minor, kFile);
  get_field(j, "l2_bytes", v.l2_bytes, kFile);
  get_field(j, "memory_bytes", v.memory_bytes, kFile);
  get_field(j, "spec_id", v.spec_id, kFile);
}

void to_json(json& j, const SpecComparison& v) {
  j = {{"key", v.key}, {"value", opt(v.value)}, {"fraction", opt(v.fraction)}};
}

void from_json(const json& j, SpecComparison& v) {
  get_field(j, "key", v.key, kFile);
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
  get_field(j, "device", v.device, kFile);
  get_field(j, "dtype", v.dtype, kFile);
  get_field(j, "layout", v.layout, kFile);
  get_field(j, "group", v.group, kFile);
  get_field(j, "name", v.name, kFile);
  get_field(j, "phase", v.phase, kFile);
  get_field(j, "m", v.m, kFile);
  get_field(j, "n", v.n, kFile);
  get_field(j, "k", v.k, kFile);
  get_field(j, "flop", v.flop, kFile);
  get_field(j, "time_us_median", v.time_us_median, kFile);
  get_field(j, "time_us_p10", v.time_us_p10, kFile);
  get_field(j, "time_us_p90", v.time_us_p90, kFile);
  get_field(j, "tflop_per_s", v.tflop_per_s, kFile);
  get_field(j, "iters", v.iters, kFile);
  get_field(j, "algos_tried", v.algos_tried, kFile);
  get_field(j, "algo_rank", v.algo_rank, kFile);
  get_field(j, "input_sets", v.input_sets, kFile);
  get_field(j, "input_bytes_per_set", v.input_bytes_per_set, kFile);
  get_field(j, "scale_pointers", v.scale_pointers, kFile);
  get_field(j, "spec", v.spec, kFile);
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
  get_field(j, "device", v.device, kFile);
  get_field(j, "dtype", v.dtype, kFile);
  get_field(j, "layout", v.layout, kFile);
  get_field(j, "m", v.m, kFile);
  get_field(j, "n", v.n, kFile);
  get_field(j, "k", v.k, kFile);
  const json& e = j.at("relative_error");
  v.relative_error = e.is_null() ? std::numeric_limits<double>::infinity() : e.get<double>();
  get_field(j, "tolerance", v.tolerance, kFile);
  get_field(j, "passed", v.passed, kFile);
  get_field(j, "scale_pointers", v.scale_pointers, kFile);
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
  get_field(j, "test", v.test, kFile);
  get_field(j, "variant", v.variant, kFile);
  get_field(j, "src_device", v.src_device, kFile);
  get_field(j, "dst_device", v.dst_device, kFile);
  get_field(j, "buffer_bytes", v.buffer_bytes, kFile);
  get_field(j, "bytes_counted", v.bytes_counted, kFile);
  get_field(j, "time_us_median", v.time_us_median, kFile);
  get_field(j, "gb_per_s", v.gb_per_s, kFile);
  get_field(j, "iters", v.iters, kFile);
  get_field(j, "kernel", v.kernel, kFile);
  get_field(j, "spec", v.spec, kFile);
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
  get_field(j, "test", v.test, kFile);
  get_field(j, "variant", v.variant, kFile);
  get_field(j, "src_device", v.src_device, kFile);
  get_field(j, "dst_device", v.dst_device, kFile);
  get_field(j, "bytes", v.bytes, kFile);
  get_field(j, "latency_us", v.latency_us, kFile);
  get_field(j, "iters", v.iters, kFile);
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
  get_field(j, "device", v.device, kFile);
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
  get_field(j, "a", v.a, kFile);
  get_field(j, "b", v.b, kFile);
  get_field(j, "p2p_access", v.p2p_access, kFile);
  get_field(j, "performance_rank", v.performance_rank, kFile);
  get_field(j, "native_atomics", v.native_atomics, kFile);
  get_field(j, "link", v.link, kFile);
  get_field(j, "evidence", v.evidence, kFile);
}

void to_json(json& j, const ComputeTopology& v) {
  j = {{"gpus", v.gpus}, {"pairs", v.pairs}, {"nvml", v.nvml}};
}

void from_json(const json& j, ComputeTopology& v) {
  get_field(j, "gpus", v.gpus, kFile);
  get_field(j, "pairs", v.pairs, kFile);
  get_field(j, "nvml", v.nvml, kFile);
}

void to_json(json& j, const SkippedTest& v) {
  j = {{"test", v.test}, {"reason", v.reason}};
}

void from_json(const json& j, SkippedTest& v) {
  get_field(j, "test", v.test, kFile);
  get_field(j, "reason", v.reason, kFile);
}

double attention_flop(const AttentionBenchShape& s, bool backward) {
  const double T = double(s.seq), W = double(s.window);
  const double pairs = s.window > 0 && s.window < s.seq ? W * T - W * W / 2 : T * T / 2;
  const double forward = 4.0 * double(s.batch) * double(s.heads) * double(s.head_dim) * pairs;
  return backward ? 2.5 * forward : forward;
}

void to_json(json& j, const AttentionBenchShape& v) {
  j = {{"label", v.label},       {"batch", v.batch}, {"heads", v.heads},
       {"kv_heads", v.kv_heads}, {"seq", v.seq},     {"head_dim", v.head_dim},
       {"window", v.window}};
}

void from_json(const json& j, AttentionBenchShape& v) {
  get_field(j, "label", v.label, kFile);
  get_field(j, "batch", v.batch, kFile);
  get_field(j, "heads", v.heads, kFile);
  get_field(j, "kv_heads", v.kv_heads, kFile);
  get_field(j, "seq", v.seq, kFile);
  get_field(j, "head_dim", v.head_dim, kFile);
  get_field(j, "window", v.window, kFile);
}

void to_json(json& j, const AttentionResult& v) {
  j = {{"device", v.device},
       {"shape", v.shape},
       {"kernel", v.kernel},
       {"engine_default", v.engine_default},
       {"direction", v.direction},
       {"flop", v.flop},
       {"time_us_median", v.time_us_median},
       {"time_us_p10", v.time_us_p10},
       {"time_us_p90", v.time_us_p90},
       {"tflop_per_s", v.tflop_per_s},
       {"iters", v.iters}};
}

void from_json(const json& j, AttentionResult& v) {
  get_field(j, "device", v.device, kFile);
  get_field(j, "shape", v.shape, kFile);
  get_field(j, "kernel", v.kernel, kFile);
  get_field(j, "engine_default", v.engine_default, kFile);
  get_field(j, "direction", v.direction, kFile);
  get_field(j, "flop", v.flop, kFile);
  get_field(j, "time_us_median", v.time_us_median, kFile);
  get_field(j, "time_us_p10", v.time_us_p10, kFile);
  get_field(j, "time_us_p90", v.time_us_p90, kFile);
  get_field(j, "tflop_per_s", v.tflop_per_s, kFile);
  get_field(j, "iters", v.iters, kFile);
}

void to_json(json& j, const AttentionCheck& v) {
  // As GemmCheck: an error that is not finite is written as null.
  const auto err = [](double e) { return e <= 1e300 ? json(e) : json(); };
  j = {{"device", v.device},
       {"kernel", v.kernel},
       {"shape", v.shape},
       {"error_out", err(v.error_out)},
       {"error_dq", err(v.error_dq)},
       {"error_dk", err(v.error_dk)},
       {"error_dv", err(v.error_dv)},
       {"relative_error", err(v.relative_error)},
       {"tolerance", v.tolerance},
       {"passed", v.passed}};
}

void from_json(const json& j, AttentionCheck& v) {
  const auto err = [&](const char* key) {
    const json& e = j.at(key);
    return e.is_null() ? std::numeric_limits<double>::infinity() : e.get<double>();
  };
  get_field(j, "device", v.device, kFile);
  get_field(j, "kernel", v.kernel, kFile);
  get_field(j, "shape", v.shape, kFile);
  v.error_out = err("error_out");
  v.error_dq = err("error_dq");
  v.error_dk = err("error_dk");
  v.error_dv = err("error_dv");
  v.relative_error = err("relative_error");
  get_field(j, "tolerance", v.tolerance, kFile);
  get_field(j, "passed", v.passed, kFile);
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
       {"attention_checks", v.attention_checks},
       {"attention", v.attention},
       {"topology", v.topology ? json(*v.topology) : json()},
       {"skipped", v.skipped}};
}

void from_json(const json& j, ComputeReport& v) {
  get_field(j, "schema", v.schema, kFile);
  get_field(j, "tool_version", v.tool_version, kFile);
  get_field(j, "status", v.status, kFile);
  get_field(j, "started_utc", v.started_utc, kFile);
  get_field(j, "finished_utc", v.finished_utc, kFile);
  get_field(j, "argv", v.argv, kFile);
  get_field(j, "cuda_runtime_version", v.cuda_runtime_version, kFile);
  get_field(j, "cuda_driver_version", v.cuda_driver_version, kFile);
  get_field(j, "cublaslt_version", v.cublaslt_version, kFile);
  get_field(j, "spec_source", v.spec_source, kFile);
  get_field(j, "devices", v.devices, kFile);
  v.params = j.at("params");
  v.methods = j.at("methods");
  get_field(j, "tests", v.tests, kFile);
  get_field(j, "gemm_checks", v.gemm_checks, kFile);
  get_field(j, "gemm", v.gemm, kFile);
  get_field(j, "bandwidth", v.bandwidth, kFile);
  get_field(j, "latency", v.latency, kFile);
  // Files written before the attention test have neither key.
  if (j.contains("attention_checks")) get_field(j, "attention_checks", v.attention_checks, kFile);
  if (j.contains("attention")) get_field(j, "attention", v.attention, kFile);
  get_opt(j, "topology", v.topology);
  get_field(j, "skipped", v.skipped, kFile);
}

}  // namespace sxb
