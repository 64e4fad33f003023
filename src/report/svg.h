// A small SVG chart writer for the HTML reports: grouped bar charts, line charts and scatter plots,
// each with axes, "nice" ticks (1/2/5 x 10^k), axis labels, a legend and a native tooltip (<title>)
// on every mark. The output is one standalone <svg> element (no scripts, no external resources)
// to inline in an HTML page; every piece of text is escaped.
//
// Marks carry classes, so a page can be checked by counting them per chart id:
//   <rect class="bar">, <circle class="point">, <polyline class="line">.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mc::report::svg {

/// Text for HTML/SVG content and attribute values: & < > " ' as entities.
std::string escape(const std::string& text);

/// The chart as a whole. `width` is a minimum: a bar chart widens to give every bar room.
struct Frame {
  std::string id;     // the <svg> element's id attribute
  std::string title;  // drawn above the plot area
  int width = 640, height = 300;
};

struct Axis {
  std::string label;
  /// Tick and tooltip text of a value; empty: up to 4 significant digits ("%.4g").
  std::function<std::string(double)> format;
  /// Fixed ends; unset ends come from the data, widened to the next tick (bars always include 0).
  std::optional<double> min, max;
};

/// Grouped bars: one group per category, one bar per series; a missing value draws no bar.
struct BarSeries {
  std::string name;
  std::vector<std::optional<double>> values;  // one per category
};
std::string bar_chart(const Frame& frame, const std::vector<std::string>& categories,
                      const std::vector<BarSeries>& series, const Axis& y);

/// Lines through (x[i], y[i]) with a point at each; the series' points are drawn in the given order.
struct LineSeries {
  std::string name;
  std::vector<double> x, y;
};
std::string line_chart(const Frame& frame, const std::vector<LineSeries>& series, const Axis& x, const Axis& y);

/// Points with a text label beside each; `highlight` draws a ring around it (e.g. a Pareto front),
/// `connect` joins the series' points in order of x with a line.
struct ScatterPoint {
  double x = 0, y = 0;
  std::string label;
  bool highlight = false;
};
struct ScatterSeries {
  std::string name;
  std::vector<ScatterPoint> points;
  bool connect = false;
};
std::string scatter(const Frame& frame, const std::vector<ScatterSeries>& series, const Axis& x, const Axis& y);

/// Ticks covering [lo, hi]: a step of 1, 2 or 5 x 10^k giving about `target` intervals; the first
/// tick <= lo and the last >= hi. lo == hi gives an interval around the value.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

/// Colour of series i (a fixed palette of 10, repeated).
const char* series_colour(size_t i);

}  // namespace mc::report::svg
