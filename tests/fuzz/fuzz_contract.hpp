#pragma once
// The contract every fuzz target checks: untrusted input either parses or throws sxb::Error
// with a one-line, non-empty message. Anything else (another exception type, a message with a
// line break, a crash, a sanitizer report, a leak, a hang) aborts the fuzzer, which scripts/fuzz.sh
// reports as a failure with the input that caused it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace sxb::fuzz {

[[noreturn]] inline void contract_broken(const char* what, const std::string& message) {
  std::fprintf(stderr, "fuzz contract broken: %s: %s\n", what, message.c_str());
  std::abort();
}

// Runs f; returns true when it returned, false when it threw a well-formed sxb::Error.
template <class F>
bool parses(F&& f) {
  try {
    f();
    return true;
  } catch (const sxb::Error& e) {
    const std::string m = e.what();
    if (m.empty()) contract_broken("sxb::Error with an empty message", m);
    if (m.find('\n') != std::string::npos || m.find('\r') != std::string::npos) {
      contract_broken("sxb::Error message spans lines", m);
    }
    return false;
  } catch (const std::exception& e) {
    contract_broken("exception other than sxb::Error", e.what());
  } catch (...) {
    contract_broken("non-standard exception", "");
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace sxb::fuzz
