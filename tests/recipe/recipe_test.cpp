// Recipe loading: includes, --set, and every class of recipe error with file:line:col.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "recipe/recipe.h"
#include "support/test_env.h"

using namespace mc::recipe;

namespace {
std::string write(const mc::test::TempDir& d, const std::string& name, const std::string& text) {
  std::string p = d.file(name);
  std::ofstream(p) << text;
  return p;
}

std::string all_errors(const Diagnostics& d) {
  std::string s;
  for (auto& e : d.errors()) s += e + "\n";
  return s;
}

const char* kGood = R"(name: demo
seed: 3
model: {zoo: resnet8, num_classes: 10, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, batch_size: 64}
stages:
  - train: {epochs: 2}
  - evaluate
)";
}  // namespace

TEST(Recipe, ParsesSectionsAndStages) {
  mc::test::TempDir d;
  Diagnostics diag;
  Recipe r = load_recipe(write(d, "r.yaml", kGood), {}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  EXPECT_EQ(r.name, "demo");
  EXPECT_EQ(r.seed, 3);
  EXPECT_EQ(r.model.zoo, "resnet8");
  EXPECT_EQ(r.model.input_shape, (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(r.data.train.batch_size, 64);
  EXPECT_TRUE(r.data.train.present);
  EXPECT_FALSE(r.data.val.present);
  ASSERT_EQ(r.stages.size(), 2u);
  EXPECT_EQ(r.stages[0].name, "train");
  EXPECT_EQ(r.stages[0].options.find("epochs")->value(), "2");
  EXPECT_EQ(r.stages[1].name, "evaluate");
  EXPECT_EQ(r.stages[0].loc.line, 7);
  EXPECT_EQ(r.hash.size(), 16u);
}

TEST(Recipe, SetOverridesAnyValueAndChangesTheHash) {
  mc::test::TempDir d;
  std::string p = write(d, "r.yaml", kGood);
  Diagnostics diag;
  Recipe base = load_recipe(p, {}, diag);
  Recipe r = load_recipe(p, {"stages.0.train.epochs=5", "data.train.limit=100", "model.input.shape=[1,1,32,32]", "name=other"}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  EXPECT_EQ(r.stages[0].options.find("epochs")->value(), "5");
  EXPECT_EQ(r.data.train.limit, 100);
  EXPECT_EQ(r.model.input_shape, (std::vector<int64_t>{1, 1, 32, 32}));
  EXPECT_EQ(r.name, "other");
  EXPECT_NE(r.hash, base.hash);
}

TEST(Recipe, SetErrorsNameTheAssignment) {
  mc::test::TempDir d;
  std::string p = write(d, "r.yaml", kGood);
  Diagnostics diag;
  load_recipe(p, {"stages.7.train.epochs=1", "no_equals_sign", "seed.x=1"}, diag);
  std::string e = all_errors(diag);
  EXPECT_NE(e.find("--set stages.7.train.epochs=1"), std::string::npos) << e;
  EXPECT_NE(e.find("not an index"), std::string::npos) << e;
  EXPECT_NE(e.find("KEY.PATH=VALUE"), std::string::npos) << e;
  EXPECT_NE(e.find("is a value, not a mapping"), std::string::npos) << e;
}

TEST(Recipe, IncludesMergeBeneathTheRecipe) {
  mc::test::TempDir d;
  write(d, "base.yaml", "seed: 9\ndata:\n  train: {dataset: mnist, batch_size: 32}\n");
  std::string p = write(d, "r.yaml", std::string("include: [base]\n") + kGood);
  Diagnostics diag;
  Recipe r = load_recipe(p, {}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  EXPECT_EQ(r.seed, 3);                        // recipe wins
  EXPECT_EQ(r.data.train.dataset, "fashion_mnist");
  EXPECT_EQ(r.data.train.batch_size, 64);
}

TEST(Recipe, ShippedPresetsResolve) {
  mc::test::TempDir d;
  std::string p = write(d, "r.yaml", "include: [fashion_mnist]\nmodel: {zoo: lenet5}\nstages: [evaluate]\n");
  Diagnostics diag;
  Recipe r = load_recipe(p, {}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  EXPECT_EQ(r.data.val.batch_size, 512);
  EXPECT_EQ(r.data.calib.samples, 512);
  EXPECT_EQ(r.report.formats, (std::vector<std::string>{"json", "md", "html"}));
  std::string only_html = write(d, "h.yaml", "include: [fashion_mnist]\nmodel: {zoo: lenet5}\nstages: [evaluate]\n"
                                             "report: {formats: [html]}\n");
  Diagnostics diag2;
  EXPECT_EQ(load_recipe(only_html, {}, diag2).report.formats, std::vector<std::string>{"html"});
  EXPECT_TRUE(diag2.ok()) << all_errors(diag2);
}

TEST(Recipe, EveryErrorIsReportedAtOnceWithLocation) {
  mc::test::TempDir d;
  std::string p = write(d, "bad.yaml", R"(name: bad
sead: 1
threads: many
model: {zoo: resnet9, num_classes: 1}
data:
  train: {dataset: fashion_mnist, batch_size: 0}
report: {formats: [json, pdf]}
stages:
  - train: {epochs: 2}
)");
  Diagnostics diag;
  load_recipe(p, {}, diag);
  std::string e = all_errors(diag);
  EXPECT_EQ(diag.errors().size(), 6u) << e;  // no follow-on errors from the bad zoo name
  // unknown key with did-you-mean, at the key's position
  EXPECT_NE(e.find(p + ":2:1: unknown key 'sead'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'seed'"), std::string::npos) << e;
  // wrong type
  EXPECT_NE(e.find(p + ":3:10: 'recipe.threads' must be an integer"), std::string::npos) << e;
  // bad choice with hint
  EXPECT_NE(e.find("'recipe.model.zoo' = 'resnet9' is not one of"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'resnet8'"), std::string::npos) << e;
  // out of range
  EXPECT_NE(e.find("'recipe.model.num_classes' = 1 is out of range"), std::string::npos) << e;
  EXPECT_NE(e.find(p + ":6:47: 'recipe.data.train.batch_size' = 0 is out of range"), std::string::npos) << e;
  EXPECT_NE(e.find("report format 'pdf' is not one of: json, md, html"), std::string::npos) << e;
  EXPECT_THROW(diag.throw_if_any(), mc::InputError);
}

TEST(Recipe, MissingFilesAreErrors) {
  mc::test::TempDir d;
  std::string p = write(d, "r.yaml", "include: [nowhere]\nmodel: {torchscript: missing.pt, input: {shape: [1,3,8,8]}}\nstages: [evaluate]\n");
  Diagnostics diag;
  load_recipe(p, {}, diag);
  std::string e = all_errors(diag);
  EXPECT_NE(e.find(p + ":1:11: include 'nowhere' not found"), std::string::npos) << e;
  EXPECT_NE(e.find("file 'missing.pt' does not exist"), std::string::npos) << e;
  EXPECT_NE(e.find(p + ":2:22:"), std::string::npos) << e;
}

TEST(Recipe, AnIncludeNameTooLongIsNotFound) {
  // std::filesystem::exists threw filesystem_error (ENAMETOOLONG) out of load_recipe (found by the
  // recipe fuzz target).
  mc::test::TempDir d;
  std::string p = write(d, "r.yaml", "include: " + std::string(300, 'x') + "\nmodel: {zoo: lenet5}\nstages: [evaluate]\n");
  Diagnostics diag;
  load_recipe(p, {}, diag);
  EXPECT_NE(all_errors(diag).find(p + ":1:10: include 'xxx"), std::string::npos) << all_errors(diag);
}

TEST(Recipe, StructuralErrors) {
  mc::test::TempDir d;
  Diagnostics diag;
  load_recipe(write(d, "a.yaml", "model: {zoo: lenet5, torchscript: x.pt}\nstages: {train: {}}\n"), {}, diag);
  std::string e = all_errors(diag);
  EXPECT_NE(e.find("'stages' must be a list"), std::string::npos) << e;
  EXPECT_NE(e.find("exactly one of zoo, torchscript or checkpoint"), std::string::npos) << e;
  EXPECT_THROW(load_yaml_file(write(d, "b.yaml", "a: [1, 2\nb: 3\n")), mc::InputError);
  try {
    load_yaml_file(write(d, "c.yaml", "a: 1\na: 2\n"));
    FAIL();
  } catch (const mc::InputError& ex) {
    EXPECT_NE(std::string(ex.what()).find("c.yaml:2:1: duplicate key 'a'"), std::string::npos) << ex.what();
  }
}

TEST(Options, DescriberAndWriterFollowTheDeclaration) {
  struct O {
    int64_t epochs = 3;
    double lr = 0.5;
    std::string mode = "a";
    void visit(Visitor& v) {
      v.field("epochs", epochs, "number of epochs", Spec::range(1, 10));
      v.section("opt", [&](Visitor& s) { s.field("lr", lr, "learning rate", Spec::at_least(0)); }, "optimizer");
      v.field("mode", mode, "mode", Spec::one_of({"a", "b"}));
    }
  } o;
  Describer d;
  o.visit(d);
  ASSERT_EQ(d.docs().size(), 4u);
  EXPECT_EQ(d.docs()[0].key, "epochs");
  EXPECT_EQ(d.docs()[0].default_value, "3");
  EXPECT_EQ(d.docs()[0].constraint, "1 .. 10");
  EXPECT_EQ(d.docs()[2].key, "opt.lr");
  EXPECT_EQ(d.docs()[3].constraint, "one of: a, b");
  Writer w;
  o.visit(w);
  EXPECT_EQ(w.result().find("opt")->find("lr")->value(), "0.5");
  EXPECT_EQ(did_you_mean("epohcs", {"epochs", "lr"}), "epochs");
  EXPECT_EQ(did_you_mean("zzz", {"epochs", "lr"}), "");
}

// Input dtypes and several inputs (token ids, masks): model.input.dtype, the model.inputs list
// (each item read with file:line:col errors), and their misuse.
TEST(Recipe, InputDtypesAndSeveralInputs) {
  mc::test::TempDir d;
  write(d, "m.pt", "");  // a path only: nothing is imported here
  Diagnostics diag;
  Recipe one = load_recipe(write(d, "one.yaml", "model: {torchscript: m.pt, input: {shape: [1, 16], dtype: int64}}\nstages: [evaluate]\n"), {}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  EXPECT_EQ(one.model.input_dtype, "int64");
  EXPECT_TRUE(one.model.inputs.empty());
  Recipe two = load_recipe(write(d, "two.yaml", R"(model:
  torchscript: m.pt
  inputs: [{shape: [1, 16], dtype: int64}, {shape: [1, 16]}]
stages: [evaluate]
)"), {}, diag);
  ASSERT_TRUE(diag.ok()) << all_errors(diag);
  ASSERT_EQ(two.model.inputs.size(), 2u);
  EXPECT_EQ(two.model.inputs[0].dtype, "int64");
  EXPECT_EQ(two.model.inputs[1].dtype, "float32");
  EXPECT_EQ(two.model.inputs[1].shape, (std::vector<int64_t>{1, 16}));

  const std::string bad = write(d, "bad.yaml", R"(model:
  torchscript: m.pt
  input: {shape: [1, 16], dtype: int8}
  inputs: [{shape: [1, 16], dtype: int64, shap: [2]}, 3, {dtype: int64}]
stages: [evaluate]
)");
  Diagnostics errs;
  load_recipe(bad, {}, errs);
  std::string e = all_errors(errs);
  EXPECT_NE(e.find(bad + ":3:34: 'recipe.model.input.dtype' = 'int8' is not one of"), std::string::npos) << e;
  EXPECT_NE(e.find(bad + ":4:3: model: give either 'input' (one input) or 'inputs' (a list), not both"), std::string::npos) << e;
  EXPECT_NE(e.find(bad + ":4:43: unknown key 'shap'"), std::string::npos) << e;
  EXPECT_NE(e.find(bad + ":4:55: model.inputs[1] must be a map"), std::string::npos) << e;
  EXPECT_NE(e.find(bad + ":4:58: model.inputs[2] needs a shape"), std::string::npos) << e;
  const std::string zoo = write(d, "zoo.yaml", "model: {zoo: lenet5, input: {shape: [1, 1, 28, 28], dtype: int64}}\nstages: [evaluate]\n");
  Diagnostics zerr;
  load_recipe(zoo, {}, zerr);
  EXPECT_NE(all_errors(zerr).find(zoo + ":1:8: model.input.dtype and model.inputs are for TorchScript models"), std::string::npos)
      << all_errors(zerr);
}
