// Shipped recipes by bare name: `compress --recipe resnet_int8`, `compress validate resnet_int8`,
// `compress recipes`, and the did-you-mean when a name matches nothing. Commands run from an
// empty directory, so that only the lookup (not the working directory) can find the recipe.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_env.h"

namespace mc {
namespace {
namespace fs = std::filesystem;

test::RunResult compress_in(const test::TempDir& d, const std::string& args) {
  return test::run_command("cd '" + d.path() + "' && " + test::compress_bin() + " " + args);
}

// Exit code, then strings the output must hold and strings it must not.
void expect_run(const test::RunResult& r, int code, const std::vector<std::string>& has,
                const std::vector<std::string>& lacks = {}) {
  EXPECT_EQ(r.exit_code, code) << r.out;
  for (auto& h : has) EXPECT_NE(r.out.find(h), std::string::npos) << "'" << h << "' missing in:\n" << r.out;
  for (auto& l : lacks) EXPECT_EQ(r.out.find(l), std::string::npos) << "'" << l << "' unexpected in:\n" << r.out;
}

std::string shipped(const std::string& name) { return (fs::path(test::source_dir()) / "recipes" / (name + ".yaml")).string(); }

TEST(RecipeLookup, ValidateFindsAShippedRecipeByBareName) {
  test::TempDir d;
  for (const char* arg : {"resnet_int8", "resnet_int8.yaml"}) {
    expect_run(compress_in(d, std::string("validate ") + arg), 0,
               {"using the shipped recipe " + shipped("resnet_int8"), ": ok ("});
  }
}

TEST(RecipeLookup, RunByBareNameUsesTheShippedRecipe) {
  test::TempDir d;
  expect_run(compress_in(d, "--recipe resnet_int8 --dry-run"), 0,
             {"using the shipped recipe " + shipped("resnet_int8"), "recipe 'resnet_int8' is valid"});
}

TEST(RecipeLookup, AFileInTheWorkingDirectoryWins) {
  test::TempDir d;
  d.write("resnet_int8.yaml", "name: local_copy\nmodel: {zoo: lenet5}\ndata: {val: {dataset: fashion_mnist}}\nstages: [evaluate]\n");
  expect_run(compress_in(d, "--recipe resnet_int8.yaml --dry-run"), 0, {"recipe 'local_copy' is valid"}, {"shipped"});
}

TEST(RecipeLookup, UnknownNameListsCloseMatches) {
  test::TempDir d;
  expect_run(compress_in(d, "--recipe resnet8_int8"), 2,
             {"'resnet8_int8'", "did you mean 'resnet_int8'", "compress recipes"});
  expect_run(compress_in(d, "validate resnet8_sparse42.yaml"), 2, {"did you mean 'resnet8_sparse24'"});
}

TEST(RecipeLookup, APathWithADirectoryIsNotLookedUp) {
  test::TempDir d;
  expect_run(compress_in(d, "validate somewhere/resnet_int8.yaml"), 2,
             {"recipe file 'somewhere/resnet_int8.yaml' does not exist"}, {"using the shipped recipe"});
}

// Every recipes/*.yaml appears with its first comment line, read here from the files themselves.
TEST(RecipeLookup, RecipesCommandListsEveryShippedRecipeWithItsSummary) {
  auto r = test::run_compress("recipes");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  int count = 0;
  for (auto& e : fs::directory_iterator(fs::path(test::source_dir()) / "recipes")) {
    if (e.path().extension() != ".yaml") continue;
    ++count;
    std::ifstream in(e.path());
    std::string first;
    std::getline(in, first);
    ASSERT_EQ(first.rfind("# ", 0), 0u) << e.path() << " has no leading comment line";
    std::string summary = first.substr(2);
    EXPECT_GE(summary.size(), 30u) << e.path() << ": first comment line too short to describe the recipe";
    std::string line = e.path().stem().string();
    size_t p = r.out.find("\n" + line + " ");
    if (r.out.rfind(line + " ", 0) == 0) p = 0;
    ASSERT_NE(p, std::string::npos) << line << " missing in:\n" << r.out;
    std::string row = r.out.substr(p, r.out.find('\n', p + 1) - p);
    EXPECT_NE(row.find(summary), std::string::npos) << row;
  }
  EXPECT_GE(count, 10);
}

}  // namespace
}  // namespace mc
