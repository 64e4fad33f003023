#include "runtime/executor.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Context.h>

#include <unordered_set>

#include "common/error.h"
#include "ir/op_registry.h"
#include "ir/ops/ops.h"

namespace mc::runtime {

Executor::Executor(ir::Model& model) : model_(model) {
  ir::register_core_ops();
  auto slot = [&](const ir::Value* v) {
    auto it = slot_of_.find(v->name());
    if (it != slot_of_.end()) return it->second;
    slot_of_[v->name()] = num_slots_;
    return num_slots_++;
  };
  for (auto* v : model_.graph.inputs()) input_slots_.push_back(slot(v));
  std::map<size_t, size_t> last_use;  // slot -> step index
  auto nodes = model_.graph.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node* n = nodes[i];
    Step s;
    s.node = n;
    for (auto* v : n->inputs()) {
      s.in.push_back(slot(v));
      last_use[slot(v)] = i;
    }
    for (auto* v : n->outputs()) s.out.push_back(slot(v));
    if (n->op() == "param" || n->op() == "constant") s.tensor = n->attrs().s("name");
    (void)ir::OpRegistry::instance().get(*n);  // unknown op: error now, not mid-run
    steps_.push_back(std::move(s));
  }
  for (auto* v : model_.graph.outputs()) output_slots_.push_back(slot(v));
  std::unordered_set<size_t> keep(output_slots_.begin(), output_slots_.end());
  for (auto& [sl, step] : last_use)
    if (!keep.count(sl)) steps_[step].free.push_back(sl);
}

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& inputs) {
  at::NoGradGuard no_grad;
  return execute(inputs, /*training=*/false, /*free_early=*/true);
}

std::vector<at::Tensor> Executor::forward(const std::vector<at::Tensor>& inputs, bool training) {
  return execute(inputs, training, /*free_early=*/true);
}

std::vector<at::Tensor> Executor::parameters() {
  std::vector<at::Tensor> out;
  for (auto& n : model_.param_names()) {
    at::Tensor& t = model_.tensors.at(n);
    if (!t.requires_grad()) t.requires_grad_(true);
    out.push_back(t);
  }
  return out;
}

int Executor::add_hook(const std::string& value, ValueHook hook) {
  auto it = slot_of_.find(value);
  const ir::Value* v = model_.graph.find_value(value);
  if (it == slot_of_.end() || !v) throw Error("cannot attach a hook: the graph has no value '%" + value + "'");
  hooks_.push_back({next_hook_, it->second, v, std::move(hook)});
  return next_hook_++;
}

void Executor::remove_hook(int id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const Hook& h) { return h.id == id; }), hooks_.end());
}

std::vector<at::Tensor> Executor::execute(const std::vector<at::Tensor>& inputs, bool training, bool free_early) {
  if (inputs.size() != input_slots_.size())
    throw InputError("model takes " + std::to_string(input_slots_.size()) + " input(s), got " + std::to_string(inputs.size()));
  auto& reg = ir::OpRegistry::instance();
  std::vector<at::Tensor> slots(num_slots_);
  const auto& gin = model_.graph.inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& want = gin[i]->shape();
    const at::Tensor& x = inputs[i];
    bool ok = static_cast<size_t>(x.dim()) == want.size();
    for (size_t d = 1; ok && d < want.size(); ++d) ok = x.size(static_cast<int64_t>(d)) == want[d];
    if (!ok) {
      throw InputError("input '" + gin[i]->name() + "' has shape " + ir::shape_str(ir::Shape(x.sizes().begin(), x.sizes().end())) +
                       ", the model expects " + ir::shape_str(want) + " (any batch size)");
    }
    // Integer ids where floats are expected (or the reverse) would fail deep inside the graph, or
    // index with truncated floats; float32 vs float64 and int32 vs int64 are left to the kernels.
    const bool want_float = at::isFloatingType(ir::ops::to_scalar_type(gin[i]->type().dtype));
    if (want_float != at::isFloatingType(x.scalar_type()))
      throw InputError("input '" + gin[i]->name() + "' is " + ir::dtype_name(ir::ops::from_scalar_type(x.scalar_type())) + ", the model expects " +
                       ir::dtype_name(gin[i]->type().dtype) + " (" + (want_float ? "float values" : "integer ids") + ")");
    slots[input_slots_[i]] = x;
  }
  std::vector<std::vector<const Hook*>> hooks_at(num_slots_);
  for (auto& h : hooks_) hooks_at[h.slot].push_back(&h);
  // A hook's LibTorch error names the value and the node that made it. LibTorch's messages put
  // their backtrace after the first line; only that line is kept.
  auto call_hook = [](const Hook& h, const at::Tensor& t, const ir::Node* producer) {
    try {
      h.fn(*h.value, t);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw RuntimeFailure("in a hook on value '%" + h.value->name() + "'" +
                           (producer ? " (output of " + producer->describe() + ")" : std::string(" (graph input)")) + ": " +
                           first_line(e.what()));
    }
  };
  for (auto& h : hooks_)
    for (size_t s : input_slots_)
      if (h.slot == s) call_hook(h, slots[s], nullptr);

  ir::KernelContext ctx;
  ctx.training = training;
  ctx.generator = generator_;
  if (training) ctx.batch_norm_training = batch_norm_training_;
  std::vector<at::Tensor> in;
  for (const Step& s : steps_) {
    if (!s.tensor.empty()) {
      slots[s.out[0]] = model_.tensors.at(s.tensor);
    } else {
      in.clear();
      for (size_t sl : s.in) in.push_back(slots[sl]);
      std::vector<at::Tensor> out;
      try {
        out = reg.get(*s.node).kernel(*s.node, in, ctx);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {  // c10::Error, or std::runtime_error from some ATen checks
        throw RuntimeFailure("running " + s.node->describe() + ": " + first_line(e.what()));
      }
      for (size_t i = 0; i < s.out.size(); ++i) slots[s.out[i]] = std::move(out.at(i));
    }
    for (size_t sl : s.out)
      for (const Hook* h : hooks_at[sl]) call_hook(*h, slots[sl], s.node);
    if (free_early)
      for (size_t sl : s.free) slots[sl] = at::Tensor();
  }
  std::vector<at::Tensor> outs;
  for (size_t sl : output_slots_) outs.push_back(slots[sl]);
  return outs;
}

void move_model(ir::Model& model, const c10::Device& device) {
  for (auto& [k, t] : model.tensors) {
    bool rg = t.requires_grad();
    t = t.detach().to(device);
    if (rg) t.requires_grad_(true);
  }
}

c10::Device parse_device(const std::string& s) {
  if (s == "cpu") return c10::Device(c10::kCPU);
  if (s.rfind("cuda", 0) == 0) {
    if (!at::hasCUDA())
      throw InputError("device '" + s + "' requested but this LibTorch build has no CUDA device available (use --device cpu)");
    return c10::Device(s);
  }
  throw InputError("unknown device '" + s + "' (use cpu or cuda)");
}

}  // namespace mc::runtime
