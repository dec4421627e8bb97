#pragma once
// Claims files: figures someone states about a cluster (a vendor deck, an earlier report), checked
// against physical limits. Format (schema sxbench.claims/1):
//   {"source": "...", "cluster": {"gpu": "h200_sxm", "gpus_per_node": 8, "nic": "nic_400gbe",
//    "nic_ports_per_node": 2},
//    "claims": [{"id": "...", "kind": KIND, "value": X, ...}]}
// Kinds and their extra fields:
//   training_samples_per_s   model, nodes, tokens_per_sample   (model FLOPs vs peak bf16)
//   training_tokens_per_s    model, nodes, seq_len             (same check)
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
                                     std::string_view source = "claims");

}  // namespace sxb
