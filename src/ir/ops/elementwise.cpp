// Elementwise ops with numpy broadcasting:
//   add, sub, mul, div (true division)  binary arithmetic, the dtype of the non-scalar operand
//   eq(a, b)                            a == b, boolean (an attention mask's `mask == 0`)
//   where(cond, x, y)                   x where cond else y (cond boolean; x's dtype): what
//                                       x.masked_fill(mask, v) imports as (where(mask, v, x))
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {
namespace {

Shape broadcast(const std::vector<TensorType>& in) {
  std::vector<int64_t> s = in[0].shape;
  for (size_t k = 1; k < in.size(); ++k) {
    try {
      s = at::infer_size(s, in[k].shape);
    } catch (const c10::Error&) {
      std::string all;
      for (const auto& t : in) all += (all.empty() ? "" : " and ") + shape_str(t.shape);
      throw Error("shapes " + all + " do not broadcast");
    }
  }
  return Shape(s.begin(), s.end());
}

}  // namespace

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
      DType t = in[0].shape.empty() && !in[1].shape.empty() ? in[1].dtype : in[0].dtype;
      return std::vector<TensorType>{TensorType(t, broadcast(in))};
    };
    d.doc = std::string("elementwise ") + name + " with broadcasting";
    r.add(std::move(d));
  }

  OpDef eq;
  eq.name = "eq";
  eq.min_inputs = eq.max_inputs = 2;
  eq.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{at::eq(in[0], in[1])};
  };
  eq.shape = [](const Node&, const std::vector<TensorType>& in) {
    return std::vector<TensorType>{TensorType(DType::boolean, broadcast(in))};
  };
  eq.doc = "elementwise a == b with broadcasting (boolean)";
  r.add(std::move(eq));

  OpDef where;
  where.name = "where";
  where.min_inputs = where.max_inputs = 3;
  where.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{at::where(in[0], in[1], in[2])};
  };
  where.shape = [](const Node&, const std::vector<TensorType>& in) {
    if (in[0].dtype != DType::boolean) throw Error("where: the condition must be boolean, got " + dtype_name(in[0].dtype));
    if (in[1].dtype != in[2].dtype)
      throw Error("where: x and y must have one dtype, got " + dtype_name(in[1].dtype) + " and " + dtype_name(in[2].dtype));
    return std::vector<TensorType>{TensorType(in[1].dtype, broadcast(in))};
  };
  where.doc = "elementwise select with broadcasting: x where cond else y";
  r.add(std::move(where));
}

}  // namespace mc::ir::ops
