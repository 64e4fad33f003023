// compress run MODEL --input x.npy --output y.npy [--input-shape N,C,H,W]
// Runs the model (inference) on a .npy tensor and writes its first output as a float32 .npy
// (C order, atomically). The input shape defaults to the .npy's shape (needed for TorchScript).
#include <ATen/ATen.h>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "common/error.h"
#include "data/npy.h"
#include "frontend/frontend.h"
#include "runtime/executor.h"

namespace mc::cli {

namespace {

int run_model(const std::string& spec, const std::string& input, const std::string& output, const std::string& shape_text) {
  ir::Shape shape;
  if (!shape_text.empty()) shape = frontend::parse_shape(shape_text, "--input-shape");
  at::Tensor x = data::read_npy(input);
  if (!at::isFloatingType(x.scalar_type()))
    throw InputError("input '" + input + "' holds " + std::string(c10::toString(x.scalar_type())) +
                     " values; the model takes float32 (save it with .astype(numpy.float32))");
  x = x.to(at::kFloat).contiguous();
  if (shape.empty()) shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::load_model(spec, shape);
  if (m.graph.inputs().size() != 1)
    throw InputError("model '" + spec + "' takes " + std::to_string(m.graph.inputs().size()) +
                     " inputs; `compress run` feeds exactly one (--input)");
  runtime::Executor ex(m);
  std::vector<at::Tensor> outs = ex.run({x});
  if (outs.empty()) throw RuntimeFailure("model '" + spec + "' produced no output");
  at::Tensor y = outs[0].detach().to(at::kFloat).contiguous();
  data::write_npy(output, y);
  spdlog::info("wrote {}: f32{}", output, ir::shape_str(ir::Shape(y.sizes().begin(), y.sizes().end())));
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  struct Opts {
    std::string model, input, output, shape;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("run", "Run a model on a .npy input and write its first output as .npy");
  sub->add_option("model", o->model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  sub->add_option("--input", o->input, "Input tensor (.npy, float32)")->required();
  sub->add_option("--output", o->output, "Where to write the first output (.npy, float32)")->required();
  sub->add_option("--input-shape", o->shape, "Model input shape, batch first (default: the .npy's shape)");
  t.add(sub, [o] { return run_model(o->model, o->input, o->output, o->shape); });
}

}  // namespace mc::cli
