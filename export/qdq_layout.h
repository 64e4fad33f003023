// Lays out the QDQ pairs of an exported ONNX graph the way ONNX Runtime's QDQ fusions need them,
// without changing a single output value. Run by to_onnx() on every graph that holds
// QuantizeLinear nodes.
//
// 1. Requantize after value-preserving ops. A quantized consumer (Conv, Gemm, MatMul, Add) whose
//    activation input comes from DequantizeLinear through MaxPool, Flatten, Reshape, Transpose,
//    Squeeze/Unsqueeze, Identity or Concat (the planner lets them share their input's quantizer)
//    gets a QuantizeLinear -> DequantizeLinear with that same scale / zero-point right before it.
//    Those ops only move, select or copy values, so their output lies on the grid already and
//    Q(DQ(q)) = q: exact. Without it ORT sees a float input and runs the consumer in float.
// 2. One consumer per QDQ pair. A DequantizeLinear read by several nodes (a residual block's input
//    feeds a Conv and the Add; one input feeds two Convs) gets its QuantizeLinear -> DequantizeLinear
//    cloned per extra consumer, with its own copies of scale and zero-point (so ORT's common
//    subexpression elimination does not merge the clones back). ORT needs this: it duplicates a
//    shared DequantizeLinear itself, but then the QuantizeLinear feeds two of them and its
//    int8 -> uint8 conversion (QDQS8ToU8, single consumer only) skips it, so the Conv reading it has
//    an int8 input and a uint8 output and is left in float (likewise the Add).
// 3. Float-output Gemm without its bias. A Gemm reading DequantizeLinears whose output is not
//    quantized (a classifier's logits) and that adds a float bias initializer becomes Gemm (no bias)
//    -> Add(bias): ORT fuses DQ -> Gemm into QGemm with a float output only without a float bias
//    (with one it leaves the Gemm in float). Same sum, in the same order.
// 4. Narrow conv inputs padded to 4 channels. A Conv on a uint8 activation with fewer than 4
//    input channels (a grayscale or RGB stem) reads Q -> Pad(zero point) -> DQ with 4 channels and
//    zero weights for the new ones: the same sums. ORT's QLinearConv cuts each image into tasks of
//    at least 64K weight x pixel products, so a 1-channel 3x3 stem (16 x 9 weights) got 2 tasks per
//    image and did not use the second thread; with 4 channels it gets 7 (resnet8, batch 64, 2
//    threads: the stem 0.92 -> 0.42 ms, the model 1.36x -> 1.62x over fp32, bench_int8.sh).
//    Not for int8 activations: ORT converts an int8 Q -> DQ pair to uint8 only when they are
//    adjacent; with the Pad between them the Conv would stay in float.
#pragma once
#include <onnx/onnx_pb.h>

namespace mc::exporter {

struct QdqLayoutSummary {
  int requantized = 0;  // Q/DQ pairs inserted after value-preserving ops
  int cloned = 0;       // Q/DQ pairs cloned for extra consumers
  int bias_split = 0;   // float-output Gemms whose bias became an Add
  int padded_inputs = 0;  // convs whose input channels were padded to 4
};

QdqLayoutSummary layout_qdq(onnx::GraphProto& graph);

}  // namespace mc::exporter
