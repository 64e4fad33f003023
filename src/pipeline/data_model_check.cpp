// check_data_on_model (data_context.h): the recipe's token datasets against the model's inputs,
// before anything runs, so a misfit is one located recipe error instead of a kernel failure.
#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/ops/ops.h"
#include "pipeline/data_context.h"
#include "runtime/random_inputs.h"

namespace mc::pipeline {
namespace {

std::string sizes_str(at::IntArrayRef s) {
  std::string out = "[N";
  for (size_t d = 1; d < s.size(); ++d) out += ", " + std::to_string(s[d]);
  return out + "]";
}

std::string input_names(const ir::Model& model) {
  std::string s;
  for (const ir::Value* v : model.graph.inputs()) s += (s.empty() ? "" : ", ") + v->name();
  return s;
}

// The problem of one split, or "" when its samples fit the model's inputs.
std::string split_problem(const data::Dataset& ds, const ir::Model& model) {
  const auto& ins = model.graph.inputs();
  if (ds.num_inputs() != ins.size())
    return "gives " + std::to_string(ds.num_inputs()) + " input(s) per sample but the model takes " +
           std::to_string(ins.size()) + " (" + input_names(model) + ")";
  data::LoaderOptions o;
  o.batch_size = 4096;
  o.num_workers = 0;
  data::DataLoader loader(std::shared_ptr<const data::Dataset>(&ds, [](const data::Dataset*) {}), o);
  std::vector<at::Tensor> lo(ins.size()), hi(ins.size());
  data::Batch b;
  bool first = true;
  while (loader.next(b)) {
    std::vector<at::Tensor> xs = b.inputs();
    for (size_t k = 0; k < ins.size(); ++k) {
      const ir::Value* v = ins[k];
      const bool float_in = at::isFloatingType(ir::ops::to_scalar_type(v->type().dtype));
      if (first) {
        if (float_in != at::isFloatingType(xs[k].scalar_type()))
          return "input " + std::to_string(k) + " ('" + v->name() + "') of the model is " + ir::dtype_name(v->type().dtype) +
                 ", the dataset gives " + std::string(at::toString(xs[k].scalar_type())) +
                 (float_in ? " (images)" : " (token ids need integer data: npy inputs or random_tokens)");
        if (v->type().has_shape) {
          const ir::Shape& want = v->shape();
          bool same = static_cast<int64_t>(want.size()) == xs[k].dim();
          for (size_t d = 1; same && d < want.size(); ++d) same = want[d] == xs[k].size(static_cast<int64_t>(d));
          if (!same)
            return "input " + std::to_string(k) + " ('" + v->name() + "') of the model is " + ir::shape_str(want) +
                   " (batch first), the dataset's samples are " + sizes_str(xs[k].sizes());
        }
      }
      if (float_in || xs[k].numel() == 0) continue;
      at::Tensor mn = xs[k].min(), mx = xs[k].max();
      lo[k] = lo[k].defined() ? at::minimum(lo[k], mn) : mn;
      hi[k] = hi[k].defined() ? at::maximum(hi[k], mx) : mx;
    }
    first = false;
  }
  for (size_t k = 0; k < ins.size(); ++k) {
    if (!lo[k].defined()) continue;
    const int64_t bound = runtime::integer_input_bound(model, k);
    const int64_t a = lo[k].item<int64_t>(), z = hi[k].item<int64_t>();
    if (a < 0 || z >= bound)
      return "input " + std::to_string(k) + " ('" + ins[k]->name() + "') takes values in [0, " + std::to_string(bound) + ")" +
             (bound == 2 ? " (it indexes no embedding: a 0/1 mask)" : " (the rows of the embedding table it indexes)") +
             ", the dataset holds values in [" + std::to_string(a) + ", " + std::to_string(z) + "]";
  }
  return "";
}

}  // namespace

void check_data_on_model(const DataContext& data, const ir::Model& model, recipe::Diagnostics& diag) {
  bool integer_model = false;
  for (const ir::Value* v : model.graph.inputs())
    integer_model |= !at::isFloatingType(ir::ops::to_scalar_type(v->type().dtype));
  for (const char* split : {"train", "val", "calib"}) {
    if (!data.has(split)) continue;
    auto ds = data.dataset(split);
    if (ds->float_samples() && !integer_model) continue;  // images for an image model: checked as they load
    std::string why;
    try {
      why = split_problem(*ds, model);
    } catch (const InputError& e) {
      why = e.what();
    }
    if (!why.empty())
      diag.error(data.location(split), std::string("data.") + split + " (" + ds->name() + ") does not fit the model: " + why +
                                           "; fix data." + split + " or the model's inputs (model.input / model.inputs)");
  }
}

}  // namespace mc::pipeline
