// Every op's ONNX mapping: a tiny IR graph is exported, run in ONNX Runtime (graph optimization
// level 'all') at batch 1 and batch 3 (the exported batch dim is symbolic) and compared with our
// executor: max |ORT - ours| <= 1e-4 x max |ours|.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "export/onnx_export.h"
#include "export_test_util.h"
#include "ir/op_registry.h"

namespace mc {
namespace {

struct OpCase {
  std::string name;
  std::string ir;  // body between "graph(%x: f32[...]) {" and "}"
  std::vector<int64_t> input;  // input shape, batch 1
  std::map<std::string, std::vector<int64_t>> tensors;
  std::vector<int> opsets = {13};
  std::vector<std::string> expect_ops = {};  // ONNX op types the export must contain
  double input_scale = 2.0;  // an i64 input: values uniform in [0, input_scale)
  std::string input_dtype = "f32";
};

std::string graph_text(const OpCase& c) {
  std::string shape;
  for (size_t i = 0; i < c.input.size(); ++i) shape += (i ? "," : "") + std::to_string(c.input[i]);
  return "graph(%x: " + c.input_dtype + "[" + shape + "]) {\n" + c.ir + "\n}\n";
}

const std::vector<OpCase>& cases() {
  static const std::vector<OpCase> v = {
      // conv / pad
      {"conv2d", R"(%w = param[name="c.weight"]() @c
  %b = param[name="c.bias"]() @c
  %y = conv2d[stride=[2,2], padding=[1,1], dilation=[1,1], groups=1](%x, %w, %b) @c
  return(%y))", {1, 3, 9, 9}, {{"c.weight", {4, 3, 3, 3}}, {"c.bias", {4}}}, {13}, {"Conv"}},
      {"conv2d_depthwise_dilated_nobias", R"(%w = param[name="c.weight"]() @c
  %y = conv2d[stride=[1,2], padding=[2,0], dilation=[2,1], groups=3](%x, %w) @c
  return(%y))", {1, 3, 9, 9}, {{"c.weight", {6, 1, 3, 3}}}, {13}, {"Conv"}},
      {"pad_constant", R"(%y = pad[pads=[1,2,0,3], mode="constant", value=0.5](%x) @p
  return(%y))", {1, 2, 5, 6}, {}, {13}, {"Pad"}},
      {"pad_constant_3dims", R"(%y = pad[pads=[1,0,2,1,1,2]](%x) @p
  return(%y))", {1, 2, 5, 6}, {}, {13}, {"Pad"}},
      {"pad_reflect", R"(%y = pad[pads=[2,1,1,3], mode="reflect"](%x) @p
  return(%y))", {1, 2, 5, 6}, {}, {13}, {"Pad"}},
      {"pad_replicate", R"(%y = pad[pads=[2,1,1,3], mode="replicate"](%x) @p
  return(%y))", {1, 2, 5, 6}, {}, {13}, {"Pad"}},
      {"pad_circular", R"(%y = pad[pads=[2,1,1,3], mode="circular"](%x) @p
  return(%y))", {1, 2, 5, 6}, {}, {13}, {"Slice", "Concat"}},
      // eq / where: an int64 0/1 mask compared with 0 selects a fill value (x.masked_fill(mask == 0, v))
      {"eq_where_mask_fill", R"(%w = param[name="m.w"]() @m
  %zero = sub(%w, %w) @m
  %zero_i = cast[dtype="i64"](%zero) @m
  %pad = eq(%x, %zero_i) @m
  %f = cast[dtype="f32"](%x) @m
  %s = mul(%f, %w) @m
  %v = param[name="m.fill"]() @m
  %y = where(%pad, %v, %s) @m
  return(%y))", {1, 2, 6}, {{"m.w", {6}}, {"m.fill", {1}}}, {13}, {"Equal", "Where"}, 2.0, "i64"},
      // cast: a 0/1 int64 mask to float (as a BERT attention mask is); float -> int64 truncates
      // toward zero in both (x scaled to +-6, so most values are not integers)
      {"cast_i64_to_f32", R"(%y = cast[dtype="f32"](%x) @c
  return(%y))", {1, 2, 5}, {}, {13}, {"Cast"}, 2.0, "i64"},
      {"cast_f32_to_i64_and_back", R"(%i = cast[dtype="i64"](%x) @c
  %y = cast[dtype="f32"](%i) @c
  return(%y))", {1, 2, 5}, {}, {13}, {"Cast"}, 6.0},
      // linear / matmul
      {"linear_2d", R"(%w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %y = linear(%x, %w, %b) @fc
  return(%y))", {1, 6}, {{"fc.weight", {5, 6}}, {"fc.bias", {5}}}, {13}, {"Gemm"}},
      {"linear_2d_nobias", R"(%w = param[name="fc.weight"]() @fc
  %y = linear(%x, %w) @fc
  return(%y))", {1, 6}, {{"fc.weight", {5, 6}}}, {13}, {"Gemm"}},
      {"linear_3d", R"(%w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %y = linear(%x, %w, %b) @fc
  return(%y))", {1, 4, 6}, {{"fc.weight", {5, 6}}, {"fc.bias", {5}}}, {13}, {"MatMul", "Add"}},
      {"linear_3d_nobias", R"(%w = param[name="fc.weight"]() @fc
  %y = linear(%x, %w) @fc
  return(%y))", {1, 4, 6}, {{"fc.weight", {5, 6}}}, {13}, {"MatMul"}},
      {"matmul", R"(%w = param[name="m.weight"]() @m
  %y = matmul(%x, %w) @m
  return(%y))", {1, 4, 6}, {{"m.weight", {6, 3}}}, {13}, {"MatMul"}},
      // embedding: int64 token ids (every row of the 11-row table reachable) -> Gather
      {"embedding", R"(%w = param[name="emb.weight"]() @emb
  %y = embedding(%x, %w) @emb
  return(%y))", {1, 7}, {{"emb.weight", {11, 4}}}, {13}, {"Gather"}, 11.0, "i64"},
      // shared weights (the share stage): the index computed in the graph, the file holds w only
      {"shared_weight_hashed", R"(%w = param[name="fc.weight.shared"]() @fc
  %v = shared_weight[method="hashed", out=5, in=6, k=7, seed=3](%w) @fc
  %b = param[name="fc.bias"]() @fc
  %y = linear(%x, %v, %b) @fc
  return(%y))", {1, 6}, {{"fc.weight.shared", {7}}, {"fc.bias", {5}}}, {13}, {"Range", "Mod", "Gather", "Mul", "Gemm"}},
      {"shared_weight_circulant", R"(%w = param[name="fc.weight.shared"]() @fc
  %v = shared_weight[method="circulant", out=5, in=6, k=16, block=4](%w) @fc
  %y = linear(%x, %v) @fc
  return(%y))", {1, 6}, {{"fc.weight.shared", {16}}}, {13}, {"Range", "Mod", "Gather"}},
      // norms
      {"batch_norm", R"(%g = param[name="bn.weight"]() @bn
  %b = param[name="bn.bias"]() @bn
  %m = constant[name="bn.running_mean"]() @bn
  %v = constant[name="bn.running_var"]() @bn
  %y = batch_norm[eps=0.001, momentum=0.1](%x, %g, %b, %m, %v) @bn
  return(%y))", {1, 3, 4, 4}, {{"bn.weight", {3}}, {"bn.bias", {3}}, {"bn.running_mean", {3}}, {"bn.running_var", {3}}},
       {13}, {"BatchNormalization"}},
      {"layer_norm_affine", R"(%g = param[name="ln.weight"]() @ln
  %b = param[name="ln.bias"]() @ln
  %y = layer_norm[normalized_shape=[6], eps=1e-05](%x, %g, %b) @ln
  return(%y))", {1, 4, 6}, {{"ln.weight", {6}}, {"ln.bias", {6}}}, {13, 17}},
      {"layer_norm_weight_only", R"(%g = param[name="ln.weight"]() @ln
  %y = layer_norm[normalized_shape=[6], eps=1e-05](%x, %g) @ln
  return(%y))", {1, 4, 6}, {{"ln.weight", {6}}}, {13, 17}},
      {"layer_norm_plain_2dims", R"(%y = layer_norm[normalized_shape=[4,6], eps=1e-06](%x) @ln
  return(%y))", {1, 3, 4, 6}, {}, {13, 17}},
      // activations
      {"relu", "%y = relu(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Relu"}},
      {"relu6", "%y = hardtanh[min_val=0.0, max_val=6.0](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Clip"}, 5.0},
      {"hardtanh", "%y = hardtanh[min_val=-0.5, max_val=1.5](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Clip"}},
      {"sigmoid", "%y = sigmoid(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Sigmoid"}},
      {"hardsigmoid", "%y = hardsigmoid(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"HardSigmoid"}, 5.0},
      {"hardswish", "%y = hardswish(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13, 14}, {}, 5.0},
      {"silu", "%y = silu(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Sigmoid", "Mul"}},
      {"gelu", "%y = gelu(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Erf"}},
      // run-time uint8 quantize-dequantize (ORT's DynamicQuantizeLinear rule); bit-exactness against ORT,
      // and the MatMulInteger lowering, are tested in tests/quant/transformer_int8_test.cpp
      {"dynamic_quant", "%y = dynamic_quant(%x) @q\n  return(%y)", {1, 3, 4, 5}, {}, {13},
       {"DynamicQuantizeLinear", "DequantizeLinear"}},
      {"gelu_tanh", "%y = gelu[approximate=\"tanh\"](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Tanh"}},
      {"tanh", "%y = tanh(%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Tanh"}},
      {"leaky_relu", "%y = leaky_relu[negative_slope=0.2](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"LeakyRelu"}},
      {"softmax", "%y = softmax[dim=1](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Softmax"}},
      {"log_softmax", "%y = log_softmax[dim=-1](%x) @a\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"LogSoftmax"}},
      {"identity_dropout_stochastic_depth", R"(%a = relu(%x) @r
  %b = identity(%a) @i
  %c = dropout[p=0.5](%b) @d
  %d = stochastic_depth[p=0.2, mode="row"](%c) @s
  %y = sigmoid(%d) @a
  return(%y))", {1, 3, 4, 4}, {}, {13}, {"Relu", "Sigmoid"}},
      {"dropout_as_output", R"(%a = relu(%x) @r
  %y = dropout[p=0.5](%a) @d
  return(%y))", {1, 3, 4, 4}, {}, {13}},
      {"identity_of_input", R"(%y = identity(%x) @i
  return(%y))", {1, 3, 4, 4}, {}, {13}},
      // elementwise
      {"add_sub_mul_div", R"(%p = param[name="p"]() @e
  %q = constant[name="q"]() @e
  %a = add(%x, %p) @add
  %s = sub(%a, %x) @sub
  %m = mul(%s, %q) @mul
  %e = sigmoid(%x) @sig
  %o = add(%e, %p) @add2
  %y = div(%m, %o) @div
  return(%y))", {1, 3, 4, 4}, {{"p", {3, 1, 1}}, {"q", {}}}, {13}, {"Add", "Sub", "Mul", "Div"}},
      // shape ops
      {"cat", R"(%a = relu(%x) @r
  %y = cat[dim=1](%x, %a, %x) @cat
  return(%y))", {1, 3, 4, 4}, {}, {13}, {"Concat"}},
      {"flatten_1", "%y = flatten[start_dim=1](%x) @f\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Flatten"}},
      {"flatten_2", "%y = flatten[start_dim=2, end_dim=3](%x) @f\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Reshape"}},
      {"flatten_middle", "%y = flatten[start_dim=1, end_dim=2](%x) @f\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"Reshape"}},
      {"flatten_0", "%y = flatten[start_dim=0](%x) @f\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Reshape"}},
      {"reshape", "%y = reshape[shape=[0,-1,4]](%x) @r\n  return(%y)", {1, 3, 4, 4}, {}, {13}, {"Reshape"}},
      {"reshape_channel_shuffle", R"(%a = reshape[shape=[0,2,3,4,4]](%x) @s
  %b = transpose[dim0=1, dim1=2](%a) @s
  %y = reshape[shape=[0,-1,4,4]](%b) @s
  return(%y))", {1, 6, 4, 4}, {}, {13}, {"Reshape", "Transpose"}},
      {"permute", "%y = permute[dims=[0,2,3,1]](%x) @p\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"Transpose"}},
      {"transpose", "%y = transpose[dim0=1, dim1=-1](%x) @t\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"Transpose"}},
      {"split", R"(%a, %b, %c = split[dim=1, sizes=[1,3,2]](%x) @s
  %r = relu(%a) @r
  %y = cat[dim=1](%c, %r, %b) @cat
  return(%y))", {1, 6, 4, 4}, {}, {13}, {"Split"}},
      {"unsqueeze", "%y = unsqueeze[dim=-1](%x) @u\n  return(%y)", {1, 3, 4}, {}, {13}, {"Unsqueeze"}},
      {"index_select", "%y = index_select[dim=2, index=[3,0,0,2]](%x) @g\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"Gather"}},
      // Swin's relative position bias: a trained table gathered with a constant index, added to x
      {"index_select_param_table", R"(%t = param[name="attn.table"]() @attn
  %g = index_select[dim=0, index=[0,1,6,2,3,3,5,4,6,0,1,2,6,4,2,0]](%t) @attn
  %r = reshape[shape=[4,4,3]](%g) @attn
  %b = permute[dims=[2,0,1]](%r) @attn
  %y = add(%x, %b) @attn
  return(%y))", {1, 3, 4, 4}, {{"attn.table", {7, 3}}}, {13}, {"Gather"}},
      {"unsqueeze_squeeze", R"(%a = unsqueeze[dim=1](%x) @u
  %b = relu(%a) @r
  %y = squeeze[dims=[1,2]](%b) @s
  return(%y))", {1, 3, 4}, {}, {13}, {"Unsqueeze", "Squeeze"}},
      {"expand_batch", R"(%t = param[name="tok"]() @e
  %a = expand[shape=[0,-1,-1]](%t, %x) @e
  %y = cat[dim=1](%a, %x) @cat
  return(%y))", {1, 3, 4}, {{"tok", {1, 1, 4}}}, {13}, {"Expand", "Shape", "Gather"}},
      {"expand_static", R"(%a = expand[shape=[2,-1,3,4]](%x) @e
  return(%a))", {1, 1, 4}, {}, {13}, {"Expand"}},
      // pooling and reductions
      {"max_pool2d", "%y = max_pool2d[kernel=[3,3], stride=[2,2], padding=[1,1]](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"MaxPool"}},
      {"max_pool2d_ceil", "%y = max_pool2d[kernel=[2,2], stride=[2,2], ceil_mode=1](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"MaxPool"}},
      {"max_pool2d_ceil_pad", "%y = max_pool2d[kernel=[3,3], stride=[2,2], padding=[1,1], ceil_mode=1](%x) @p\n  return(%y)", {1, 3, 10, 10}, {}, {13}, {"MaxPool"}},
      {"max_pool2d_ceil_drops_last", "%y = max_pool2d[kernel=[2,2], stride=[2,2], padding=[1,1], ceil_mode=1](%x) @p\n  return(%y)", {1, 3, 5, 5}, {}, {13}, {"MaxPool"}},
      {"avg_pool2d_ceil_counted_drops_last", "%y = avg_pool2d[kernel=[2,2], stride=[2,2], padding=[1,1], ceil_mode=1, count_include_pad=1](%x) @p\n  return(%y)", {1, 3, 5, 5}, {}, {13}, {"AveragePool"}},
      {"avg_pool2d_ceil_counted", "%y = avg_pool2d[kernel=[3,3], stride=[2,2], padding=[1,1], ceil_mode=1, count_include_pad=1](%x) @p\n  return(%y)", {1, 3, 10, 10}, {}, {13}, {"AveragePool"}},
      {"avg_pool2d_ceil_nopad", "%y = avg_pool2d[kernel=[2,2], stride=[2,2], ceil_mode=1](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"AveragePool"}},
      {"max_pool2d_dilated", "%y = max_pool2d[kernel=[2,2], stride=[1,1], dilation=[2,2]](%x) @p\n  return(%y)", {1, 3, 7, 7}, {}, {13}, {"MaxPool"}},
      {"max_pool2d_default_stride", "%y = max_pool2d[kernel=[2,2]](%x) @p\n  return(%y)", {1, 3, 8, 8}, {}, {13}, {"MaxPool"}},
      {"avg_pool2d_pad_counted", "%y = avg_pool2d[kernel=[3,3], stride=[2,2], padding=[1,1], count_include_pad=1](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"AveragePool"}},
      {"avg_pool2d_pad_not_counted", "%y = avg_pool2d[kernel=[3,3], stride=[2,2], padding=[1,1], count_include_pad=0](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"AveragePool"}},
      {"avg_pool2d_ceil", "%y = avg_pool2d[kernel=[2,2], stride=[2,2], ceil_mode=1, count_include_pad=0](%x) @p\n  return(%y)", {1, 3, 9, 9}, {}, {13}, {"AveragePool"}},
      {"adaptive_avg_pool2d_1x1", "%y = adaptive_avg_pool2d[output_size=[1,1]](%x) @p\n  return(%y)", {1, 3, 7, 7}, {}, {13}, {"GlobalAveragePool"}},
      {"adaptive_avg_pool2d_2x3", "%y = adaptive_avg_pool2d[output_size=[2,3]](%x) @p\n  return(%y)", {1, 3, 8, 9}, {}, {13}, {"AveragePool"}},
      {"adaptive_avg_pool2d_same", "%y = adaptive_avg_pool2d[output_size=[4,4]](%x) @p\n  %z = relu(%y) @r\n  return(%z)", {1, 3, 4, 4}, {}, {13}},
      {"adaptive_max_pool2d_1x1", "%y = adaptive_max_pool2d[output_size=[1,1]](%x) @p\n  return(%y)", {1, 3, 7, 7}, {}, {13}, {"GlobalMaxPool"}},
      {"adaptive_max_pool2d_2x2", "%y = adaptive_max_pool2d[output_size=[2,2]](%x) @p\n  return(%y)", {1, 3, 8, 8}, {}, {13}, {"MaxPool"}},
      // adaptive pooling where the input is not a multiple of the output (VGG's 7x7 classifier pool on
      // smaller and larger maps): Slice + ReduceMean / ReduceMax + Concat per axis
      {"adaptive_avg_pool2d_5x5_to_7x7", "%y = adaptive_avg_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 5, 5}, {}, {13}, {"Slice", "ReduceMean", "Concat"}},
      {"adaptive_avg_pool2d_10x10_to_7x7", "%y = adaptive_avg_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 10, 10}, {}, {13}, {"Slice", "ReduceMean", "Concat"}},
      {"adaptive_avg_pool2d_13x9_to_7x7", "%y = adaptive_avg_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 13, 9}, {}, {13}, {"Slice", "ReduceMean", "Concat"}},
      {"adaptive_avg_pool2d_3d_one_axis", "%y = adaptive_avg_pool2d[output_size=[3,4]](%x) @p\n  return(%y)", {1, 7, 4}, {}, {13}, {"Slice", "ReduceMean", "Concat"}},
      {"adaptive_max_pool2d_5x5_to_7x7", "%y = adaptive_max_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 5, 5}, {}, {13}, {"Slice", "ReduceMax", "Concat"}},
      {"adaptive_max_pool2d_10x10_to_7x7", "%y = adaptive_max_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 10, 10}, {}, {13}, {"Slice", "ReduceMax", "Concat"}},
      {"adaptive_max_pool2d_13x9_to_7x7", "%y = adaptive_max_pool2d[output_size=[7,7]](%x) @p\n  return(%y)", {1, 3, 13, 9}, {}, {13}, {"Slice", "ReduceMax", "Concat"}},
      {"pool_3d_input", R"(%a = max_pool2d[kernel=[2,2]](%x) @p
  %y = avg_pool2d[kernel=[2,2], stride=[1,1]](%a) @p2
  return(%y))", {1, 8, 8}, {}, {13}, {"MaxPool", "AveragePool", "Squeeze"}},
      {"mean_keepdim", "%y = mean[dims=[2,3], keepdim=1](%x) @m\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"ReduceMean"}},
      {"mean_last", "%y = mean[dims=[-1]](%x) @m\n  return(%y)", {1, 3, 4, 5}, {}, {13}, {"ReduceMean"}},
      // a small network
      {"conv_bn_relu_pool_fc", R"(%cw = param[name="conv.weight"]() @conv
  %cb = param[name="conv.bias"]() @conv
  %c = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %cw, %cb) @conv
  %g = param[name="bn.weight"]() @bn
  %be = param[name="bn.bias"]() @bn
  %rm = constant[name="bn.running_mean"]() @bn
  %rv = constant[name="bn.running_var"]() @bn
  %n = batch_norm[eps=1e-05, momentum=0.1](%c, %g, %be, %rm, %rv) @bn
  %r = relu(%n) @relu
  %p = max_pool2d[kernel=[2,2]](%r) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %fw = param[name="fc.weight"]() @fc
  %fb = param[name="fc.bias"]() @fc
  %y = linear(%f, %fw, %fb) @fc
  return(%y))", {1, 3, 6, 6},
       {{"conv.weight", {4, 3, 3, 3}}, {"conv.bias", {4}}, {"bn.weight", {4}}, {"bn.bias", {4}}, {"bn.running_mean", {4}},
        {"bn.running_var", {4}}, {"fc.weight", {5, 36}}, {"fc.bias", {5}}},
       {13, 17}, {"Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"}},
  };
  return v;
}

struct Param {
  size_t index;
  int opset;
};

void PrintTo(const Param& p, std::ostream* os) { *os << cases()[p.index].name << " opset " << p.opset; }

// Every case also runs at the newest opset (21); a case whose ONNX form changed between opsets 17
// and 21 (ReduceMean-18 axes input, Pad-18/19 axes and wrap mode, Split-18, AveragePool-19,
// LayerNormalization at 17, ReduceMax-18 axes input) runs at every opset from 17 to 21. Above 17 the export is not checked
// in-process (the ONNX library knows opsets <= 17), so ORT is the check there.
bool opset_sensitive(const std::string& name) {
  for (const char* prefix : {"pad", "split", "mean", "avg_pool", "adaptive_avg", "adaptive_max", "layer_norm"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<Param> params() {
  std::vector<Param> p;
  for (size_t i = 0; i < cases().size(); ++i) {
    std::vector<int> opsets = cases()[i].opsets;
    if (opset_sensitive(cases()[i].name)) opsets.insert(opsets.end(), {17, 18, 19, 20, 21});
    opsets.push_back(exporter::kMaxOpset);
    std::sort(opsets.begin(), opsets.end());
    opsets.erase(std::unique(opsets.begin(), opsets.end()), opsets.end());
    for (int o : opsets) p.push_back({i, o});
  }
  return p;
}

class OnnxOp : public ::testing::TestWithParam<Param> {};

TEST_P(OnnxOp, MatchesExecutorInOrt) {
  const OpCase& c = cases()[GetParam().index];
  const int opset = GetParam().opset;
  SCOPED_TRACE(c.name + " opset " + std::to_string(opset));
  ir::Model m = test::model_from_ir(graph_text(c), c.tensors);
  test::TempDir dir;
  const std::string path = dir.file(c.name + ".onnx");
  exporter::ExportOptions opts;
  opts.opset = opset;
  exporter::ExportSummary summary;
  ASSERT_NO_THROW(summary = exporter::export_onnx(m, path, opts));
  EXPECT_EQ(summary.checked, opset <= 17) << summary.check;

  onnx::ModelProto mp = test::load_onnx(path);
  EXPECT_EQ(mp.opset_import(0).version(), opset);
  EXPECT_EQ(mp.ir_version(), exporter::ir_version_for(opset));
  if (opset <= 17) EXPECT_NO_THROW(onnx::checker::check_model(mp));
  std::map<std::string, int> hist;
  for (auto& n : mp.graph().node()) hist[n.op_type()]++;
  for (auto& op : c.expect_ops) {
    // Pad-19 has mode "wrap": circular padding is one Pad node from there on.
    if (c.name == "pad_circular" && opset >= 19) break;
    EXPECT_GT(hist[op], 0) << "no " << op << " node in the export of " << c.name;
  }
  if (c.name == "pad_circular" && opset >= 19) EXPECT_EQ(hist["Pad"], 1);
  // ReduceMean-18 and ReduceMax-18 read their axes as an input, before as an attribute.
  for (auto& n : mp.graph().node())
    if (n.op_type() == "ReduceMean" || n.op_type() == "ReduceMax") {
      bool axes_attr = false;
      for (const auto& a : n.attribute()) axes_attr = axes_attr || a.name() == "axes";
      EXPECT_EQ(axes_attr, opset < 18) << c.name;
      EXPECT_EQ(n.input_size(), opset < 18 ? 1 : 2) << c.name;
    }
  // Our ops never need a fallback into another domain.
  for (auto& n : mp.graph().node()) EXPECT_EQ(n.domain(), "");
  ASSERT_EQ(mp.graph().input_size(), 1);
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");

  runtime::Executor ex(m);
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    at::Tensor x = test::random_input(m, batch, 100 + static_cast<uint64_t>(batch), c.input_scale);
    at::Tensor ref = ex.run1(x);
    at::Tensor got = test::run_ort(path, x, "all");
    EXPECT_TRUE(test::close_to(ref, got));
  }
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return cases()[info.param.index].name + "_opset" + std::to_string(info.param.opset);
}

INSTANTIATE_TEST_SUITE_P(AllOps, OnnxOp, ::testing::ValuesIn(params()), param_name);

// Every IR op except the tensor sources has a mapping, and the cases above cover every mapping.
TEST(OnnxOpCoverage, EveryCoreOpIsMappedAndTested) {
  ir::register_core_ops();
  std::vector<std::string> mapped = exporter::exportable_ops();
  for (const std::string& op : ir::OpRegistry::instance().names()) {
    if (op == "param" || op == "constant") continue;
    if (op == "foo" || op == "bogus_export") continue;  // registered by the error tests
    if (exporter::is_qat_training_op(op)) continue;      // converted away before any export
    EXPECT_NE(std::find(mapped.begin(), mapped.end(), op), mapped.end()) << "core op '" << op << "' has no ONNX mapping";
  }
  std::string all;
  for (auto& c : cases()) all += graph_text(c);
  for (const std::string& op : mapped)
    // bogus_export: registered by OnnxExport.CheckerFailureIsAnErrorAndLeavesNoFile; fake_quant needs
    // meaningful scales and is covered by quant_export_test.cpp.
    if (op != "bogus_export" && op != "fake_quant")
    EXPECT_TRUE(all.find(" " + op + "(") != std::string::npos || all.find(" " + op + "[") != std::string::npos)
        << "no test case for " << op;
}

}  // namespace
}  // namespace mc
