/// What a layer costs dense and as factors, from the shapes of the graph alone (no tensors read),
/// so that ranks can be checked and candidates priced before anything is factored.
///
/// MACs count as the op registry does (ir::node_macs): a conv2d costs out.numel() x (C / groups)
/// x kh x kw, a linear out.numel() x in, a matmul out.numel() x k. For a conv with input
/// [B, C, H, W], output [B, N, Ho, Wo] and kernel kh x kw, the chains of lowrank/rewrite.h cost
///   channel_svd  B Ho Wo r (C kh kw + N)
///   spatial_svd  B r Ho W C kh + B N Ho Wo r kw             (the vertical half keeps the width W)
///   tucker2      B H W r_in C + B Ho Wo r_out r_in kh kw + B Ho Wo N r_out
///   cp           B H W R C + B R Ho W kh + B R Ho Wo kw + B Ho Wo N R
/// and a linear / matmul with `rows` output rows  rows r (in + out)  instead of  rows in out.
/// Parameters are the weights' elements (the bias is the same either way and not counted).
/// tests/lowrank/layer_cost_test.cpp checks every formula against ir::node_macs after the rewrite.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "lowrank/factors.h"

namespace mc::lowrank {

/// Ranks of one factorisation: {r} for SVD / channel / spatial / cp, {r_in, r_out} for tucker2.
using Ranks = std::vector<int64_t>;

struct Cost {
  int64_t macs = 0;
  int64_t params = 0;
};

/// The shapes a layer's cost depends on.
struct LayerShape {
  bool conv = false;
  int64_t out = 0, in = 0;          // N, C (conv) or out, in features (linear / matmul)
  int64_t kh = 1, kw = 1, groups = 1;
  int64_t batch = 1, h = 1, w = 1, ho = 1, wo = 1;  // conv input / output spatial sizes
  int64_t rows = 1;                 // linear / matmul: output elements / out
};

/// Shapes of a conv2d, linear or matmul node (its value types must be inferred).
LayerShape layer_shape(const ir::Node& n);

/// The layer as it is.
Cost dense_cost(const LayerShape& s);
/// The factor chain of `method` (ignored for linear layers: SVD) at `ranks`.
Cost factor_cost(const LayerShape& s, ConvMethod method, const Ranks& ranks);

/// The largest ranks a method takes: min(out, in) (linear), min(N, C kh kw) (channel_svd),
/// min(C kh, N kw) (spatial_svd), {min(C, N kh kw), min(N, C kh kw)} (tucker2: the ranks of the
/// mode-1 and mode-0 unfoldings can be no more), min(C, N) kh kw (cp: one term per weight
/// column is always exact, see cp_exact in cp_als.h).
Ranks max_ranks(const LayerShape& s, ConvMethod method);

/// "" when `ranks` fits the layer and the method, else what is wrong ("rank 40 exceeds the
/// maximum 16 of channel_svd on this 16x16x3x3 conv").
std::string rank_problem(const LayerShape& s, ConvMethod method, const Ranks& ranks);

/// "16x16x3x3 conv" / "300x784 linear" for messages.
std::string shape_text(const LayerShape& s);

/// "[4, 8]" / "[16]".
std::string ranks_text(const Ranks& r);

}  // namespace mc::lowrank
