#include "ir/attr.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/error.h"

namespace mc::ir {

namespace {
[[noreturn]] void bad(const std::string& k, const char* want) {
  throw Error("attribute '" + k + "' is missing or not " + want);
}
template <typename T>
const T& get(const std::map<std::string, Attr>& m, const std::string& k, const char* want) {
  auto it = m.find(k);
  if (it == m.end()) bad(k, want);
  const T* p = std::get_if<T>(&it->second);
  if (!p) bad(k, want);
  return *p;
}

std::string float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Shortest form that reads back to the same double.
  for (int prec = 1; prec <= 17; ++prec) {
    char b2[64];
    std::snprintf(b2, sizeof b2, "%.*g", prec, v);
    if (std::strtod(b2, nullptr) == v) {
      std::snprintf(buf, sizeof buf, "%s", b2);
      break;
    }
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

int64_t Attrs::i(const std::string& k) const { return get<int64_t>(map_, k, "an integer"); }
double Attrs::f(const std::string& k) const {
  auto it = map_.find(k);
  if (it != map_.end()) {
    if (auto p = std::get_if<double>(&it->second)) return *p;
    if (auto p = std::get_if<int64_t>(&it->second)) return static_cast<double>(*p);
  }
  bad(k, "a number");
}
const std::string& Attrs::s(const std::string& k) const { return get<std::string>(map_, k, "a string"); }
const std::vector<int64_t>& Attrs::is(const std::string& k) const {
  return get<std::vector<int64_t>>(map_, k, "an integer list");
}
std::vector<double> Attrs::fs(const std::string& k) const {
  auto it = map_.find(k);
  if (it != map_.end()) {
    if (auto p = std::get_if<std::vector<double>>(&it->second)) return *p;
    if (auto p = std::get_if<std::vector<int64_t>>(&it->second)) return {p->begin(), p->end()};
  }
  bad(k, "a number list");
}

std::string attr_str(const Attr& a) {
  std::ostringstream os;
  if (auto p = std::get_if<int64_t>(&a)) {
    os << *p;
  } else if (auto p = std::get_if<double>(&a)) {
    os << float_str(*p);
  } else if (auto p = std::get_if<std::string>(&a)) {
    os << '"';
    for (char c : *p) {
      if (c == '"' || c == '\\') os << '\\';
      os << c;
    }
    os << '"';
  } else if (auto p = std::get_if<std::vector<int64_t>>(&a)) {
    os << '[';
    for (size_t i = 0; i < p->size(); ++i) os << (i ? "," : "") << (*p)[i];
    os << ']';
  } else if (auto p = std::get_if<std::vector<double>>(&a)) {
    os << '[';
    for (size_t i = 0; i < p->size(); ++i) os << (i ? "," : "") << float_str((*p)[i]);
    os << ']';
  }
  return os.str();
}

}  // namespace mc::ir
