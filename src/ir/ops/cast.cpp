// cast[dtype](x): x converted to `dtype` (a dtype name of ir/types.h: f32, i64, boolean, ...), as
// tensor.to(dtype) does: float -> integer truncates toward zero, anything -> boolean is x != 0.
// It is what an integer input (an attention mask of 0/1 ids) takes to reach float arithmetic.
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {
DType cast_dtype(const Node& n) {
  DType d;
  const std::string& s = n.attrs().s("dtype");
  if (!parse_dtype(s, &d)) throw Error("cast: unknown dtype '" + s + "' (use f32, f16, f64, i64, i32, i8, u8, boolean)");
  return d;
}
}  // namespace

void register_cast_ops(OpRegistry& r) {
  OpDef d;
  d.name = "cast";
  d.min_inputs = d.max_inputs = 1;
  d.required_attrs = {"dtype"};
  d.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{in[0].to(to_scalar_type(cast_dtype(n)))};
  };
  d.shape = [](const Node& n, const std::vector<TensorType>& in) {
    TensorType t = in[0];
    t.dtype = cast_dtype(n);
    return std::vector<TensorType>{t};
  };
  d.doc = "dtype conversion (tensor.to(dtype))";
  r.add(std::move(d));
}

}  // namespace mc::ir::ops
