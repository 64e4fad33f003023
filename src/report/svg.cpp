// SVG charts: layout (margins, legend rows, category labels), scales, axes and marks.
#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace mc::report::svg {

namespace {

constexpr double kCharWidth = 6.5;  // average width of a 12 px sans-serif character, for layout
constexpr size_t kMaxLabel = 30;    // longer category / point labels are cut (the tooltip has them whole)

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string default_format(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string text_of(const Axis& a, double v) { return a.format ? a.format(v) : default_format(v); }

std::string cut(const std::string& s) {
  if (s.size() <= kMaxLabel) return s;
  size_t n = kMaxLabel - 1;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 sequence
  return s.substr(0, n) + "\xE2\x80\xA6";                                  // ellipsis
}

bool finite(double v) { return std::isfinite(v); }

/// A linear map from the data interval [d0, d1] to pixels [p0, p1].
struct Scale {
  double d0 = 0, d1 = 1, p0 = 0, p1 = 1;
  double operator()(double v) const { return d1 == d0 ? (p0 + p1) / 2 : p0 + (v - d0) / (d1 - d0) * (p1 - p0); }
};

/// Data range of an axis: fixed ends where given, else the data's, widened to ticks.
struct Range {
  std::vector<double> ticks;
  double lo = 0, hi = 1;
};

Range axis_range(const Axis& a, double data_lo, double data_hi, bool include_zero) {
  if (!(data_lo <= data_hi)) data_lo = 0, data_hi = 1;  // no data
  if (include_zero) data_lo = std::min(data_lo, 0.0), data_hi = std::max(data_hi, 0.0);
  double lo = a.min.value_or(data_lo), hi = a.max.value_or(data_hi);
  Range r;
  r.ticks = nice_ticks(lo, hi);
  r.lo = a.min ? *a.min : r.ticks.front();
  r.hi = a.max ? *a.max : r.ticks.back();
  if (a.min || a.max) {
    std::vector<double> inside;
    for (double t : r.ticks)
      if (t >= r.lo - 1e-9 * std::abs(r.hi - r.lo) && t <= r.hi + 1e-9 * std::abs(r.hi - r.lo)) inside.push_back(t);
    r.ticks = inside;
  }
  return r;
}

/// Legend entries laid out in rows under the title; returns the rows' total height.
struct Legend {
  struct Entry {
    std::string name;
    double x, y;
    size_t colour;
  };
  std::vector<Entry> entries;
  double height = 0;

  Legend(const std::vector<std::string>& names, double left, double width) {
    if (names.size() < 2) return;  // one series: the title says what it is
    double x = left, y = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      double w = 18 + static_cast<double>(cut(names[i]).size()) * kCharWidth + 14;
      if (x > left && x + w > left + width) x = left, y += 18;
      entries.push_back({names[i], x, y, i});
      x += w;
    }
    height = y + 18;
  }

  void draw(std::ostringstream& s, double top, bool as_line) const {
    for (const Entry& e : entries) {
      const double y = top + e.y;
      if (as_line)
        s << "<line class=\"legend\" x1=\"" << num(e.x) << "\" y1=\"" << num(y + 6) << "\" x2=\"" << num(e.x + 14)
          << "\" y2=\"" << num(y + 6) << "\" stroke=\"" << series_colour(e.colour) << "\" stroke-width=\"2\"/>";
      else
        s << "<rect class=\"legend\" x=\"" << num(e.x) << "\" y=\"" << num(y) << "\" width=\"12\" height=\"12\" fill=\""
          << series_colour(e.colour) << "\"/>";
      s << "<text x=\"" << num(e.x + 18) << "\" y=\"" << num(y + 10) << "\">" << escape(cut(e.name)) << "</text>\n";
    }
  }
};

void open_svg(std::ostringstream& s, const Frame& f, double width, double height) {
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\"" << (f.id.empty() ? "" : " id=\"" + escape(f.id) + "\"")
    << " width=\"" << num(width) << "\" height=\"" << num(height) << "\" viewBox=\"0 0 " << num(width) << " "
    << num(height) << "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n"
    << "<title>" << escape(f.title) << "</title>\n"
    << "<text class=\"chart-title\" x=\"" << num(width / 2) << "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" "
       "font-weight=\"bold\">"
    << escape(f.title) << "</text>\n";
}

/// The y axis: grid lines, tick labels, the axis line and its rotated label.
void y_axis(std::ostringstream& s, const Axis& a, const Range& r, const Scale& y, double left, double right) {
  for (double t : r.ticks) {
    const double py = y(t);
    s << "<line class=\"grid\" x1=\"" << num(left) << "\" y1=\"" << num(py) << "\" x2=\"" << num(right) << "\" y2=\""
      << num(py) << "\" stroke=\"#e3e3e3\"/>"
      << "<text x=\"" << num(left - 6) << "\" y=\"" << num(py + 4) << "\" text-anchor=\"end\">" << escape(text_of(a, t))
      << "</text>\n";
  }
  s << "<line class=\"axis\" x1=\"" << num(left) << "\" y1=\"" << num(y.p0) << "\" x2=\"" << num(left) << "\" y2=\""
    << num(y.p1) << "\" stroke=\"#333\"/>\n";
  if (!a.label.empty())
    s << "<text class=\"axis-label\" transform=\"translate(14," << num((y.p0 + y.p1) / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(a.label) << "</text>\n";
}

/// A numeric x axis: ticks below the plot, the axis line and its label.
void x_axis(std::ostringstream& s, const Axis& a, const Range& r, const Scale& x, double bottom, double width) {
  for (double t : r.ticks) {
    const double px = x(t);
    s << "<line class=\"tick\" x1=\"" << num(px) << "\" y1=\"" << num(bottom) << "\" x2=\"" << num(px) << "\" y2=\""
      << num(bottom + 4) << "\" stroke=\"#333\"/>"
      << "<text x=\"" << num(px) << "\" y=\"" << num(bottom + 16) << "\" text-anchor=\"middle\">"
      << escape(text_of(a, t)) << "</text>\n";
  }
  s << "<line class=\"axis\" x1=\"" << num(x.p0) << "\" y1=\"" << num(bottom) << "\" x2=\"" << num(x.p1) << "\" y2=\""
    << num(bottom) << "\" stroke=\"#333\"/>\n";
  if (!a.label.empty())
    s << "<text class=\"axis-label\" x=\"" << num(width / 2) << "\" y=\"" << num(bottom + 34)
      << "\" text-anchor=\"middle\">" << escape(a.label) << "</text>\n";
}

void min_max(double v, double& lo, double& hi) {
  if (!finite(v)) return;
  lo = std::min(lo, v);
  hi = std::max(hi, v);
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kLeft = 80, kRight = 20, kTitle = 30;

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* series_colour(size_t i) {
  static const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kPalette[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!finite(lo) || !finite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9);
  for (double i = first; ticks.empty() || ticks.back() < hi - 1e-9 * step; i += 1)
    ticks.push_back(i == 0 ? 0.0 : i * step);
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string bar_chart(const Frame& f, const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                      const Axis& ya) {
  const size_t n = categories.size(), ns = std::max<size_t>(series.size(), 1);
  double lo = kInf, hi = -kInf;
  for (const BarSeries& b : series)
    for (const auto& v : b.values)
      if (v) min_max(*v, lo, hi);
  // Width: at least 10 px per bar plus a gap per group.
  const double min_group = static_cast<double>(ns) * 10 + 8;
  const double plot_w = std::max(f.width - kLeft - kRight, static_cast<double>(n) * min_group);
  const double width = kLeft + plot_w + kRight;
  const double group = n ? plot_w / static_cast<double>(n) : plot_w;
  size_t longest = 0;
  for (const auto& c : categories) longest = std::max(longest, cut(c).size());
  const bool rotate = static_cast<double>(longest) * kCharWidth > group - 4;
  const double label_h = rotate ? std::min(200.0, static_cast<double>(longest) * kCharWidth * 0.64 + 16) : 20;

  std::vector<std::string> names;
  for (const BarSeries& b : series) names.push_back(b.name);
  Legend legend(names, kLeft, plot_w);
  const double top = kTitle + legend.height + 8;
  const double plot_h = std::max(80.0, f.height - top - 16.0);
  const double bottom = top + plot_h;
  const double height = bottom + label_h + 8;

  std::ostringstream s;
  open_svg(s, f, width, height);
  legend.draw(s, kTitle, false);
  const Range r = axis_range(ya, lo, hi, true);
  const Scale y{r.lo, r.hi, bottom, top};
  y_axis(s, ya, r, y, kLeft, kLeft + plot_w);
  const double bar_w = group * 0.8 / static_cast<double>(ns);
  const double zero = y(std::clamp(0.0, r.lo, r.hi));
  for (size_t c = 0; c < n; ++c) {
    const double gx = kLeft + group * static_cast<double>(c);
    for (size_t k = 0; k < series.size(); ++k) {
      if (c >= series[k].values.size() || !series[k].values[c] || !finite(*series[k].values[c])) continue;
      const double v = *series[k].values[c], py = y(std::clamp(v, r.lo, r.hi));
      const double x = gx + group * 0.1 + bar_w * static_cast<double>(k);
      s << "<rect class=\"bar\" x=\"" << num(x) << "\" y=\"" << num(std::min(py, zero)) << "\" width=\"" << num(bar_w)
        << "\" height=\"" << num(std::max(0.5, std::abs(zero - py))) << "\" fill=\"" << series_colour(k) << "\"><title>"
        << escape(categories[c]) << (series.size() > 1 ? " \xE2\x80\x94 " + escape(series[k].name) : "") << ": "
        << escape(text_of(ya, v)) << "</title></rect>\n";
    }
    const double cx = gx + group / 2;
    s << "<text class=\"category\" ";
    if (rotate)
      s << "transform=\"translate(" << num(cx + 4) << "," << num(bottom + 10) << ") rotate(-40)\" text-anchor=\"end\"";
    else
      s << "x=\"" << num(cx) << "\" y=\"" << num(bottom + 16) << "\" text-anchor=\"middle\"";
    s << "><title>" << escape(categories[c]) << "</title>" << escape(cut(categories[c])) << "</text>\n";
  }
  s << "<line class=\"axis\" x1=\"" << num(kLeft) << "\" y1=\"" << num(zero) << "\" x2=\"" << num(kLeft + plot_w)
    << "\" y2=\"" << num(zero) << "\" stroke=\"#333\"/>\n</svg>\n";
  return s.str();
}

std::string line_chart(const Frame& f, const std::vector<LineSeries>& series, const Axis& xa, const Axis& ya) {
  double xlo = kInf, xhi = -kInf, ylo = kInf, yhi = -kInf;
  std::vector<std::string> names;
  for (const LineSeries& l : series) {
    names.push_back(l.name);
    for (size_t i = 0; i < std::min(l.x.size(), l.y.size()); ++i)
      if (finite(l.x[i]) && finite(l.y[i])) min_max(l.x[i], xlo, xhi), min_max(l.y[i], ylo, yhi);
  }
  const double plot_w = f.width - kLeft - kRight;
  Legend legend(names, kLeft, plot_w);
  const double top = kTitle + legend.height + 8;
  const double bottom = std::max(top + 80, f.height - 44.0);
  const double height = bottom + 44;

  std::ostringstream s;
  open_svg(s, f, f.width, height);
  legend.draw(s, kTitle, true);
  const Range rx = axis_range(xa, xlo, xhi, false), ry = axis_range(ya, ylo, yhi, false);
  const Scale x{rx.lo, rx.hi, kLeft, kLeft + plot_w}, y{ry.lo, ry.hi, bottom, top};
  y_axis(s, ya, ry, y, kLeft, kLeft + plot_w);
  x_axis(s, xa, rx, x, bottom, f.width);
  for (size_t k = 0; k < series.size(); ++k) {
    const LineSeries& l = series[k];
    std::ostringstream pts, marks;
    for (size_t i = 0; i < std::min(l.x.size(), l.y.size()); ++i) {
      if (!finite(l.x[i]) || !finite(l.y[i])) continue;
      const double px = x(l.x[i]), py = y(l.y[i]);
      pts << num(px) << "," << num(py) << " ";
      marks << "<circle class=\"point\" cx=\"" << num(px) << "\" cy=\"" << num(py) << "\" r=\"3\" fill=\""
            << series_colour(k) << "\"><title>" << escape(l.name) << ": " << escape(text_of(xa, l.x[i])) << " \xE2\x86\x92 "
            << escape(text_of(ya, l.y[i])) << "</title></circle>\n";
    }
    s << "<polyline class=\"line\" fill=\"none\" stroke=\"" << series_colour(k) << "\" stroke-width=\"1.5\" points=\""
      << pts.str() << "\"><title>" << escape(l.name) << "</title></polyline>\n"
      << marks.str();
  }
  s << "</svg>\n";
  return s.str();
}

std::string scatter(const Frame& f, const std::vector<ScatterSeries>& series, const Axis& xa, const Axis& ya) {
  double xlo = kInf, xhi = -kInf, ylo = kInf, yhi = -kInf;
  std::vector<std::string> names;
  for (const ScatterSeries& sr : series) {
    names.push_back(sr.name);
    for (const ScatterPoint& p : sr.points)
      if (finite(p.x) && finite(p.y)) min_max(p.x, xlo, xhi), min_max(p.y, ylo, yhi);
  }
  const double plot_w = f.width - kLeft - kRight - 90;  // room for the labels of the rightmost points
  Legend legend(names, kLeft, plot_w);
  const double top = kTitle + legend.height + 8;
  const double bottom = std::max(top + 80, f.height - 44.0);
  const double height = bottom + 44;

  std::ostringstream s;
  open_svg(s, f, f.width, height);
  legend.draw(s, kTitle, false);
  const Range rx = axis_range(xa, xlo, xhi, false), ry = axis_range(ya, ylo, yhi, false);
  const Scale x{rx.lo, rx.hi, kLeft, kLeft + plot_w}, y{ry.lo, ry.hi, bottom, top};
  y_axis(s, ya, ry, y, kLeft, kLeft + plot_w);
  x_axis(s, xa, rx, x, bottom, f.width - 90);
  for (size_t k = 0; k < series.size(); ++k) {
    const ScatterSeries& sr = series[k];
    std::vector<ScatterPoint> pts;
    for (const ScatterPoint& p : sr.points)
      if (finite(p.x) && finite(p.y)) pts.push_back(p);
    if (sr.connect && pts.size() > 1) {
      std::vector<ScatterPoint> sorted = pts;
      std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
      s << "<polyline class=\"line\" fill=\"none\" stroke=\"" << series_colour(k) << "\" stroke-width=\"1.5\" points=\"";
      for (const auto& p : sorted) s << num(x(p.x)) << "," << num(y(p.y)) << " ";
      s << "\"/>\n";
    }
    for (const ScatterPoint& p : pts) {
      const double px = x(p.x), py = y(p.y);
      if (p.highlight)
        s << "<circle class=\"highlight\" cx=\"" << num(px) << "\" cy=\"" << num(py) << "\" r=\"9\" fill=\"none\" stroke=\""
          << series_colour(k) << "\" stroke-width=\"2\"/>";
      s << "<circle class=\"point\" cx=\"" << num(px) << "\" cy=\"" << num(py) << "\" r=\"5\" fill=\"" << series_colour(k)
        << "\" fill-opacity=\"0.85\"><title>" << escape(p.label.empty() ? sr.name : p.label) << ": "
        << escape(xa.label.empty() ? "x" : xa.label) << " " << escape(text_of(xa, p.x)) << ", "
        << escape(ya.label.empty() ? "y" : ya.label) << " " << escape(text_of(ya, p.y)) << "</title></circle>";
      if (!p.label.empty())
        s << "<text class=\"point-label\" x=\"" << num(px + 8) << "\" y=\"" << num(py - 6) << "\">" << escape(cut(p.label))
          << "</text>";
      s << "\n";
    }
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace mc::report::svg
