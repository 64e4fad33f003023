/// N:M semi-structured sparsity (2:4 by default): in every group of M consecutive weights along
/// the input-channel dimension, only the N of largest |w| are kept.
///
/// Layout (the one NVIDIA's ASP, apex.contrib.sparsity, prunes for sparse tensor cores):
///   linear w: O x I        groups of M consecutive input features in each row o;
///   conv2d w: O x I x kh x kw
///                          groups of M consecutive input channels at each (o, kh, kw) (ASP
///                          permutes to kh x kw x O x I and groups the last dim; so do we);
///   matmul x @ W (K x N)   groups of M consecutive rows k in each column n.
/// A weight whose input-channel count is not a multiple of M cannot be laid out that way; the
/// stage skips it and lists it in the report (ASP skips such layers too), e.g. a first conv on a
/// 1- or 3-channel image.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace mc::prune {

/// True when `w` can carry N:M groups of size m along `input_dim`.
bool nm_applicable(const at::Tensor& w, int64_t m, int64_t input_dim);

/// Keep-mask of `w` (bool, w's shape): in each group of m consecutive elements along `input_dim`
/// the n of largest |w| are kept (ties: the lower index). Throws mc::Error when not applicable.
at::Tensor nm_mask(const at::Tensor& w, int64_t n, int64_t m, int64_t input_dim);

}  // namespace mc::prune
