#include "common/registry.h"

#include "common/error.h"

namespace mc {

std::string call_site(const char* file, int line) {
  std::string f = file ? file : "?";
  size_t cut = f.rfind('/');
  if (cut != std::string::npos && cut > 0) cut = f.rfind('/', cut - 1);
  return (cut == std::string::npos ? f : f.substr(cut + 1)) + ":" + std::to_string(line);
}

void Registrants::claim(const std::string& name, const std::string& where) {
  auto [it, added] = where_.emplace(name, where);
  if (!added)
    throw Error(kind_ + " '" + name + "' is registered twice (first at " + it->second + ", again at " + where +
                "): give the new one another name or remove one registration");
}

}  // namespace mc
