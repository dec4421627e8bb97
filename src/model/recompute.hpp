#pragma once
// Activation recomputation modes, shared by the training engine, the memory plan and the
// performance model.
#include <string>

namespace sxb {

enum class Recompute { none, selective, full };
std::string recompute_name(Recompute r);

}  // namespace sxb
