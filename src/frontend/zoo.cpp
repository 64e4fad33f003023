// Built-in model zoo: small classic architectures built directly in the IR, freshly initialised.
//
// Parameter and scope names follow the equivalent PyTorch module (torchvision naming), so a
// state_dict of that module maps 1:1 onto Model::tensors (BatchNorm's num_batches_tracked aside):
//
//   lenet5              conv1(5x5, 6) relu1 pool1(max 2) conv2(5x5, 16) relu2 pool2 flatten
//                       fc1(120) relu3 fc2(84) relu4 fc3(num_classes). conv1 is padded by 2 when the
//                       input is smaller than 32x32 (MNIST's 28x28 gets the classic 32x32 geometry);
//                       fc1's input size is computed from the input shape, so any C x H x W >= 14x14
//                       (padded) works.
//   lenet5_caffe        Caffe's LeNet (examples/mnist/lenet.prototxt), the LeNet-5 of Han et al. 2016's
//                       Deep Compression: conv1(5x5, 20) pool1(max 2) conv2(5x5, 50) pool2 flatten
//                       fc1(500) relu1 fc2(num_classes); no padding and no ReLU after the convolutions,
//                       as in Caffe; 431,080 parameters on 1x28x28 at 10 classes (fc1's input is
//                       computed from the input shape, so any C x H x W >= 16x16 works).
//   lenet300_100        LeCun et al. 1998's fully connected net: flatten fc1(300) relu1 fc2(100) relu2
//                       fc3(num_classes); 266,610 parameters on 1x28x28 at 10 classes (784-300-100-10).
//   resnet8, resnet20   CIFAR ResNet (He et al. 2016, sec. 4.2): conv1(3x3, 16) bn1 relu, layer1..3 of
//                       1 (resnet8) or 3 (resnet20) BasicBlocks with 16/32/64 channels, stride 2 in the
//                       first block of layer2 and layer3, shortcut = downsample.0 (1x1 conv, stride) +
//                       downsample.1 (bn) when the shape changes (option B), avgpool (global), fc.
//   mobilenet_v2_small  torchvision's MobileNetV2 with width_mult 0.5 (channels rounded to multiples
//                       of 8: stem 16, blocks 8/16/16/32/48/80/160, last conv 1280) and CIFAR strides:
//                       stem conv stride 1 and the 24-channel stage stride 1, so the network downsamples
//                       by 8 (32x32 -> 4x4, 28x28 -> 4x4). Inverted residuals (t, c, n, s):
//                       (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
//                       (c before width scaling), relu6, residual when stride 1 and in == out channels;
//                       classifier.0 dropout(0.2), classifier.1 linear. 700,490 parameters at 10 classes.
//   vit_tiny            Vision Transformer with timm's names (VisionTransformer(class_token=False,
//                       global_pool="avg")): patch_embed.proj (4x4 conv, stride 4, width 64) -> tokens,
//                       + pos_embed, blocks.0..3 pre-norm (norm1, attn.qkv one linear split into q/k/v,
//                       2 heads by reshape + permute, softmax(q k^T * attn.scale) v, attn.proj; norm2,
//                       mlp.fc1 (2x), gelu, mlp.fc2; residual adds), mean over tokens (no class token,
//                       so no expand), fc_norm, head. H and W must be multiples of 4; 138,890
//                       parameters and 7.76M MACs on 1x28x28 at 10 classes. Initialised as timm
//                       (trunc_normal 0.02 linears and pos_embed, LayerNorm 1/0, lecun-normal patch conv).
//
// Initialisation as torchvision: conv weights kaiming_normal (fan_out, relu gain), conv biases 0,
// BatchNorm weight 1 / bias 0 / running mean 0 / running var 1, linear weight and bias
// uniform(-1/sqrt(in), 1/sqrt(in)). Every draw comes from one CPU generator seeded by opts.seed, in
// graph order, so a (name, options) pair always gives the same tensors.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "common/error.h"
#include "frontend/frontend.h"

namespace mc::frontend {

namespace {

std::string join(const std::string& scope, const std::string& name) { return scope.empty() ? name : scope + "." + name; }

class ZooBuilder {
 public:
  ZooBuilder(ir::Model& m, uint64_t seed) : m_(m), gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

  ir::Value* input(const ir::Shape& shape) { return m_.graph.add_input("input", ir::TensorType(ir::DType::f32, shape)); }

  ir::Value* tensor(const char* op, const std::string& name, at::Tensor t, const std::string& scope) {
    m_.tensors[name] = std::move(t);
    ir::Attrs a;
    a.set("name", name);
    return m_.graph.add_node(op, {}, std::move(a), scope, 1, {name})->output();
  }
  ir::Value* param(const std::string& name, at::Tensor t, const std::string& scope) {
    return tensor("param", name, std::move(t), scope);
  }
  ir::Value* constant(const std::string& name, at::Tensor t, const std::string& scope) {
    return tensor("constant", name, std::move(t), scope);
  }

  ir::Value* node(const std::string& op, const std::vector<ir::Value*>& in, ir::Attrs attrs, const std::string& scope,
                  const std::string& value_name = "") {
    return m_.graph.add_node(op, in, std::move(attrs), scope, 1, {value_name.empty() ? scope : value_name})->output();
  }

  ir::Value* conv(ir::Value* x, const std::string& scope, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                  int64_t pad, int64_t groups = 1, bool bias = false) {
    // kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (cout * k * k)).
    double std = std::sqrt(2.0 / static_cast<double>(cout * k * k));
    at::Tensor w = at::empty({cout, cin / groups, k, k}).normal_(0.0, std, gen_);
    std::vector<ir::Value*> in{x, param(join(scope, "weight"), w, scope)};
    if (bias) in.push_back(param(join(scope, "bias"), at::zeros({cout}), scope));
    ir::Attrs a;
    a.set("stride", std::vector<int64_t>{stride, stride});
    a.set("padding", std::vector<int64_t>{pad, pad});
    a.set("dilation", std::vector<int64_t>{1, 1});
    a.set("groups", groups);
    return node("conv2d", in, std::move(a), scope);
  }

  ir::Value* bn(ir::Value* x, const std::string& scope, int64_t c) {
    std::vector<ir::Value*> in{x, param(join(scope, "weight"), at::ones({c}), scope),
                               param(join(scope, "bias"), at::zeros({c}), scope),
                               constant(join(scope, "running_mean"), at::zeros({c}), scope),
                               constant(join(scope, "running_var"), at::ones({c}), scope)};
    ir::Attrs a;
    a.set("eps", 1e-5);
    a.set("momentum", 0.1);
    return node("batch_norm", in, std::move(a), scope);
  }

  ir::Value* linear(ir::Value* x, const std::string& scope, int64_t in_features, int64_t out_features) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    at::Tensor w = at::empty({out_features, in_features}).uniform_(-bound, bound, gen_);
    at::Tensor b = at::empty({out_features}).uniform_(-bound, bound, gen_);
    return node("linear", {x, param(join(scope, "weight"), w, scope), param(join(scope, "bias"), b, scope)}, {}, scope);
  }

  ir::Value* relu(ir::Value* x, const std::string& scope, const std::string& value_name = "") {
    return node("relu", {x}, {}, scope, value_name);
  }
  ir::Value* relu6(ir::Value* x, const std::string& scope) {
    ir::Attrs a;
    a.set("min_val", 0.0);
    a.set("max_val", 6.0);
    return node("hardtanh", {x}, std::move(a), scope);
  }
  ir::Value* max_pool(ir::Value* x, const std::string& scope, int64_t k) {
    ir::Attrs a;
    a.set("kernel", std::vector<int64_t>{k, k});
    a.set("stride", std::vector<int64_t>{k, k});
    return node("max_pool2d", {x}, std::move(a), scope);
  }
  ir::Value* global_avg_pool(ir::Value* x, const std::string& scope) {
    ir::Attrs a;
    a.set("output_size", std::vector<int64_t>{1, 1});
    return node("adaptive_avg_pool2d", {x}, std::move(a), scope);
  }
  ir::Value* flatten(ir::Value* x, const std::string& scope) {
    ir::Attrs a;
    a.set("start_dim", int64_t{1});
    a.set("end_dim", int64_t{-1});
    return node("flatten", {x}, std::move(a), scope);
  }
  ir::Value* add(ir::Value* a, ir::Value* b, const std::string& scope) {
    return node("add", {a, b}, {}, scope, join(scope, "add"));
  }
  ir::Value* dropout(ir::Value* x, const std::string& scope, double p) {
    ir::Attrs a;
    a.set("p", p);
    return node("dropout", {x}, std::move(a), scope);
  }

  // ---- transformer pieces (timm initialisation) ----

  /// Normal(0, std) truncated at +-2 std, by inverse CDF as timm's trunc_normal_ (one uniform draw each).
  at::Tensor trunc_normal(at::IntArrayRef shape, double std) {
    const double e = std::erf(-std::sqrt(2.0));  // erf(-2 / sqrt(2)): the CDF at -2 std, mapped to [-1, 1]
    return at::empty(shape).uniform_(e, -e, gen_).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-2 * std, 2 * std);
  }
  /// timm's Linear initialisation: weight trunc_normal(0.02), bias 0.
  ir::Value* linear_tn(ir::Value* x, const std::string& scope, int64_t in_features, int64_t out_features) {
    at::Tensor w = trunc_normal({out_features, in_features}, 0.02);
    return node("linear", {x, param(join(scope, "weight"), w, scope), param(join(scope, "bias"), at::zeros({out_features}), scope)},
                {}, scope);
  }
  ir::Value* layer_norm(ir::Value* x, const std::string& scope, int64_t d) {
    ir::Attrs a;
    a.set("normalized_shape", std::vector<int64_t>{d});
    a.set("eps", 1e-6);  // timm's ViT
    return node("layer_norm", {x, param(join(scope, "weight"), at::ones({d}), scope), param(join(scope, "bias"), at::zeros({d}), scope)},
                std::move(a), scope);
  }
  ir::Value* reshape(ir::Value* x, std::vector<int64_t> shape, const std::string& scope, const std::string& value_name) {
    ir::Attrs a;
    a.set("shape", std::move(shape));
    return node("reshape", {x}, std::move(a), scope, value_name);
  }
  ir::Value* permute(ir::Value* x, std::vector<int64_t> dims, const std::string& scope, const std::string& value_name) {
    ir::Attrs a;
    a.set("dims", std::move(dims));
    return node("permute", {x}, std::move(a), scope, value_name);
  }
  std::vector<ir::Value*> split(ir::Value* x, int64_t dim, std::vector<int64_t> sizes, const std::string& scope,
                                const std::vector<std::string>& value_names) {
    ir::Attrs a;
    a.set("dim", dim);
    a.set("sizes", std::move(sizes));
    ir::Node* n = m_.graph.add_node("split", {x}, std::move(a), scope, value_names.size(), value_names);
    return {n->outputs().begin(), n->outputs().end()};
  }

  /// Shape of `v` inferred from the graph built so far.
  ir::Shape shape_of(ir::Value* v) {
    m_.infer_shapes();
    return v->shape();
  }

 private:
  ir::Model& m_;
  at::Generator gen_;
};

// ---- lenet5 --------------------------------------------------------------------------------------

ir::Value* build_lenet5(ZooBuilder& b, const ZooOptions& o) {
  const auto& s = o.input_shape;
  int64_t pad = (s[2] < 32 || s[3] < 32) ? 2 : 0;
  ir::Value* x = b.input(s);
  x = b.conv(x, "conv1", s[1], 6, 5, 1, pad, 1, true);
  x = b.relu(x, "relu1");
  x = b.max_pool(x, "pool1", 2);
  x = b.conv(x, "conv2", 6, 16, 5, 1, 0, 1, true);
  x = b.relu(x, "relu2");
  x = b.max_pool(x, "pool2", 2);
  ir::Shape fs = b.shape_of(x);
  x = b.flatten(x, "flatten");
  x = b.linear(x, "fc1", fs[1] * fs[2] * fs[3], 120);
  x = b.relu(x, "relu3");
  x = b.linear(x, "fc2", 120, 84);
  x = b.relu(x, "relu4");
  return b.linear(x, "fc3", 84, o.num_classes);
}

// ---- Caffe's LeNet (Han et al.'s LeNet-5) -----------------------------------------------------------

ir::Value* build_lenet5_caffe(ZooBuilder& b, const ZooOptions& o) {
  const auto& s = o.input_shape;
  ir::Value* x = b.input(s);
  x = b.max_pool(b.conv(x, "conv1", s[1], 20, 5, 1, 0, 1, true), "pool1", 2);
  x = b.max_pool(b.conv(x, "conv2", 20, 50, 5, 1, 0, 1, true), "pool2", 2);
  ir::Shape fs = b.shape_of(x);
  x = b.flatten(x, "flatten");
  x = b.relu(b.linear(x, "fc1", fs[1] * fs[2] * fs[3], 500), "relu1");
  return b.linear(x, "fc2", 500, o.num_classes);
}

// ---- LeNet-300-100 -------------------------------------------------------------------------------

ir::Value* build_lenet300_100(ZooBuilder& b, const ZooOptions& o) {
  const auto& s = o.input_shape;
  ir::Value* x = b.flatten(b.input(s), "flatten");
  x = b.relu(b.linear(x, "fc1", s[1] * s[2] * s[3], 300), "relu1");
  x = b.relu(b.linear(x, "fc2", 300, 100), "relu2");
  return b.linear(x, "fc3", 100, o.num_classes);
}

// ---- CIFAR ResNet --------------------------------------------------------------------------------

ir::Value* basic_block(ZooBuilder& b, ir::Value* x, const std::string& scope, int64_t cin, int64_t cout, int64_t stride) {
  ir::Value* y = b.conv(x, join(scope, "conv1"), cin, cout, 3, stride, 1);
  y = b.bn(y, join(scope, "bn1"), cout);
  y = b.relu(y, join(scope, "relu"), join(scope, "relu1"));
  y = b.conv(y, join(scope, "conv2"), cout, cout, 3, 1, 1);
  y = b.bn(y, join(scope, "bn2"), cout);
  ir::Value* shortcut = x;
  if (stride != 1 || cin != cout) {
    shortcut = b.conv(x, join(scope, "downsample.0"), cin, cout, 1, stride, 0);
    shortcut = b.bn(shortcut, join(scope, "downsample.1"), cout);
  }
  y = b.add(y, shortcut, scope);
  return b.relu(y, join(scope, "relu"), join(scope, "relu2"));
}

ir::Value* build_cifar_resnet(ZooBuilder& b, const ZooOptions& o, int blocks_per_stage) {
  ir::Value* x = b.input(o.input_shape);
  x = b.conv(x, "conv1", o.input_shape[1], 16, 3, 1, 1);
  x = b.bn(x, "bn1", 16);
  x = b.relu(x, "relu");
  int64_t cin = 16;
  const int64_t widths[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int i = 0; i < blocks_per_stage; ++i) {
      int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      x = basic_block(b, x, "layer" + std::to_string(stage + 1) + "." + std::to_string(i), cin, widths[stage], stride);
      cin = widths[stage];
    }
  }
  x = b.global_avg_pool(x, "avgpool");
  x = b.flatten(x, "flatten");
  return b.linear(x, "fc", 64, o.num_classes);
}

// ---- MobileNetV2 (CIFAR-sized) --------------------------------------------------------------------

// torchvision's _make_divisible: round to the nearest multiple of `divisor`, never below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t nv = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

// torchvision's Conv2dNormActivation (conv, bn, relu6) as submodules .0 .1 (.2 has no parameters).
ir::Value* conv_bn_relu6(ZooBuilder& b, ir::Value* x, const std::string& scope, int64_t cin, int64_t cout, int64_t k,
                         int64_t stride, int64_t groups) {
  x = b.conv(x, join(scope, "0"), cin, cout, k, stride, (k - 1) / 2, groups);
  x = b.bn(x, join(scope, "1"), cout);
  return b.relu6(x, join(scope, "2"));
}

ir::Value* inverted_residual(ZooBuilder& b, ir::Value* x, const std::string& scope, int64_t cin, int64_t cout,
                             int64_t stride, int64_t expand) {
  int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(cin * expand)));
  ir::Value* y = x;
  int idx = 0;
  std::string conv = join(scope, "conv");
  if (expand != 1) y = conv_bn_relu6(b, y, join(conv, std::to_string(idx++)), cin, hidden, 1, 1, 1);
  y = conv_bn_relu6(b, y, join(conv, std::to_string(idx++)), hidden, hidden, 3, stride, hidden);
  y = b.conv(y, join(conv, std::to_string(idx++)), hidden, cout, 1, 1, 0);
  y = b.bn(y, join(conv, std::to_string(idx++)), cout);
  if (stride == 1 && cin == cout) y = b.add(x, y, scope);
  return y;
}

ir::Value* build_mobilenet_v2_small(ZooBuilder& b, const ZooOptions& o) {
  const double width = 0.5;
  struct Setting {
    int64_t t, c, n, s;
  };
  // torchvision's settings with the 24-channel stage at stride 1 (CIFAR-sized inputs).
  const Setting settings[] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                              {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t cin = make_divisible(32 * width);
  const int64_t last = make_divisible(1280 * std::max(1.0, width));
  ir::Value* x = b.input(o.input_shape);
  int feature = 0;
  x = conv_bn_relu6(b, x, "features." + std::to_string(feature++), o.input_shape[1], cin, 3, 1, 1);
  for (const auto& st : settings) {
    int64_t cout = make_divisible(static_cast<double>(st.c) * width);
    for (int64_t i = 0; i < st.n; ++i) {
      x = inverted_residual(b, x, "features." + std::to_string(feature++), cin, cout, i == 0 ? st.s : 1, st.t);
      cin = cout;
    }
  }
  x = conv_bn_relu6(b, x, "features." + std::to_string(feature++), cin, last, 1, 1, 1);
  x = b.global_avg_pool(x, "avgpool");
  x = b.flatten(x, "flatten");
  x = b.dropout(x, "classifier.0", 0.2);
  return b.linear(x, "classifier.1", last, o.num_classes);
}

// ---- Vision Transformer (timm's VisionTransformer layout, mean-pooled) ------------------------------

struct ViTConfig {
  int64_t patch, dim, depth, heads, mlp_ratio;
};

// Multi-head self-attention on x: [B, N, D] as timm's Attention: one qkv linear, split into q, k, v,
// heads by reshape + permute, softmax(q k^T * head_dim^-0.5) v, heads merged back, out-projection.
ir::Value* vit_attention(ZooBuilder& b, ir::Value* x, const std::string& scope, int64_t n, const ViTConfig& c) {
  const int64_t hd = c.dim / c.heads;
  ir::Value* qkv = b.linear_tn(x, join(scope, "qkv"), c.dim, 3 * c.dim);
  auto parts = b.split(qkv, 2, {c.dim, c.dim, c.dim}, scope, {join(scope, "q"), join(scope, "k"), join(scope, "v")});
  auto heads = [&](ir::Value* t, const char* name, std::vector<int64_t> dims) {  // [B, N, D] -> per-head layout
    t = b.reshape(t, {0, n, c.heads, hd}, scope, join(scope, name) + "_heads");
    return b.permute(t, std::move(dims), scope, join(scope, name) + "_t");
  };
  ir::Value* q = heads(parts[0], "q", {0, 2, 1, 3});  // [B, H, N, hd]
  ir::Value* k = heads(parts[1], "k", {0, 2, 3, 1});  // [B, H, hd, N]
  ir::Value* v = heads(parts[2], "v", {0, 2, 1, 3});  // [B, H, N, hd]
  ir::Value* s = b.node("matmul", {q, k}, {}, scope, join(scope, "scores"));
  ir::Value* scale = b.constant(join(scope, "scale"), at::scalar_tensor(1.0 / std::sqrt(static_cast<double>(hd))), scope);
  s = b.node("mul", {s, scale}, {}, scope, join(scope, "scaled"));
  ir::Attrs sm;
  sm.set("dim", int64_t{-1});
  ir::Value* a = b.node("softmax", {s}, std::move(sm), scope, join(scope, "softmax"));
  ir::Value* o = b.node("matmul", {a, v}, {}, scope, join(scope, "context"));  // [B, H, N, hd]
  o = b.permute(o, {0, 2, 1, 3}, scope, join(scope, "context_t"));
  o = b.reshape(o, {0, n, c.dim}, scope, join(scope, "merged"));
  return b.linear_tn(o, join(scope, "proj"), c.dim, c.dim);
}

// Pre-norm encoder block: x + attn(norm1(x)), then x + mlp(norm2(x)) with mlp = fc1, gelu, fc2.
ir::Value* vit_block(ZooBuilder& b, ir::Value* x, const std::string& scope, int64_t n, const ViTConfig& c) {
  ir::Value* y = vit_attention(b, b.layer_norm(x, join(scope, "norm1"), c.dim), join(scope, "attn"), n, c);
  x = b.node("add", {x, y}, {}, scope, join(scope, "add1"));
  y = b.layer_norm(x, join(scope, "norm2"), c.dim);
  y = b.linear_tn(y, join(scope, "mlp.fc1"), c.dim, c.mlp_ratio * c.dim);
  y = b.node("gelu", {y}, {}, join(scope, "mlp.act"));
  y = b.linear_tn(y, join(scope, "mlp.fc2"), c.mlp_ratio * c.dim, c.dim);
  return b.node("add", {x, y}, {}, scope, join(scope, "add2"));
}

ir::Value* build_vit(ZooBuilder& b, const ZooOptions& o, const ViTConfig& c) {
  const auto& s = o.input_shape;
  if (s[2] % c.patch != 0 || s[3] % c.patch != 0)
    throw InputError("zoo model 'vit_tiny' cuts the input into " + std::to_string(c.patch) + "x" + std::to_string(c.patch) +
                     " patches: height and width must be multiples of " + std::to_string(c.patch) + ", got " +
                     ir::shape_str(s) + " (e.g. 1,1,28,28 or 1,3,32,32)");
  const int64_t n = (s[2] / c.patch) * (s[3] / c.patch);
  ir::Value* x = b.input(s);
  // Patch embedding: lecun-normal conv (trunc_normal, std = 1/sqrt(fan_in), as torchvision's conv_proj), bias 0.
  const int64_t fan_in = s[1] * c.patch * c.patch;
  at::Tensor pw = b.trunc_normal({c.dim, s[1], c.patch, c.patch}, 1.0 / std::sqrt(static_cast<double>(fan_in)));
  ir::Attrs ca;
  ca.set("stride", std::vector<int64_t>{c.patch, c.patch});
  ca.set("padding", std::vector<int64_t>{0, 0});
  ca.set("dilation", std::vector<int64_t>{1, 1});
  ca.set("groups", int64_t{1});
  x = b.node("conv2d", {x, b.param("patch_embed.proj.weight", pw, "patch_embed.proj"),
                        b.param("patch_embed.proj.bias", at::zeros({c.dim}), "patch_embed.proj")},
             std::move(ca), "patch_embed.proj");
  ir::Attrs fa;
  fa.set("start_dim", int64_t{2});
  fa.set("end_dim", int64_t{-1});
  x = b.node("flatten", {x}, std::move(fa), "patch_embed", "patch_embed.flatten");  // [B, D, N]
  ir::Attrs ta;
  ta.set("dim0", int64_t{1});
  ta.set("dim1", int64_t{2});
  x = b.node("transpose", {x}, std::move(ta), "patch_embed", "patch_embed.tokens");  // [B, N, D]
  x = b.node("add", {x, b.param("pos_embed", b.trunc_normal({1, n, c.dim}, 0.02), "pos_embed")}, {}, "pos_embed",
             "pos_embed.add");
  for (int64_t i = 0; i < c.depth; ++i) x = vit_block(b, x, "blocks." + std::to_string(i), n, c);
  ir::Attrs ma;
  ma.set("dims", std::vector<int64_t>{1});
  x = b.node("mean", {x}, std::move(ma), "global_pool");  // mean over tokens: [B, D]
  x = b.layer_norm(x, "fc_norm", c.dim);
  return b.linear_tn(x, "head", c.dim, o.num_classes);
}

// vit_tiny's size, chosen by measured Fashion-MNIST accuracy per minute of training (docs/architecture.md).
const ViTConfig kVitTiny{/*patch=*/4, /*dim=*/64, /*depth=*/4, /*heads=*/2, /*mlp_ratio=*/2};

struct ZooEntry {
  const char* name;
  std::function<ir::Value*(ZooBuilder&, const ZooOptions&)> build;  // returns the output
};

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> entries = {
      {"lenet5", build_lenet5},
      {"lenet5_caffe", build_lenet5_caffe},
      {"lenet300_100", build_lenet300_100},
      {"resnet8", [](ZooBuilder& b, const ZooOptions& o) { return build_cifar_resnet(b, o, 1); }},
      {"resnet20", [](ZooBuilder& b, const ZooOptions& o) { return build_cifar_resnet(b, o, 3); }},
      {"mobilenet_v2_small", build_mobilenet_v2_small},
      {"vit_tiny", [](ZooBuilder& b, const ZooOptions& o) { return build_vit(b, o, kVitTiny); }},
  };
  return entries;
}

std::string known_names() {
  std::string s;
  for (auto& n : zoo_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> zoo_names() {
  std::vector<std::string> out;
  for (auto& e : zoo()) out.push_back(e.name);
  return out;
}

ir::Model build_zoo(const std::string& name, const ZooOptions& opts) {
  const ZooEntry* entry = nullptr;
  for (auto& e : zoo())
    if (name == e.name) entry = &e;
  if (!entry) throw InputError("unknown zoo model '" + name + "' (known: " + known_names() + ")");
  const auto& s = opts.input_shape;
  if (s.size() != 4 || s[0] <= 0 || s[1] <= 0 || s[2] <= 0 || s[3] <= 0)
    throw InputError("zoo model '" + name + "' wants a 4-d input shape N,C,H,W (e.g. 1,3,32,32), got " + ir::shape_str(s));
  if (opts.num_classes <= 0)
    throw InputError("zoo model '" + name + "': num_classes must be positive, got " + std::to_string(opts.num_classes));

  ir::Model m;
  m.name = name;
  ZooBuilder b(m, opts.seed);
  try {
    m.graph.set_outputs({entry->build(b, opts)});
    m.infer_shapes();
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError("zoo model '" + name + "' cannot take input " + ir::shape_str(s) + ": " + e.what() +
                     " (the input is probably too small; e.g. 1,1,28,28 or 1,3,32,32 work)");
  }
  m.verify();
  return m;
}

}  // namespace mc::frontend
