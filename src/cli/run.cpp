// compress run MODEL --input x.npy [--input mask.npy ...] --output y.npy [--input-shape N,C,H,W ...]
//                    [--input-dtype float32|int64 ...]
// Runs the model (inference) on .npy tensors, one --input per model input in the order of its
// inputs, and writes its first output as a float32 .npy (C order, atomically). Each input's shape
// and dtype default to its .npy's (needed for TorchScript): a float .npy is float32, an integer
// one int64 (token ids, masks).
#include <ATen/ATen.h>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "common/error.h"
#include "data/npy.h"
#include "frontend/frontend.h"
#include "ir/ops/ops.h"
#include "runtime/executor.h"

namespace mc::cli {

namespace {

struct RunArgs {
  std::string model, output;
  std::vector<std::string> inputs, shapes, dtypes;
};

bool is_float(ir::DType d) { return at::isFloatingType(ir::ops::to_scalar_type(d)); }

int run_model(const RunArgs& a) {
  std::vector<ir::TensorType> declared = frontend::parse_inputs(a.shapes, a.dtypes);
  if (!declared.empty() && declared.size() != a.inputs.size())
    throw InputError(std::to_string(a.inputs.size()) + " --input file(s) but " + std::to_string(declared.size()) +
                     " --input-shape: give one shape per input, or none (each .npy's shape is used)");
  std::vector<at::Tensor> xs;
  std::vector<ir::TensorType> types;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    at::Tensor x = data::read_npy(a.inputs[i]);
    const at::ScalarType st = x.scalar_type();
    if (st == at::kBool || at::isComplexType(st))
      throw InputError("input '" + a.inputs[i] + "' holds " + std::string(c10::toString(st)) +
                       " values; give float32 values or integer ids (e.g. .astype(numpy.int64))");
    ir::TensorType t(at::isFloatingType(st) ? ir::DType::f32 : ir::DType::i64, ir::Shape(x.sizes().begin(), x.sizes().end()));
    if (!declared.empty()) {
      if (!a.dtypes.empty() && is_float(declared[i].dtype) != is_float(t.dtype))
        throw InputError("input '" + a.inputs[i] + "' holds " + std::string(c10::toString(st)) + " values but --input-dtype says " +
                         frontend::input_dtype_name(declared[i].dtype) + ": save it with .astype(numpy." +
                         frontend::input_dtype_name(declared[i].dtype) + ") or fix --input-dtype");
      if (!a.dtypes.empty()) t.dtype = declared[i].dtype;
      t.shape = declared[i].shape;
    }
    types.push_back(t);
    xs.push_back(x.to(ir::ops::to_scalar_type(t.dtype)).contiguous());
  }
  ir::Model m = frontend::load_model(a.model, types);
  const auto& gin = m.graph.inputs();
  if (gin.size() != xs.size()) {
    std::string names;
    for (size_t i = 0; i < gin.size(); ++i) names += (i ? ", " : "") + gin[i]->name();
    throw InputError("model '" + a.model + "' takes " + std::to_string(gin.size()) + " input(s) (" + names + "), " +
                     std::to_string(xs.size()) + " --input given: give one .npy per input, in this order");
  }
  for (size_t i = 0; i < xs.size(); ++i) {  // same kind (float / integer): the model's exact dtype
    const ir::DType want = gin[i]->type().dtype;
    if (is_float(want) != at::isFloatingType(xs[i].scalar_type()))
      throw InputError("input '" + gin[i]->name() + "' of model '" + a.model + "' is " + frontend::input_dtype_name(want) +
                       " but '" + a.inputs[i] + "' holds " + c10::toString(xs[i].scalar_type()) + " values: save it with .astype(numpy." +
                       frontend::input_dtype_name(want) + ")");
    xs[i] = xs[i].to(ir::ops::to_scalar_type(want));
  }
  runtime::Executor ex(m);
  std::vector<at::Tensor> outs = ex.run(xs);
  if (outs.empty()) throw RuntimeFailure("model '" + a.model + "' produced no output");
  at::Tensor y = outs[0].detach().to(at::kFloat).contiguous();
  data::write_npy(a.output, y);
  spdlog::info("wrote {}: f32{}", a.output, ir::shape_str(ir::Shape(y.sizes().begin(), y.sizes().end())));
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  auto o = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "Run a model on .npy inputs and write its first output as .npy");
  sub->add_option("model", o->model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  sub->add_option("--input", o->inputs, "Input tensor (.npy: float32, or int64 token ids / masks); one per model input, in order")
      ->required()
      ->allow_extra_args(false);
  sub->add_option("--output", o->output, "Where to write the first output (.npy, float32)")->required();
  sub->add_option("--input-shape", o->shapes, "Model input shape, batch first, one per --input (default: each .npy's shape)")
      ->allow_extra_args(false);
  sub->add_option("--input-dtype", o->dtypes, "float32 | int64 | int32, once or one per --input (default: each .npy's kind)")
      ->allow_extra_args(false);
  t.add(sub, [o] { return run_model(*o); });
}

}  // namespace mc::cli
