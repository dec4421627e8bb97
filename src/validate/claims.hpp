#pragma once
// Claims files: figures someone states about a cluster (a vendor deck, an earlier report), checked
// against physical limits (impossible above them) and against the best published records
// (configs/records: implausible, a warning, above them). Format (schema sxbench.claims/1):
//   {"source": "...", "cluster": {"gpu": "h200_sxm", "gpus_per_node": 8, "nic": "nic_400gbe",
//    "nic_ports_per_node": 2},
//    "claims": [{"id": "...", "kind": KIND, "value": X, ...}]}
// Kinds and their extra fields:
//   training_samples_per_s   model, nodes, tokens_per_sample   (model FLOPs vs peak, MFU record)
//   training_tokens_per_s    model, nodes, seq_len             (same check)
//     both take an optional precision (bf16 default, fp8): the peak and the record compared with
//   energy_per_token_joules  model, nodes, seq_len, watts_per_gpu (W vs board limit, then
//                                                              tokens/s = GPUs x W / J)
//   time_to_train_hours      model, nodes, seq_len, tokens     (tokens/s = tokens / (h x 3600))
//   gemm_tflops, attention_tflops  dtype                       (vs dense peak of dtype, record)
//   hbm_bandwidth_gb_per_s                                     (vs datasheet HBM rate, record)
//   gpu_power_watts                                            (vs the board limit)
//   collective_busbw_gb_per_s op, nodes                        (one node: NVLink x the op's
//                                   ceiling, record; more: ports x NIC rate x the op's ceiling)
//   node_network_gbit_per_s  nodes                             (vs ports x line rate per node)
//   gpu_utilization_percent                                    (0..100)
//   scaling_efficiency_percent nodes                           (> 100 is superlinear: warning)
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/hardware.hpp"
#include "model/model_shape.hpp"
#include "validate/findings.hpp"

namespace sxb {

using ModelResolver = std::function<ModelShape(const std::string& model)>;

// Throws sxb::Error (one line, naming `source` (the file), the claim and the key) on a malformed
// claims file: a field of the wrong type, a count that is not an integer from 1 (nodes up to
// 100000, tokens up to 2^24), a rate below 0 or a value that is not finite.
std::vector<Finding> validate_claims(const nlohmann::json& claims,
                                     const std::vector<HardwareSpec>& specs,
                                     const ModelResolver& resolve_model,
                                     std::string_view source = "claims",
                                     const std::vector<Record>& records = {});

}  // namespace sxb
