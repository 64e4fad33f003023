// Number formatting shared by the report writers (Markdown, HTML): printf-style numbers,
// percentages, milliseconds and durations as people read them.
#pragma once
#include <optional>
#include <string>

namespace mc::report {

/// snprintf(f, v) as a string: fmt("%.2f", 1.234) == "1.23".
std::string fmt(const char* f, double v);
/// A fraction as a percentage with two decimals ("91.23%"); "-" when absent.
std::string percent(const std::optional<double>& v);
/// Milliseconds with 3 significant digits or more ("0.642", "17.47", "123.4").
std::string ms(double v);
/// A duration: "12.3 s" under a minute, else "4m 05s".
std::string seconds(double s);

}  // namespace mc::report
