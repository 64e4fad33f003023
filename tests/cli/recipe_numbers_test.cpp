// Non-finite numbers in recipes (nan, inf and their YAML spellings, overflowing literals) are
// refused wherever a number is read, by `compress validate`, with file:line:col and exit 2: a NaN
// passes every range check (each comparison with it is false) and would reach the technique.
#include <gtest/gtest.h>

#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

// A valid recipe with `stage_line` as its line 8 (the second stage).
std::string recipe_with(const std::string& stage_line) {
  return "name: numbers\n"
         "model: {zoo: resnet8}\n"
         "data:\n"
         "  train: {dataset: fashion_mnist, limit: 64}\n"
         "  val: {dataset: fashion_mnist, limit: 64}\n"
         "stages:\n"
         "  - prune: {sparsity: 0.5}\n" +
         stage_line + "\n";
}

void expect_refused(const std::string& recipe, const std::string& set, const std::string& where, const std::string& key) {
  test::TempDir d;
  std::string path = d.write("r.yaml", recipe);
  auto r = run_compress("validate " + path + (set.empty() ? "" : " --set '" + set + "'"));
  EXPECT_EQ(r.exit_code, 2) << recipe << set << "\n" << r.out;
  EXPECT_NE(r.out.find(where.empty() ? path : path + ":" + where), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(key), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("finite number"), std::string::npos) << r.out;
}

const char* kSpellings[] = {"nan", "NaN", "inf", "-inf", "Infinity", ".inf", "-.inf", ".nan", ".NaN", "1e999", "-1e999"};

TEST(RecipeNumbers, NonFiniteStageOptionIsRefused) {
  for (const char* v : kSpellings)
    expect_refused(recipe_with("  - finetune: {epochs: 1, label_smoothing: " + std::string(v) + "}"), "", "8:",
                   "label_smoothing");
}

TEST(RecipeNumbers, NonFiniteInNestedSectionIsRefused) {
  for (const char* v : {"nan", ".inf", "1e999"})
    expect_refused(recipe_with("  - finetune: {epochs: 1, optimizer: {lr: " + std::string(v) + "}}"), "", "8:",
                   "optimizer.lr");
}

TEST(RecipeNumbers, NonFiniteSparsityInStageAndLayerOverrideIsRefused) {
  for (const char* v : {"nan", "inf", ".nan"}) {
    expect_refused(recipe_with("  - prune: {sparsity: " + std::string(v) + "}"), "", "8:", "sparsity");
    expect_refused(recipe_with("  - prune: {sparsity: 0.5, layers: {\"layer1.*\": " + std::string(v) + "}}"), "", "8:",
                   "layer1.*");
  }
}

TEST(RecipeNumbers, NonFiniteInListIsRefused) {
  std::string rec = recipe_with("  - evaluate");
  rec.replace(rec.find("val: {dataset: fashion_mnist, limit: 64}"), 40,
              "val: {dataset: fashion_mnist, limit: 64, transform: [{type: normalize, mean: [nan], std: [1]}]}");
  expect_refused(rec, "", "5:", "mean");
}

TEST(RecipeNumbers, NonFiniteSetOverrideIsRefused) {
  for (const char* v : {"nan", ".inf", "1e999"})
    expect_refused(recipe_with("  - finetune: {epochs: 1}"), std::string("stages.0.prune.sparsity=") + v, "",
                   "--set stages.0.prune.sparsity");
}

TEST(RecipeNumbers, FiniteSpellingsStillPass) {
  test::TempDir d;
  std::string path = d.write("r.yaml", recipe_with("  - finetune: {epochs: 1, label_smoothing: 1e-1, optimizer: {lr: 2.5E-2}}"));
  auto r = run_compress("validate " + path + " --set stages.0.prune.sparsity=.75");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

}  // namespace
}  // namespace mc
