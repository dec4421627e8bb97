#pragma once
// Whether a shared library can be loaded the way a program loads a plugin (dlopen by name through
// the library search path, or by path), and which of some symbols it exports.
#include <string>
#include <vector>

namespace sxb {

struct LibraryProbe {
  bool loaded = false;
  std::string error;                  // dlerror() when not loaded
  std::vector<std::string> exported;  // the asked-for symbols it has, in the order asked
};

LibraryProbe probe_library(const std::string& name, const std::vector<std::string>& symbols);

}  // namespace sxb
