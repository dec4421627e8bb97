#pragma once
// The message of the sxb::Error a call throws, or "(nothing thrown)": for tests that check what a
// refusal says.
#include <functional>
#include <string>

#include "core/error.hpp"

namespace sxb {

inline std::string thrown(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace sxb
