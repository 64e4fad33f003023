/// One layer factored at given ranks, ready for the rewrite, with its reconstruction error; CP's
/// fallback to Tucker-2. Used by the decompose stage (lowrank/decompose_stage.h).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "ir/model.h"
#include "lowrank/factors.h"
#include "lowrank/layer_cost.h"

namespace mc::lowrank {

struct CpSettings {
  int64_t max_iters = 500;  // ALS sweeps
  double max_error = 0.3;   // relative weight error above which cp falls back to tucker2
  int64_t round_to = 1;     // the fallback's ranks are multiples of this where the MACs allow
};

struct Factored {
  bool conv = false;
  ConvMethod method = ConvMethod::channel_svd;  // as applied (tucker2 after a cp fallback)
  Ranks ranks;                                  // as applied
  LinearFactors linear;
  ConvFactors factors;
  double rel_error = 0.0;   // ||W - W_r||_F / ||W||_F of the applied factors
  bool cp_fallback = false;
  double cp_error = -1.0;   // ALS's relative error when cp was tried (-1: not tried)
  int64_t cp_iterations = 0;
};

/// The layer's weight as a factorisation takes it: [out, in] (linear_weight) or [N, C, kh, kw].
at::Tensor layer_weight(const ir::Model& m, const ir::Node& n);

/// Factors `w` (from layer_weight) by `method` at `ranks` (checked with rank_problem(): an
/// mc::Error if they do not fit). cp: cp_exact at the maximum rank, else ALS; when ALS's error is
/// above `cp.max_error` the layer is factored by tucker2 at the largest ranks (in proportion to C
/// and N) that cost no more MACs than the CP chain (tucker2_ranks_within, `cp.round_to`).
Factored factorize(const at::Tensor& w, const LayerShape& s, ConvMethod method, const Ranks& ranks,
                   const CpSettings& cp = {});

/// The largest Tucker-2 ranks {r_in, r_out} = about t (C, N) / max(C, N) whose chain costs at
/// most `macs` (at least {1, 1}), each rounded down to a multiple of `round_to` (at least
/// `round_to`, at most the maximum rank) when the rounded pair still costs at most `macs`.
Ranks tucker2_ranks_within(const LayerShape& s, int64_t macs, int64_t round_to = 1);

/// The dense weight the factors stand for, in the layout of layer_weight() (float64).
at::Tensor reconstruct(const Factored& f);

/// Replaces layer `n` of `m` by the factor chain (decompose_linear / decompose_conv).
void apply_factors(ir::Model& m, ir::Node* n, const Factored& f);

}  // namespace mc::lowrank
