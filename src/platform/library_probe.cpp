#include "platform/library_probe.hpp"

#include <dlfcn.h>

namespace sxb {

LibraryProbe probe_library(const std::string& name, const std::vector<std::string>& symbols) {
  LibraryProbe p;
  ::dlerror();
  void* h = ::dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = ::dlerror();
    p.error = e != nullptr ? e : "dlopen failed";
    return p;
  }
  p.loaded = true;
  for (const auto& s : symbols) {
    if (::dlsym(h, s.c_str()) != nullptr) p.exported.push_back(s);
  }
  ::dlclose(h);
  return p;
}

}  // namespace sxb
