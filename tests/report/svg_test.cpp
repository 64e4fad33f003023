// The SVG chart writer (report/svg.h): ticks, bar geometry against the values, missing and
// non-finite values, escaping, and the mark classes the browser test counts.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "report/svg.h"

namespace mc::report::svg {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

/// Attribute `name` of every element that starts with `open` (e.g. "<rect class=\"bar\""), in order.
std::vector<double> attrs(const std::string& text, const std::string& open, const std::string& name) {
  std::vector<double> out;
  const std::regex re(name + "=\"([-0-9.]+)\"");
  for (size_t p = text.find(open); p != std::string::npos; p = text.find(open, p + 1)) {
    const std::string tag = text.substr(p, text.find('>', p) - p);
    std::smatch m;
    if (std::regex_search(tag, m, re)) out.push_back(std::stod(m[1]));
  }
  return out;
}

TEST(Svg, NiceTicksCoverTheRangeWithRoundSteps) {
  const std::vector<double> fifths = nice_ticks(0, 0.93);
  ASSERT_EQ(fifths.size(), 6u);
  for (size_t i = 0; i < fifths.size(); ++i) EXPECT_NEAR(fifths[i], 0.2 * static_cast<double>(i), 1e-12);
  const std::vector<double> t = nice_ticks(3, 97);
  EXPECT_EQ(t.front(), 0);
  EXPECT_EQ(t.back(), 100);
  EXPECT_EQ(t.size(), 6u);  // step 20
  const std::vector<double> big = nice_ticks(1234, 987654);
  EXPECT_LE(big.front(), 1234);
  EXPECT_GE(big.back(), 987654);
  EXPECT_DOUBLE_EQ(big[1] - big[0], 200000);
  // One value: an interval around it; reversed and non-finite ends do not loop or throw.
  const std::vector<double> one = nice_ticks(5, 5);
  EXPECT_LE(one.front(), 5);
  EXPECT_GE(one.back(), 5);
  EXPECT_GE(one.size(), 2u);
  EXPECT_GE(nice_ticks(10, -10).size(), 2u);
  EXPECT_GE(nice_ticks(NAN, INFINITY).size(), 2u);
}

TEST(Svg, BarHeightsAreProportionalToTheValues) {
  const std::string s = bar_chart({"c", "T"}, {"a", "b", "c", "d"}, {{"s", {1.0, 2.0, std::nullopt, 4.0}}},
                                  Axis{"y", nullptr, 0.0, 5.0});
  EXPECT_EQ(count(s, "<svg "), 1u);
  EXPECT_NE(s.find("id=\"c\""), std::string::npos);
  const std::vector<double> h = attrs(s, "<rect class=\"bar\"", "height");
  ASSERT_EQ(h.size(), 3u);  // the missing value has no bar
  EXPECT_NEAR(h[1] / h[0], 2.0, 0.02);
  EXPECT_NEAR(h[2] / h[0], 4.0, 0.04);
  // Bars stand on the zero line: y + height is the same for all.
  const std::vector<double> y = attrs(s, "<rect class=\"bar\"", "y");
  EXPECT_NEAR(y[0] + h[0], y[2] + h[2], 0.11);
  // Left to right in category order.
  const std::vector<double> x = attrs(s, "<rect class=\"bar\"", "x");
  EXPECT_LT(x[0], x[1]);
  EXPECT_LT(x[1], x[2]);
}

TEST(Svg, GroupedBarsAndLegend) {
  const std::string s = bar_chart({"g", "Grouped"}, {"x", "y"}, {{"one", {1.0, 2.0}}, {"two", {3.0, 4.0}}}, Axis{});
  EXPECT_EQ(count(s, "<rect class=\"bar\""), 4u);
  EXPECT_EQ(count(s, "<rect class=\"legend\""), 2u);
  // Data-driven axis from 0 to a tick at or above the largest value.
  EXPECT_NE(s.find(">0</text>"), std::string::npos);
}

TEST(Svg, ManyCategoriesWidenTheChartAndTiltLabels) {
  std::vector<std::string> cats;
  std::vector<std::optional<double>> v;
  for (int i = 0; i < 80; ++i) cats.push_back("blocks." + std::to_string(i) + ".attn.qkv"), v.push_back(i + 1.0);
  const std::string s = bar_chart({"w", "Wide", 640, 300}, cats, {{"v", v}}, Axis{});
  const std::vector<double> w = attrs(s, "<svg ", "width");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_GE(w[0], 80 * 18.0);  // at least 10 px per bar plus the gap
  EXPECT_NE(s.find("rotate(-40)"), std::string::npos);
  EXPECT_EQ(count(s, "<rect class=\"bar\""), 80u);
}

TEST(Svg, TextIsEscaped) {
  const std::string name = "blk<1>&\"x\"'";
  const std::string s = bar_chart({"e\"><script>", "a < b & c"}, {name}, {{name, {1.0}}, {"s2", {2.0}}}, Axis{"<y>"});
  EXPECT_EQ(s.find("<1>"), std::string::npos);
  EXPECT_EQ(s.find("<script>"), std::string::npos);
  EXPECT_EQ(s.find("<y>"), std::string::npos);
  EXPECT_NE(s.find("blk&lt;1&gt;&amp;&quot;x&quot;&#39;"), std::string::npos);
  EXPECT_NE(s.find("a &lt; b &amp; c"), std::string::npos);
  EXPECT_EQ(escape("&amp;"), "&amp;amp;");
}

TEST(Svg, LineChartSkipsNonFinitePoints) {
  const std::string s = line_chart({"l", "Lines"}, {{"a", {0, 1, 2}, {1, NAN, 3}}, {"b", {0, 2}, {2, 2}}}, Axis{"x"},
                                   Axis{"y"});
  EXPECT_EQ(count(s, "<circle class=\"point\""), 4u);
  EXPECT_EQ(count(s, "<polyline class=\"line\""), 2u);
  const std::vector<double> cx = attrs(s, "<circle class=\"point\"", "cx");
  const std::vector<double> cy = attrs(s, "<circle class=\"point\"", "cy");
  ASSERT_EQ(cx.size(), 4u);
  EXPECT_LT(cx[0], cx[1]);      // x 0 -> 2
  EXPECT_GT(cy[0], cy[1]);      // y 1 -> 3: higher value, smaller pixel y
  EXPECT_NEAR(cx[2], cx[0], 1e-9);  // both series start at x 0
}

TEST(Svg, ScatterHighlightsAndConnects) {
  const std::string s = scatter({"p", "Pareto"}, {{"runs", {{1, 90, "a", true}, {2, 91, "b", false}, {3, 95, "c", true}}, true}},
                                Axis{"size"}, Axis{"top-1"});
  EXPECT_EQ(count(s, "<circle class=\"point\""), 3u);
  EXPECT_EQ(count(s, "<circle class=\"highlight\""), 2u);
  EXPECT_EQ(count(s, "<polyline class=\"line\""), 1u);
  EXPECT_EQ(count(s, "<text class=\"point-label\""), 3u);
}

TEST(Svg, FixedAxisEndsClampBars) {
  // A value past the fixed maximum is drawn to the top of the plot, not outside it.
  const std::string s = bar_chart({"f", "F"}, {"a", "b"}, {{"v", {50.0, 150.0}}}, Axis{"%", nullptr, 0.0, 100.0});
  const std::vector<double> h = attrs(s, "<rect class=\"bar\"", "height");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_NEAR(h[1] / h[0], 2.0, 0.02);
}

}  // namespace
}  // namespace mc::report::svg
