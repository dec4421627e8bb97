#include "core/error.hpp"

#include <algorithm>

namespace sxb {

namespace {
// Keep every error on one line: embedded newlines from library messages become "; ".
std::string one_line(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}
}  // namespace

Error::Error(const std::string& message, ExitCode code)
    : std::runtime_error(one_line(message)), code_(code) {}

}  // namespace sxb
