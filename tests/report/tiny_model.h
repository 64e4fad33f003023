// A tiny conv -> bn -> relu -> pool -> fc model with hand-countable metrics, shared by the
// report tests.
#pragma once
#include <ATen/ATen.h>

#include "ir/model.h"

namespace mc::report::testing {

// conv(3->4, 3x3, pad 1) -> bn -> relu -> maxpool 2 -> flatten -> fc(36 -> 5), input 1x3x6x6.
//   params:    conv 108+4, bn 4+4, fc 180+5                         = 305
//   constants: bn running mean 4 + running var 4                    = 8
//   MACs:      conv 4*6*6*27=3888, bn 144, pool 36*4=144, fc 5*36=180 = 4356
inline const char* kTinyNet = R"IR(
graph(%x: f32[1,3,6,6]) {
  %cw = param[name="conv.weight"]() @conv
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
  return(%y)
}
)IR";

constexpr int64_t kTinyParams = 305;
constexpr int64_t kTinyConstants = 8;
constexpr int64_t kTinyMacs = 4356;

inline ir::Model make_tiny_model() {
  ir::Model m;
  m.graph = ir::Graph::parse(kTinyNet, "tiny");
  // No exact zeros anywhere (uniform in [0.5, 1.5)), so non-zero counts are exact.
  m.tensors["conv.weight"] = at::rand({4, 3, 3, 3}) + 0.5;
  m.tensors["conv.bias"] = at::rand({4}) + 0.5;
  m.tensors["bn.weight"] = at::rand({4}) + 0.5;
  m.tensors["bn.bias"] = at::rand({4}) + 0.5;
  m.tensors["bn.running_mean"] = at::rand({4}) + 0.5;
  m.tensors["bn.running_var"] = at::rand({4}) + 0.5;
  m.tensors["fc.weight"] = at::rand({5, 36}) + 0.5;
  m.tensors["fc.bias"] = at::rand({5}) + 0.5;
  m.infer_shapes();
  m.verify();
  return m;
}

}  // namespace mc::report::testing
