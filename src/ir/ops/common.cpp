#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

at::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::f32: return at::kFloat;
    case DType::f16: return at::kHalf;
    case DType::f64: return at::kDouble;
    case DType::i64: return at::kLong;
    case DType::i32: return at::kInt;
    case DType::i8: return at::kChar;
    case DType::u8: return at::kByte;
    case DType::boolean: return at::kBool;
  }
  return at::kFloat;
}

DType from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::f32;
    case at::kHalf: return DType::f16;
    case at::kDouble: return DType::f64;
    case at::kLong: return DType::i64;
    case at::kInt: return DType::i32;
    case at::kChar: return DType::i8;
    case at::kByte: return DType::u8;
    case at::kBool: return DType::boolean;
    default: throw Error(std::string("unsupported tensor dtype ") + c10::toString(t));
  }
}

TensorType type_of(const at::Tensor& t) {
  return TensorType(from_scalar_type(t.scalar_type()), Shape(t.sizes().begin(), t.sizes().end()));
}

std::vector<TensorType> meta_shapes(const Node& n, const std::vector<TensorType>& in, const KernelFn& kernel) {
  std::vector<at::Tensor> ts;
  for (auto& t : in) ts.push_back(at::empty(t.shape, at::TensorOptions().device(at::kMeta).dtype(to_scalar_type(t.dtype))));
  std::vector<at::Tensor> outs;
  try {
    outs = kernel(n, ts, KernelContext{});
  } catch (const c10::Error& e) {
    throw Error(first_line(e.what_without_backtrace()));
  }
  std::vector<TensorType> types;
  for (auto& o : outs) types.push_back(type_of(o));
  return types;
}

std::vector<TensorType> same_as_input(const Node&, const std::vector<TensorType>& in) { return {in.at(0)}; }

int64_t wrap_dim(int64_t dim, int64_t rank, const Node& n) {
  int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw Error(n.describe() + ": dim " + std::to_string(dim) + " out of range for rank " + std::to_string(rank));
  return d;
}

void add_unary(OpRegistry& r, const std::string& name,
               std::function<at::Tensor(const at::Tensor&, const Node&, const KernelContext&)> fn,
               std::vector<std::string> optional_attrs, std::string doc) {
  OpDef d;
  d.name = name;
  d.min_inputs = d.max_inputs = 1;
  d.optional_attrs = std::move(optional_attrs);
  d.shape = same_as_input;
  d.kernel = [fn](const Node& n, const std::vector<at::Tensor>& in, const KernelContext& ctx) {
    return std::vector<at::Tensor>{fn(in[0], n, ctx)};
  };
  d.doc = std::move(doc);
  r.add(std::move(d));
}

}  // namespace mc::ir::ops
