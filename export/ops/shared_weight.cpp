// shared_weight -> the index computed in-graph from Range over rows and columns with int64
// Mul / Add / Mod / Div (the same integer formulas as src/ir/shared_index.h, exact in int64), then
// Gather(w, index) (* sign for hashed). The file holds the k trained floats and a few int64 scalars,
// never an out x in index (int64 indices would be twice the dense float32 weight). Every input is
// constant, so ONNX Runtime folds the subgraph to the dense weight when it loads the model.
#include "export/ops/ops.h"
#include "ir/shared_index.h"

namespace mc::exporter::ops {

namespace {

struct IntOps {
  ExportContext& ctx;
  std::string c(int64_t v) { return ctx.scalar(static_cast<double>(v), ir::DType::i64, "c"); }
  std::string bin(const char* op, const std::string& a, const std::string& b) { return ctx.op1(op, {a, b}); }
  std::string mod(const std::string& a, int64_t m) { return bin("Mod", a, c(m)); }
  std::string mul(const std::string& a, int64_t m) { return bin("Mul", a, c(m)); }
  // Range(0, n) unsqueezed at `axis`: [n, 1] (axis 1) or [1, n] (axis 0).
  std::string positions(int64_t n, int64_t axis) {
    std::string r = ctx.op1("Range", {c(0), c(n), c(1)});
    return ctx.op1("Unsqueeze", {r, ctx.const_i64({axis}, "axes")});
  }
  // (a x'^2 + b x' + c) mod p, x' = x mod p (as ir::sharing_index).
  std::string poly(const std::string& x, int64_t a, int64_t b, int64_t cc) {
    const int64_t p = ir::kSharingPrime;
    std::string xp = mod(x, p);
    std::string t = mod(bin("Mul", mod(mul(xp, a), p), xp), p);
    return mod(bin("Add", bin("Add", t, mod(mul(xp, b), p)), c(cc)), p);
  }
};

void shared_weight(const ir::Node& n, ExportContext& ctx) {
  const ir::SharingSpec s = ir::sharing_spec(n);
  IntOps o{ctx};
  const std::string i = o.positions(s.out, 1), j = o.positions(s.in, 0);
  const std::string w = ctx.in(n, 0);
  if (s.method == "hashed") {
    const auto h = ir::hash_coefficients(s.seed);
    const std::string x = o.bin("Add", o.mul(i, s.in), j);
    const std::string index = o.mod(o.poly(x, h[0], h[1], h[2]), s.k);
    const std::string bit = o.mod(o.poly(x, h[3], h[4], h[5]), 2);
    const std::string sign = ctx.op1("Cast", {o.bin("Sub", o.c(1), o.mul(bit, 2))},
                                     {OnnxAttr::Int("to", onnx_dtype(ir::DType::f32))});
    const std::string v = ctx.op1("Gather", {w, index}, {OnnxAttr::Int("axis", 0)});
    ctx.node("Mul", {v, sign}, {ctx.out(n)});
    return;
  }
  const int64_t b = s.block, ncb = (s.in + b - 1) / b;
  const std::string diag = o.mod(o.bin("Add", o.bin("Sub", o.mod(i, b), o.mod(j, b)), o.c(b)), b);
  const std::string blk = o.bin("Add", o.mul(o.bin("Div", i, o.c(b)), ncb), o.bin("Div", j, o.c(b)));
  const std::string index = o.bin("Add", o.mul(blk, b), diag);
  ctx.node("Gather", {w, index}, {ctx.out(n)}, {OnnxAttr::Int("axis", 0)});
}

}  // namespace

void register_shared_weight(ExportRegistry& r) { r.add("shared_weight", shared_weight); }

}  // namespace mc::exporter::ops
