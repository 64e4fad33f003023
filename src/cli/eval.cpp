// `compress eval MODEL --data KIND`: top-1/top-5 of a model on a dataset, with the input
// preprocessing from --transform, else --recipe's data.val, else the one recorded in the checkpoint.
#include <iomanip>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "data/factory.h"
#include "data/loader.h"
#include "frontend/frontend.h"
#include "pipeline/preprocessing.h"
#include "train/evaluator.h"

namespace mc::cli {
namespace {

struct EvalArgs {
  std::string model, shape, dataset, path, split = "test", transform, recipe;
  int64_t batch = 256, limit = 0;
};

// --transform, else --recipe: the preprocessing the user asked for, if any.
std::optional<pipeline::Preprocessing> requested_preprocessing(const EvalArgs& a) {
  if (!a.transform.empty()) return pipeline::transform_argument(a.transform);
  if (!a.recipe.empty()) return pipeline::recipe_val_transforms(a.recipe);
  return std::nullopt;
}

// The checkpoint's record, else none (said plainly: raw pixels may be the wrong input).
pipeline::Preprocessing recorded_preprocessing(const ir::Model& m, const std::string& model_path) {
  if (!m.preprocessing.empty()) return pipeline::read_preprocessing_record(m.preprocessing, model_path);
  return {{}, "no preprocessing recorded in " + model_path +
                  "; raw pixels in [0,1]; pass --transform if the model was trained with normalisation"};
}

int run_eval(const EvalArgs& a) {
  data::DatasetSpec ds;
  ds.kind = a.dataset;
  ds.path = a.path;
  ds.split = a.split;
  ds.limit = a.limit;
  ds.config_key = "--data";
  auto dataset = data::make_dataset(ds);
  std::optional<pipeline::Preprocessing> prep = requested_preprocessing(a);
  ir::Shape shape;
  if (!a.shape.empty()) shape = frontend::parse_shape(a.shape);
  else {
    auto s = dataset->sample_shape();
    if (prep) s = data::make_transforms(prep->transforms, "--transform")->output_shape(s);
    shape = {1};
    shape.insert(shape.end(), s.begin(), s.end());
  }
  ir::Model m = frontend::load_model(a.model, shape);
  if (!prep) prep = recorded_preprocessing(m, a.model);
  std::cerr << "preprocessing: " << pipeline::describe_transforms(prep->transforms) << " (" << prep->origin << ")\n";
  data::LoaderOptions lo;
  lo.batch_size = a.batch;
  lo.transforms = data::make_transforms(prep->transforms, "preprocessing (" + prep->origin + ")");
  data::DataLoader loader(dataset, lo);
  train::EvalResult r = train::evaluate(m, loader);
  std::cout << std::fixed << std::setprecision(2) << "top-1 " << r.top1 * 100 << "%  top-5 " << r.top5 * 100
            << "%  loss " << std::setprecision(4) << r.loss << "  (" << r.count << " samples)\n";
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  static EvalArgs a;
  CLI::App* e = app.add_subcommand("eval", "Top-1/top-5 of a model on a dataset");
  e->add_option("model", a.model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  e->add_option("--data", a.dataset, "Dataset kind: fashion_mnist, mnist, cifar10, imagefolder, npy")->required();
  e->add_option("--path", a.path, "Dataset directory/file (default: installed Fashion-MNIST)");
  e->add_option("--split", a.split, "train or test");
  e->add_option("--batch", a.batch, "Batch size");
  e->add_option("--limit", a.limit, "Evaluate only the first N samples");
  e->add_option("--input-shape", a.shape, "Model input shape (TorchScript)");
  e->add_option("--transform", a.transform,
                "Preprocessing: a preset of configs/transforms/ (e.g. fmnist_eval), a YAML file of transforms, or "
                "none (default: the one recorded in the checkpoint)");
  e->add_option("--recipe", a.recipe, "Use the data.val transform of this recipe (unless --transform is given)");
  t.add(e, [] { return run_eval(a); });
}

}  // namespace mc::cli
