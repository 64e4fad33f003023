// PyTorch's fused transformer ops, lowered into primitive IR ops so that every technique sees the
// Linear layers (there is no attention op in the IR). torch 1.13 records them when a model runs
// under torch.no_grad() in eval mode (the "fast path" of nn.MultiheadAttention and
// nn.TransformerEncoderLayer):
//
//   _native_multi_head_attention(q, k, v, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
//       proj_bias, mask, need_weights, average_attn_weights, mask_type) -> (out, weights)
//     self-attention only (q, k, v one tensor [N, L, E], as the fast path requires):
//       qkv = linear(x, in_proj_weight, in_proj_bias)        scope <mha>
//       q, k, v = split(qkv, E, dim -1); each reshape [N, L, H, E/H], transpose(1, 2)
//       w = softmax(matmul(q / sqrt(E/H), transpose(k, -2, -1)), -1)
//       out = linear(reshape(transpose(matmul(w, v), 1, 2), [N, L, E]), out_proj)   scope <mha>.out_proj
//     weights (when need_weights): w, averaged over heads when average_attn_weights.
//
//   _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight,
//       proj_bias, use_gelu, norm_first, eps, norm1_w, norm1_b, norm2_w, norm2_b, ffn1_w, ffn1_b,
//       ffn2_w, ffn2_b, mask, mask_type) -> out
//     post-norm: x = norm1(src + sa(src));      x = norm2(x + ff(x))
//     pre-norm:  x = src + sa(norm1(src));      x = x + ff(norm2(x))
//     sa is the attention above (scope <layer>.self_attn), ff = linear2(relu|gelu(linear1(x))).
//
// Scopes follow the modules of nn.TransformerEncoderLayer (self_attn, self_attn.out_proj, norm1,
// norm2, linear1, linear2), the same as the unfused (scripted or batch_first=False) path gives,
// and the parameters keep their PyTorch names (self_attn.in_proj_weight, linear1.weight, ...).
// A mask (attention or key padding) is refused: the importer has one input tensor.
#include <cmath>

#include "frontend/torchscript_internal.h"

namespace mc::frontend::ts {

namespace {

using Ints = std::vector<int64_t>;

ir::Attrs attr(const char* key, ir::Attr v) {
  ir::Attrs a;
  a.set(key, std::move(v));
  return a;
}

ir::Attrs transpose_attrs(int64_t d0, int64_t d1) {
  ir::Attrs a;
  a.set("dim0", d0);
  a.set("dim1", d1);
  return a;
}

/// Self-attention of x [N, L, E] with H heads (the fused op's math); `sub` is the scope of the
/// nn.MultiheadAttention module relative to the op's own. Returns the output and, when asked
/// for, the attention weights [N, H, L, L].
ir::Value* attention(OpCtx& c, const std::string& sub, ir::Value* x, int64_t embed, int64_t heads,
                     const std::vector<ir::Value*>& proj, ir::Value** weights) {
  if (x->type().rank() != 3) c.fail("the input must be batched [N, L, E], got " + ir::shape_str(x->shape()));
  if (heads <= 0 || embed % heads != 0)
    c.fail("embed_dim " + std::to_string(embed) + " is not divisible by num_heads " + std::to_string(heads));
  if (x->shape()[2] != embed) c.fail("input " + ir::shape_str(x->shape()) + " does not end in embed_dim " + std::to_string(embed));
  const int64_t hd = embed / heads;
  ir::Value* qkv = c.emit_at(sub, "linear", {x, proj[0], proj[1]});
  ir::Attrs sp;
  sp.set("dim", int64_t{2});
  sp.set("sizes", Ints{embed, embed, embed});
  ir::Node* parts = c.emit_node_at(sub, "split", {qkv}, sp, 3);
  auto heads_first = [&](ir::Value* t) {  // [N, L, E] -> [N, H, L, hd]
    ir::Value* r = c.emit_at(sub, "reshape", {t}, attr("shape", Ints{0, -1, heads, hd}));
    return c.emit_at(sub, "transpose", {r}, transpose_attrs(1, 2));
  };
  ir::Value* q = heads_first(parts->output(0));
  ir::Value* k = heads_first(parts->output(1));
  ir::Value* v = heads_first(parts->output(2));
  q = c.emit_at(sub, "div", {q, c.scalar(std::sqrt(static_cast<double>(hd)), q)});
  ir::Value* kt = c.emit_at(sub, "transpose", {k}, transpose_attrs(2, 3));
  ir::Value* s = c.emit_at(sub, "matmul", {q, kt});
  ir::Value* w = c.emit_at(sub, "softmax", {s}, attr("dim", int64_t{-1}));
  if (weights) *weights = w;
  ir::Value* o = c.emit_at(sub, "matmul", {w, v});
  o = c.emit_at(sub, "transpose", {o}, transpose_attrs(1, 2));
  o = c.emit_at(sub, "reshape", {o}, attr("shape", Ints{0, -1, embed}));
  return c.emit_at(sub + ".out_proj", "linear", {o, proj[2], proj[3]});
}

void refuse_mask(OpCtx& c, size_t k) {
  if (!c.none(k))
    c.fail("an attention mask or key padding mask is not supported (the importer has one input tensor); "
           "import the model without a mask");
}

// _native_multi_head_attention(q, k, v, embed_dim, num_head, qkv_w, qkv_b, proj_w, proj_b, mask,
//                              need_weights, average_attn_weights, mask_type)
void native_mha(OpCtx& c) {
  refuse_mask(c, 9);
  ir::Value* x = c.t(0);
  if (!c.is_ir(1) || !c.is_ir(2) || c.in[1].value != x || c.in[2].value != x)
    c.fail("only self-attention (query, key and value one tensor) is supported");
  const bool need_weights = c.size() > 10 && !c.none(10) && c.b(10);
  const bool average = c.size() > 11 && !c.none(11) && c.b(11);
  ir::Value* w = nullptr;
  ir::Value* y = attention(c, "", x, c.i(3), c.i(4), {c.t(5), c.t(6), c.t(7), c.t(8)}, need_weights ? &w : nullptr);
  c.set(y);
  if (c.out.size() < 2) return;
  if (!need_weights) {
    c.out[1] = AVal::poison("the attention weights of _native_multi_head_attention were not computed "
                            "(need_weights=False) (at " + c.im.where(c.node) + ")");
    return;
  }
  if (average) {
    ir::Attrs a;
    a.set("dims", Ints{1});
    a.set("keepdim", int64_t{0});
    w = c.emit("mean", {w}, a);
  }
  c.set(w, 1);
}

ir::Value* norm(OpCtx& c, const std::string& sub, ir::Value* x, size_t w, double eps) {
  ir::Attrs a;
  a.set("normalized_shape", Ints{x->shape().back()});
  a.set("eps", eps);
  return c.emit_at(sub, "layer_norm", {x, c.t(w), c.t(w + 1)}, a);
}

// _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_w, qkv_b, proj_w, proj_b,
//     use_gelu, norm_first, eps, norm1_w, norm1_b, norm2_w, norm2_b, ffn1_w, ffn1_b, ffn2_w, ffn2_b,
//     mask, mask_type)
void encoder_layer(OpCtx& c) {
  refuse_mask(c, 18);
  ir::Value* src = c.t(0);
  const int64_t embed = c.i(1), heads = c.i(2);
  const bool gelu = c.b(7), norm_first = c.b(8);
  const double eps = c.f(9);
  const std::vector<ir::Value*> proj{c.t(3), c.t(4), c.t(5), c.t(6)};
  auto ff = [&](ir::Value* x) {
    ir::Value* h = c.emit_at(".linear1", "linear", {x, c.t(14), c.t(15)});
    h = gelu ? c.emit("gelu", {h}, attr("approximate", std::string("none"))) : c.emit("relu", {h});
    return c.emit_at(".linear2", "linear", {h, c.t(16), c.t(17)});
  };
  ir::Value* x = src;
  if (norm_first) {
    x = c.emit("add", {x, attention(c, ".self_attn", norm(c, ".norm1", x, 10, eps), embed, heads, proj, nullptr)});
    x = c.emit("add", {x, ff(norm(c, ".norm2", x, 12, eps))});
  } else {
    x = norm(c, ".norm1", c.emit("add", {x, attention(c, ".self_attn", x, embed, heads, proj, nullptr)}), 10, eps);
    x = norm(c, ".norm2", c.emit("add", {x, ff(x)}), 12, eps);
  }
  c.set(x);
}

}  // namespace

const std::map<std::string, OpHandler>& attention_op_handlers() {
  static const std::map<std::string, OpHandler> t = {
      {"aten::_native_multi_head_attention", native_mha},
      {"aten::_transformer_encoder_layer_fwd", encoder_layer},
  };
  return t;
}

}  // namespace mc::frontend::ts
