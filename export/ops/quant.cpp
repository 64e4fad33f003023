// fake_quant -> QDQ ONNX (opset >= 13: per-channel QuantizeLinear/DequantizeLinear with `axis`).
//
// Weights (x produced by a `param`/`constant` node): the integers q = clamp(round(w * (1/scale)) +
//   zero_point, quant_min, quant_max) are computed here exactly as ATen's fake-quantize kernel does
//   (float32 reciprocal, round-half-to-even) and stored as an INT8 initializer (UINT8 only when the
//   grid does not fit int8, e.g. [0, 255]). From opset 21 a grid that fits [-8, 7] (4-, 3-, 2-bit,
//   ternary, binary) is stored as INT4, one that fits [0, 15] as UINT4 (two per byte,
//   packed4_to_proto), zero-point in the same type; below opset 21 they use the int8 container
//   (ExportSummary::wide_4bit_weights counts them). A DequantizeLinear (axis = the node's axis when
//   per-channel) turns them back into (q - zero_point) * scale, bit-identical to the executor's
//   fake-quant output. The float weight initializer is then unused and dropped by the exporter.
// Activations: QuantizeLinear -> DequantizeLinear, int8 when quant_min < 0, else uint8. Per-tensor
//   scale and zero-point are 0-d scalars (ORT rejects shape [1] at full optimisation), per-channel
//   ones 1-d with `axis`.
//   Grids narrower than the container (4-bit activations, a uint8 grid [0, 15], int8 [-127, 127]):
//   QuantizeLinear saturates to the full container range, so the input is clipped first to the
//   grid's real range [(quant_min - zp) * scale, (quant_max - zp) * scale] (Clip for per-tensor,
//   Max/Min against per-channel bound tensors otherwise). A clipped value divided by the scale is
//   within float rounding of quant_min/quant_max - zp, so it rounds onto the grid's ends and the
//   integers stay inside [quant_min, quant_max]; values inside the range are untouched.
//   No Clip is emitted when the grid fills the container (then the container's saturation is
//   the grid's clamp).
//   A per-tensor fake_quant of a relu output is written Q(y) -> DQ -> Relu -> Q -> DQ (exact, see
//   export_activation) so that ONNX Runtime sees a Q right after the conv/linear computing y.
// Grids that fit neither int8 nor uint8 (16-bit) and a zero-point outside the container have no
// QDQ form here: InputError naming the node. scale and zero_point must come from
// `constant` or `param` nodes (learned LSQ scales export with their current values).
#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

bool is_source(const ir::Node* p) { return p && (p->op() == "param" || p->op() == "constant"); }

const at::Tensor& source_tensor(const ir::Node& n, size_t i, const ExportContext& ctx, const char* what) {
  const ir::Node* p = n.input(i)->producer();
  if (!is_source(p))
    unsupported(n, std::string("fake_quant ") + what +
                       " is computed in the graph; QDQ export needs it as a constant or param (freeze it first)");
  return ctx.model().tensor(p->attrs().s("name"));
}

struct Container {
  at::ScalarType type;
  int64_t lo, hi;
};

/// int8 when the grid fits it and (for activations) quant_min < 0, else uint8.
Container container_for(const ir::Node& n, int64_t qmin, int64_t qmax, bool weight) {
  const bool fits_i8 = qmin >= -128 && qmax <= 127;
  const bool fits_u8 = qmin >= 0 && qmax <= 255;
  if (fits_i8 && (weight || qmin < 0)) return {at::kChar, -128, 127};
  if (fits_u8) return {at::kByte, 0, 255};
  if (fits_i8) return {at::kChar, -128, 127};
  unsupported(n, "fake_quant grid [" + std::to_string(qmin) + ", " + std::to_string(qmax) +
                     "] fits neither int8 nor uint8; the QDQ export writes 8-bit (and, from opset 21, 4-bit) "
                     "integers only (use at most 8 bits)");
}

at::Tensor check_zero_point(const ir::Node& n, const at::Tensor& zp_raw, const Container& c) {
  at::Tensor zp = zp_raw.detach().to(at::kFloat).round().to(at::kLong).reshape({-1});
  int64_t lo = zp.min().item<int64_t>(), hi = zp.max().item<int64_t>();
  if (lo < c.lo || hi > c.hi)
    unsupported(n, "fake_quant zero_point range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "] does not fit the " + (c.type == at::kChar ? "int8" : "uint8") + " container");
  return zp;
}

/// Scale / zero-point as ONNX wants them: 0-d per-tensor, 1-d per-channel.
at::Tensor qparam_shape(const at::Tensor& t, bool per_channel) { return per_channel ? t.reshape({-1}) : t.reshape({}); }

void export_weight(const ir::Node& n, ExportContext& ctx, const at::Tensor& w, const at::Tensor& scale_raw,
                   const at::Tensor& zp_raw, int64_t qmin, int64_t qmax, int64_t axis) {
  const Container c = container_for(n, qmin, qmax, /*weight=*/true);
  at::Tensor scale = scale_raw.detach().to(at::kFloat).reshape({-1});
  at::Tensor zp = check_zero_point(n, zp_raw, c);
  if (!at::isfinite(scale).all().item<bool>() || (scale <= 0).any().item<bool>())
    unsupported(n, "fake_quant scale must be positive and finite to export");
  at::Tensor x = w.detach().to(at::kFloat);
  std::vector<int64_t> bshape(static_cast<size_t>(x.dim()), 1);
  at::Tensor s = scale, z = zp.to(at::kFloat);
  if (axis != -1) {
    bshape[static_cast<size_t>(axis)] = x.size(axis);
    s = s.reshape(bshape);
    z = z.reshape(bshape);
  }
  // As ATen: nearbyint(x * (1.0f / scale)) + zero_point, clamped to the grid.
  at::Tensor q = at::clamp(at::round(x * at::reciprocal(s)) + z, static_cast<double>(qmin), static_cast<double>(qmax));
  const std::string base = n.input(0)->producer()->attrs().s("name");
  const int64_t zlo = zp.min().item<int64_t>(), zhi = zp.max().item<int64_t>();
  const bool fits_i4 = qmin >= -8 && qmax <= 7 && zlo >= -8 && zhi <= 7;
  const bool fits_u4 = qmin >= 0 && qmax <= 15 && zlo >= 0 && zhi <= 15;
  const bool packed4 = ctx.opset() >= 21 && (fits_i4 || fits_u4);
  std::string qname, zname;
  if (packed4) {
    qname = ctx.add_packed4(q, fits_i4, base + "_quantized");
  } else {
    qname = ctx.add_tensor(q.to(c.type).contiguous(), base + "_quantized");
    ctx.weight_initializers().insert(qname);  // int8 integers may be written sparse
  }
  ctx.stored_weights().push_back({base, {qname}, {}, false, packed4, fits_i4 || fits_u4});
  std::string sname = ctx.add_tensor(qparam_shape(scale, axis != -1).contiguous(), base + "_scale");
  if (packed4)
    zname = ctx.add_packed4(qparam_shape(zp, axis != -1).contiguous(), fits_i4, base + "_zero_point");
  else
    zname = ctx.add_tensor(qparam_shape(zp, axis != -1).to(c.type).contiguous(), base + "_zero_point");
  std::vector<OnnxAttr> attrs;
  if (axis != -1) attrs.push_back(OnnxAttr::Int("axis", axis));
  ctx.node("DequantizeLinear", {qname, sname, zname}, {ctx.out(n)}, attrs);
}

void export_activation(const ir::Node& n, ExportContext& ctx, const at::Tensor& scale_raw, const at::Tensor& zp_raw,
                       int64_t qmin, int64_t qmax, int64_t axis) {
  const Container c = container_for(n, qmin, qmax, /*weight=*/false);
  const bool per_channel = axis != -1;
  at::Tensor scale = scale_raw.detach().to(at::kFloat).reshape({-1});
  at::Tensor zp = check_zero_point(n, zp_raw, c);
  if (!at::isfinite(scale).all().item<bool>() || (scale <= 0).any().item<bool>())
    unsupported(n, "fake_quant scale must be positive and finite to export");
  std::string x = ctx.in(n, 0);
  if (qmin > c.lo || qmax < c.hi) {  // narrower grid: clip to its real range first (see header)
    at::Tensor lo = (static_cast<double>(qmin) - zp.to(at::kFloat)) * scale;
    at::Tensor hi = (static_cast<double>(qmax) - zp.to(at::kFloat)) * scale;
    if (!per_channel) {
      x = ctx.op1("Clip", {x, ctx.add_tensor(lo.reshape({}), ctx.tmp("clip_min")),
                           ctx.add_tensor(hi.reshape({}), ctx.tmp("clip_max"))});
    } else {
      std::vector<int64_t> bshape(static_cast<size_t>(ctx.in_rank(n)), 1);
      bshape[static_cast<size_t>(axis)] = -1;
      x = ctx.op1("Max", {x, ctx.add_tensor(lo.reshape(bshape).contiguous(), ctx.tmp("clip_min"))});
      x = ctx.op1("Min", {x, ctx.add_tensor(hi.reshape(bshape).contiguous(), ctx.tmp("clip_max"))});
    }
  }
  std::string sname = ctx.add_tensor(qparam_shape(scale, per_channel).contiguous(), ctx.tmp("scale"));
  std::string zname = ctx.add_tensor(qparam_shape(zp, per_channel).to(c.type).contiguous(), ctx.tmp("zero_point"));
  std::vector<OnnxAttr> attrs;
  if (per_channel) attrs.push_back(OnnxAttr::Int("axis", axis));
  const ir::Node* relu = n.input(0)->producer();
  if (relu && relu->op() == "relu" && !per_channel && qmin == c.lo && qmax == c.hi) {
    // fake_quant(relu(y)) -> Q(y) -> DQ -> Relu -> Q -> DQ. Exact: with q = Q(y),
    // Q(relu(DQ(q))) = max(q, zp) = Q(relu(y)) for a zero-point inside the grid. It puts a Q right
    // after the op that computes y (conv/linear/add), which ORT needs to run that op in integer
    // (QLinearConv, QGemm); Q after the Relu alone leaves it in float. The Relu the relu node
    // emitted is dropped as dead when nothing else reads it.
    std::string y = ctx.name_of(relu->input(0));
    std::string q0 = ctx.op1("QuantizeLinear", {y, sname, zname});
    std::string d0 = ctx.op1("DequantizeLinear", {q0, sname, zname});
    x = ctx.op1("Relu", {d0});
  }
  std::string q = ctx.op1("QuantizeLinear", {x, sname, zname}, attrs);
  ctx.node("DequantizeLinear", {q, sname, zname}, {ctx.out(n)}, attrs);
}

void fake_quant(const ir::Node& n, ExportContext& ctx) {
  const int64_t qmin = n.attrs().i("quant_min"), qmax = n.attrs().i("quant_max");
  const int64_t axis = n.attrs().i("axis", -1);
  if (ctx.in_dtype(n, 0) != ir::DType::f32) unsupported(n, "fake_quant input must be f32 to export as QDQ");
  const at::Tensor& scale = source_tensor(n, 1, ctx, "scale");
  const at::Tensor& zp = source_tensor(n, 2, ctx, "zero_point");
  const ir::Node* xp = n.input(0)->producer();
  if (is_source(xp)) {
    export_weight(n, ctx, ctx.model().tensor(xp->attrs().s("name")), scale, zp, qmin, qmax, axis);
  } else {
    export_activation(n, ctx, scale, zp, qmin, qmax, axis);
  }
}

// dynamic_quant -> DynamicQuantizeLinear -> DequantizeLinear (uint8, qparams computed at run time
// by the same rule as the IR kernel); export/dynamic_int8.cpp turns a MatMul / Gemm reading it with
// an 8-bit weight into MatMulInteger. ONNX has DynamicQuantizeLinear from opset 11.
void dynamic_quant(const ir::Node& n, ExportContext& ctx) {
  if (ctx.in_dtype(n, 0) != ir::DType::f32) unsupported(n, "dynamic_quant input must be f32 to export");
  const std::string q = ctx.tmp("dynamic_q"), s = ctx.tmp("dynamic_scale"), z = ctx.tmp("dynamic_zero_point");
  ctx.node("DynamicQuantizeLinear", {ctx.in(n, 0)}, {q, s, z});
  ctx.node("DequantizeLinear", {q, s, z}, {ctx.out(n)});
}

}  // namespace

void register_quant(ExportRegistry& r) {
  r.add("fake_quant", fake_quant);
  r.add("dynamic_quant", dynamic_quant);
}

}  // namespace mc::exporter::ops
