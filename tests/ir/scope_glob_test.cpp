// The one scope-glob syntax (src/ir/scope_glob.h): '*' across dots, '?', classes, the subtree rule
// at '.' boundaries, exact and empty patterns, and the malformed patterns recipes refuse.
#include "ir/scope_glob.h"

#include <gtest/gtest.h>

using mc::ir::scope_glob_match;
using mc::ir::scope_glob_problem;

TEST(ScopeGlob, ExactScopeMatchesOnlyItself) {
  EXPECT_TRUE(scope_glob_match("fc", "fc"));
  EXPECT_FALSE(scope_glob_match("fc", "fc1"));
  EXPECT_FALSE(scope_glob_match("fc", "xfc"));
  EXPECT_FALSE(scope_glob_match("fc", "f"));
  EXPECT_TRUE(scope_glob_match("layer1.0.conv1", "layer1.0.conv1"));
}

TEST(ScopeGlob, StarMatchesAnyRunIncludingDots) {
  EXPECT_TRUE(scope_glob_match("layer3.*", "layer3.0.conv1"));
  EXPECT_TRUE(scope_glob_match("*conv1", "layer1.0.conv1"));
  EXPECT_TRUE(scope_glob_match("*", "a.b.c"));
  EXPECT_TRUE(scope_glob_match("layer*.conv2", "layer2.1.conv2"));
  EXPECT_TRUE(scope_glob_match("*.conv*", "layer1.0.conv1"));
  EXPECT_TRUE(scope_glob_match("a*b*c", "aXbYbZc"));  // backtracking past an early 'b'
  EXPECT_TRUE(scope_glob_match("conv*", "conv"));      // '*' may be empty
  EXPECT_FALSE(scope_glob_match("*conv1", "layer1.0.conv2"));
  EXPECT_FALSE(scope_glob_match("layer3.*", "layer30.conv"));
  EXPECT_FALSE(scope_glob_match("a*b*c", "aXbYbZ"));
}

TEST(ScopeGlob, QuestionMarkIsExactlyOneCharacter) {
  EXPECT_TRUE(scope_glob_match("conv?", "conv1"));
  EXPECT_FALSE(scope_glob_match("conv?", "conv"));
  EXPECT_FALSE(scope_glob_match("conv?", "conv12"));
  EXPECT_TRUE(scope_glob_match("layer?.0", "layer1.0.conv1"));
  EXPECT_TRUE(scope_glob_match("a?b", "a.b"));  // '?' matches a dot too
}

TEST(ScopeGlob, CharacterClasses) {
  EXPECT_TRUE(scope_glob_match("conv[12]", "conv1"));
  EXPECT_TRUE(scope_glob_match("conv[12]", "conv2"));
  EXPECT_FALSE(scope_glob_match("conv[12]", "conv3"));
  EXPECT_TRUE(scope_glob_match("layer[1-2].0", "layer2.0"));
  EXPECT_FALSE(scope_glob_match("layer[1-2].0", "layer3.0"));
  EXPECT_TRUE(scope_glob_match("conv[!1]", "conv2"));
  EXPECT_FALSE(scope_glob_match("conv[!1]", "conv1"));
  EXPECT_FALSE(scope_glob_match("conv[!1]", "conv"));  // a negated class still takes one character
  EXPECT_TRUE(scope_glob_match("[]x]", "]"));           // ']' first is a member
  EXPECT_TRUE(scope_glob_match("[]x]", "x"));
  EXPECT_TRUE(scope_glob_match("[a-]", "-"));           // '-' last is a member
  EXPECT_FALSE(scope_glob_match("[a-]", "b"));
  EXPECT_TRUE(scope_glob_match("[!]]", "a"));
  EXPECT_FALSE(scope_glob_match("[!]]", "]"));
  EXPECT_TRUE(scope_glob_match("*[0-9]", "layer1.0.conv1"));
}

TEST(ScopeGlob, PatternMatchesEveryScopeBelowItAtDotBoundaries) {
  EXPECT_TRUE(scope_glob_match("layer1", "layer1"));
  EXPECT_TRUE(scope_glob_match("layer1", "layer1.0"));
  EXPECT_TRUE(scope_glob_match("layer1", "layer1.0.conv1"));
  EXPECT_FALSE(scope_glob_match("layer1", "layer10"));
  EXPECT_FALSE(scope_glob_match("layer1", "layer10.0.conv1"));
  // The factor nodes a low-rank stage makes of a layer are addressed by the layer's glob.
  EXPECT_TRUE(scope_glob_match("layer1.0.conv1", "layer1.0.conv1.lr0"));
  EXPECT_TRUE(scope_glob_match("layer1.?.conv1", "layer1.0.conv1.lr1"));
  EXPECT_FALSE(scope_glob_match("layer1.0.conv1", "layer1.0.conv10"));
  // Never upwards: a deeper pattern does not match the scope above it.
  EXPECT_FALSE(scope_glob_match("layer1.0.conv1", "layer1.0"));
  EXPECT_FALSE(scope_glob_match("layer1.", "layer1.0"));
}

TEST(ScopeGlob, EmptyPatternMatchesOnlyTheEmptyScope) {
  EXPECT_TRUE(scope_glob_match("", ""));
  EXPECT_FALSE(scope_glob_match("", "a"));
  EXPECT_FALSE(scope_glob_match("", "a.b"));
  EXPECT_FALSE(scope_glob_match("", ".a"));
  EXPECT_FALSE(scope_glob_match("a", ""));
  EXPECT_TRUE(scope_glob_match("*", ""));
}

TEST(ScopeGlob, MalformedPatternsAreProblemsAndMatchLiterally) {
  EXPECT_EQ(scope_glob_problem("layer[1-3].*"), "");
  EXPECT_EQ(scope_glob_problem("conv?"), "");
  EXPECT_EQ(scope_glob_problem("[]x]"), "");
  const std::string unclosed = scope_glob_problem("conv[1");
  EXPECT_NE(unclosed.find("'[' at column 5 has no closing ']'"), std::string::npos) << unclosed;
  EXPECT_NE(scope_glob_problem("[]"), "");  // ']' right after '[' is a member, so this is unclosed
  const std::string reversed = scope_glob_problem("layer[3-1]");
  EXPECT_NE(reversed.find("the range '3-1'"), std::string::npos) << reversed;
  // Given one anyway, the matcher takes an unclosed '[' as itself.
  EXPECT_TRUE(scope_glob_match("conv[1", "conv[1"));
  EXPECT_FALSE(scope_glob_match("conv[1", "conv1"));
}
