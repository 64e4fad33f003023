// Number formatting shared by the report writers.
#include "report/format.h"

#include <cstdio>

namespace mc::report {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string percent(const std::optional<double>& v) { return v ? fmt("%.2f%%", *v * 100.0) : "-"; }

std::string ms(double v) { return v >= 100 ? fmt("%.1f", v) : v >= 1 ? fmt("%.2f", v) : fmt("%.3f", v); }

std::string seconds(double s) {
  if (s < 60) return fmt("%.1f s", s);
  int total = static_cast<int>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%dm %02ds", total / 60, total % 60);
  return buf;
}

}  // namespace mc::report
