// Binary elementwise ops with numpy broadcasting: add, sub, mul, div (true division).
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

void register_elementwise_ops(OpRegistry& r) {
  using F = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  const std::pair<const char*, F> binaries[] = {
      {"add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }},
      {"sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }},
      {"mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }},
      {"div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); }},
  };
  for (auto& [name, fn] : binaries) {
    OpDef d;
    d.name = name;
    d.min_inputs = d.max_inputs = 2;
    d.kernel = [f = fn](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
      return std::vector<at::Tensor>{f(in[0], in[1])};
    };
    d.shape = [](const Node&, const std::vector<TensorType>& in) {
      Shape s;
      try {
        auto v = at::infer_size(in[0].shape, in[1].shape);
        s.assign(v.begin(), v.end());
      } catch (const c10::Error&) {
        throw Error("shapes " + shape_str(in[0].shape) + " and " + shape_str(in[1].shape) + " do not broadcast");
      }
      DType t = in[0].shape.empty() && !in[1].shape.empty() ? in[1].dtype : in[0].dtype;
      return std::vector<TensorType>{TensorType(t, s)};
    };
    d.doc = std::string("elementwise ") + name + " with broadcasting";
    r.add(std::move(d));
  }
}

}  // namespace mc::ir::ops
