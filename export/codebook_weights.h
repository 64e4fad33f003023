// Codebook weights: a conv2d / linear / matmul weight with at most 256 distinct values (a clustered
// model, e.g. after the `cluster` stage) is written as a small float32 codebook plus one index per
// weight, and the graph rebuilds the weight with Cast(indices -> int64) -> Gather(codebook), so the
// file holds 1 byte (<= 256 values) or half a byte (<= 16 values) per weight instead of 4.
//
// Detected from the values alone (at::unique), so the export needs nothing from sharing/:
// - one codebook for the tensor when it has <= 256 distinct values, sorted except that a value 0
//   is entry 0, so pruned weights are index 0 (export/sparse_initializers.h leaves zeros out);
// - else one codebook per row (dim 0, the output channel) when every row has <= 256: what a
//   clustered conv becomes after batch-norm folding multiplies each output channel by its own
//   factor. The codebook is [rows x k] flat and the indices get the row's offset (row x k, an
//   int64 [rows, 1, ...] initializer) added before the Gather.
// - <= 16 entries per codebook: two indices per byte (element j in the low nibble of byte j, element
//   ceil(n/2) + j in its high nibble), unpacked in the graph as int64 by Cast -> Mod 16 / Div 16 ->
//   Concat -> Reshape (-> Slice for an odd count): opset-13 ops, at every opset. Not ONNX's UINT4
//   type: that needs opset 21 / IR version 10 (QDQ weights use it there, export/ops/quant.cpp),
//   where the ONNX library linked in (1.12) cannot check the file.
// The Gather rebuilds every weight bit for bit (the codebook holds the weights' own values; only a
// -0.0 may come back as +0.0, which compare equal), so the graph computes what the float32 export
// computes; ONNX Runtime folds the decoding into a constant when it loads the file.
// `auto` uses a codebook where the codebook, indices and decoding nodes take fewer bytes than the
// float32 weight (with sparse initializers on: both as they will be stored, dense or sparse);
// `true` wherever the weight has <= 256 values per codebook; `false` never.
#pragma once
#include <string>

#include "export/export_context.h"

namespace mc::exporter {

/// Would the export write `w` (store name `name`) as one codebook for the whole tensor under `mode`?
/// optimize_for_export keeps the batch_norm after such a layer unfolded: folding multiplies each
/// output channel by its own factor, so the weight would need a codebook per row (k floats per
/// output channel instead of k in all). ONNX Runtime and TensorRT fuse Conv + BatchNormalization
/// when they load the file, so this costs no speed.
/// `sparse`: how the export writes sparse initializers (the codebook must beat the float32 weight
/// as that stores it).
bool writes_codebook(const at::Tensor& w, const std::string& name, CodebookWeights mode,
                     SparseInitializers sparse = SparseInitializers::never);

/// ONNX name for weight input `i` of `n` (a conv2d / linear / matmul): the codebook form's Gather
/// output when the context's CodebookWeights mode chooses it for that weight, else ctx.in(n, i)
/// (marked in ctx.weight_initializers() when it is a float32 initializer).
std::string weight_input(const ir::Node& n, size_t i, ExportContext& ctx);

}  // namespace mc::exporter
