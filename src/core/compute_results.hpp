#pragma once
// Results of `sxbench compute` (compute.json). Units are in the field names: time in
// microseconds, rates in TFLOP/s (1e12 floating-point operations per second), bandwidth in GB/s
// (1e9 bytes per second). A figure compared with the datasheet carries the spec figure, its key
// in configs/hardware and the fraction measured/spec; those are null when no spec matched.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

struct ComputeDevice {
  int index = 0;
  std::string name;
  std::string pci_bus_id;
  int sm_count = 0;
  int compute_capability_major = 0, compute_capability_minor = 0;
  uint64_t l2_bytes = 0;
  uint64_t memory_bytes = 0;
  std::string spec_id;  // configs/hardware file stem, "" when no spec matched the name
};

// How a figure compares with the datasheet.
struct SpecComparison {
  std::string key;              // e.g. "dense_bf16_tflops"; "" when there is no comparable figure
  std::optional<double> value;  // the datasheet figure, in the unit of the measured figure
  std::optional<double> fraction;  // measured / value
};

struct GemmResult {
  int device = 0;
  std::string dtype;   // bf16, fp16, tf32, fp8_e4m3
  std::string layout;  // tn or nn (see bench/gemm_shapes.hpp)
  std::string group;   // "square", "llama2-7b", ...
  std::string name;    // "8192", "qkv", "mlp_down", ...
  std::string phase;   // "fwd", "dgrad", "wgrad" ("-" for square)
  int64_t m = 0, n = 0, k = 0;
  double flop = 0;            // 2*m*n*k
  double time_us_median = 0;  // median over the timed runs
  double time_us_p10 = 0, time_us_p90 = 0;
  double tflop_per_s = 0;  // flop / median time
  int iters = 0;
  int algos_tried = 0;  // cuBLASLt heuristic candidates timed
  int algo_rank = 0;    // 0-based rank in the heuristic list of the fastest candidate
  int input_sets = 0;   // distinct A/B pairs rotated through
  uint64_t input_bytes_per_set = 0;
  bool scale_pointers = false;  // fp8: per-tensor scales by device pointer; false: unit scales
  SpecComparison spec;
};

// A small product compared with a float64 CPU reference of the same (quantised) inputs.
struct GemmCheck {
  int device = 0;
  std::string dtype;
  std::string layout;
  int64_t m = 0, n = 0, k = 0;
  double relative_error = 0;  // ||out - ref||_F / ||ref||_F; NaN anywhere makes it infinite
  double tolerance = 0;
  bool passed = false;
  bool scale_pointers = false;  // fp8: as GemmResult::scale_pointers
};

// One bandwidth figure: HBM kernels, host links, GPU-to-GPU.
struct BandwidthResult {
  std::string test;     // hbm, h2d, d2h, p2p
  std::string variant;  // copy, read, write, memcpy, ce_unidir, ce_bidir, sm_unidir, sm_bidir
  int src_device = -1;  // -1: host memory
  int dst_device = -1;
  uint64_t buffer_bytes = 0;   // size of one transfer / buffer
  uint64_t bytes_counted = 0;  // bytes per timed operation that the bandwidth is computed from
  double time_us_median = 0;
  double gb_per_s = 0;  // bytes_counted / median time
  int iters = 0;
  std::string kernel;  // launch shape or copy call that produced the figure
  SpecComparison spec;
};

struct LatencyResult {
  std::string test;     // hbm or p2p
  std::string variant;  // sm_pointer_chase, ce_small_copy
  int src_device = 0;   // the GPU that issues the access or the copy
  int dst_device = 0;   // the GPU whose memory is read / written
  uint64_t bytes = 0;   // footprint of the chase or size of the copy
  double latency_us = 0;
  int iters = 0;
};

struct GpuLinkInfo {
  int device = 0;
  std::optional<int> nvlink_active_links;     // NVML; null when NVML is unavailable
  std::optional<int> nvlink_links_to_switch;  // of the active links, those that end at an NVSwitch
  std::optional<int> pcie_link_generation;    // current generation
  std::optional<int> pcie_link_width;         // current lanes
  std::optional<int> pcie_max_link_generation;
  std::optional<int> pcie_max_link_width;
};

struct GpuPairLink {
  int a = 0, b = 0;
  bool p2p_access = false;      // cudaDeviceCanAccessPeer(a, b)
  int performance_rank = 0;     // cudaDevP2PAttrPerformanceRank (lower is faster)
  bool native_atomics = false;  // cudaDevP2PAttrNativeAtomicSupported
  std::string link;             // nvlink, pcie or none
  std::string evidence;         // how `link` was decided
};

struct ComputeTopology {
  std::vector<GpuLinkInfo> gpus;
  std::vector<GpuPairLink> pairs;
  std::string nvml;  // "ok" or why NVML gave nothing
};

struct SkippedTest {
  std::string test;
  std::string reason;
};

// One attention shape of the `attention` test: causal, bf16; window 0 = no sliding window.
struct AttentionBenchShape {
  std::string label;  // where the shape comes from ("Llama-2-7B", a model id, "--attention-shapes")
  int64_t batch = 1, heads = 0, kv_heads = 0, seq = 0, head_dim = 0, window = 0;
};

// The training engine's attention kernel timed at one shape, one direction.
struct AttentionResult {
  int device = 0;
  AttentionBenchShape shape;
  std::string kernel;     // "sm90" (wgmma, TMA) or "mma" (mma.sync)
  bool engine_default = false;  // the kernel the engine's automatic choice runs at this shape
  std::string direction;  // "forward" or "backward"
  double flop = 0;        // FlashAttention's count (see attention_flop)
  double time_us_median = 0;
  double time_us_p10 = 0, time_us_p90 = 0;
  double tflop_per_s = 0;  // flop / median time
  int iters = 0;
};

// A small attention forward and backward compared with a float64 CPU reference of the same
// (bf16) inputs; relative_error is the largest of the outputs' ||out - ref|| / ||ref||.
struct AttentionCheck {
  int device = 0;
  std::string kernel;
  AttentionBenchShape shape;
  double error_out = 0, error_dq = 0, error_dk = 0, error_dv = 0;
  double relative_error = 0;  // NaN anywhere makes it infinite (null in JSON)
  double tolerance = 0;
  bool passed = false;
};

// FlashAttention's FLOP count for a causal attention pass: the forward is 4 * B * H * hd * P
// with P = T^2 / 2 visible (query, key) pairs, and with a window W < T the band's area
// W * T - W^2 / 2 in the same continuous count; the backward is 2.5 times the forward.
double attention_flop(const AttentionBenchShape& s, bool backward);

struct ComputeReport {
  std::string schema = "sxbench.compute/1";
  std::string tool_version;
  std::string status;  // "complete", "partial" or "failed"
  std::string started_utc, finished_utc;
  std::vector<std::string> argv;
  std::string cuda_runtime_version, cuda_driver_version, cublaslt_version;
  std::string spec_source;  // path of the configs/hardware directory, or why none was loaded
  std::vector<ComputeDevice> devices;
  nlohmann::json params;           // the options the run used
  nlohmann::json methods;          // test name -> how its figures were measured
  std::vector<std::string> tests;  // tests run, in order
  std::vector<GemmCheck> gemm_checks;
  std::vector<GemmResult> gemm;
  std::vector<BandwidthResult> bandwidth;
  std::vector<LatencyResult> latency;
  std::vector<AttentionCheck> attention_checks;  // absent from files written before the test
  std::vector<AttentionResult> attention;
  std::optional<ComputeTopology> topology;
  std::vector<SkippedTest> skipped;
};

void to_json(nlohmann::json& j, const ComputeDevice& v);
void from_json(const nlohmann::json& j, ComputeDevice& v);
void to_json(nlohmann::json& j, const SpecComparison& v);
void from_json(const nlohmann::json& j, SpecComparison& v);
void to_json(nlohmann::json& j, const GemmResult& v);
void from_json(const nlohmann::json& j, GemmResult& v);
void to_json(nlohmann::json& j, const GemmCheck& v);
void from_json(const nlohmann::json& j, GemmCheck& v);
void to_json(nlohmann::json& j, const BandwidthResult& v);
void from_json(const nlohmann::json& j, BandwidthResult& v);
void to_json(nlohmann::json& j, const LatencyResult& v);
void from_json(const nlohmann::json& j, LatencyResult& v);
void to_json(nlohmann::json& j, const GpuLinkInfo& v);
void from_json(const nlohmann::json& j, GpuLinkInfo& v);
void to_json(nlohmann::json& j, const GpuPairLink& v);
void from_json(const nlohmann::json& j, GpuPairLink& v);
void to_json(nlohmann::json& j, const ComputeTopology& v);
void from_json(const nlohmann::json& j, ComputeTopology& v);
void to_json(nlohmann::json& j, const SkippedTest& v);
void from_json(const nlohmann::json& j, SkippedTest& v);
void to_json(nlohmann::json& j, const AttentionBenchShape& v);
void from_json(const nlohmann::json& j, AttentionBenchShape& v);
void to_json(nlohmann::json& j, const AttentionResult& v);
void from_json(const nlohmann::json& j, AttentionResult& v);
void to_json(nlohmann::json& j, const AttentionCheck& v);
void from_json(const nlohmann::json& j, AttentionCheck& v);
void to_json(nlohmann::json& j, const ComputeReport& v);
void from_json(const nlohmann::json& j, ComputeReport& v);

// The datasheet comparison of `measured` against spec figure `value` (fraction when value > 0).
SpecComparison compare_with_spec(double measured, const std::string& key,
                                 std::optional<double> value);

}  // namespace sxb
