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

std::string shipped(const std::string& name) { return (fs::path(test::source_dir()) / "recipes" / (name + ".yaml")).string(); }

TEST(RecipeLookup, ValidateFindsAShippedRecipeByBareName) {
  test::TempDir d;
  for (const char* arg : {"resnet_int8", "resnet_int8.yaml"}) {
    auto r = compress_in(d, std::string("validate ") + arg);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("using the shipped recipe " + shipped("resnet_int8")), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(": ok ("), std::string::npos) << r.out;
  }
}

TEST(RecipeLookup, RunByBareNameUsesTheShippedRecipe) {
  test::TempDir d;
  auto r = compress_in(d, "--recipe resnet_int8 --dry-run");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("using the shipped recipe " + shipped("resnet_int8")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recipe 'resnet_int8' is valid"), std::string::npos) << r.out;
}

TEST(RecipeLookup, AFileInTheWorkingDirectoryWins) {
  test::TempDir d;
  d.write("resnet_int8.yaml", "name: local_copy\nmodel: {zoo: lenet5}\ndata: {val: {dataset: fashion_mnist}}\nstages: [evaluate]\n");
  auto r = compress_in(d, "--recipe resnet_int8.yaml --dry-run");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("recipe 'local_copy' is valid"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("shipped"), std::string::npos) << r.out;
}

TEST(RecipeLookup, UnknownNameListsCloseMatches) {
  test::TempDir d;
  auto r = compress_in(d, "--recipe resnet8_int8");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("'resnet8_int8'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'resnet_int8'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compress recipes"), std::string::npos) << r.out;
  auto v = compress_in(d, "validate resnet8_sparse42.yaml");
  EXPECT_EQ(v.exit_code, 2) << v.out;
  EXPECT_NE(v.out.find("did you mean 'resnet8_sparse24'"), std::string::npos) << v.out;
}

TEST(RecipeLookup, APathWithADirectoryIsNotLookedUp) {
  test::TempDir d;
  auto r = compress_in(d, "validate somewhere/resnet_int8.yaml");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("recipe file 'somewhere/resnet_int8.yaml' does not exist"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("using the shipped recipe"), std::string::npos) << r.out;
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
