/// Weight sharing by 1-D k-means (Han et al. 2016, "Deep Compression", section 3): the values of a
/// weight tensor are clustered into k centroids (Lloyd's algorithm); every weight is then replaced
/// by its centroid, so the tensor is stored as a k-entry codebook plus a log2(k)-bit index per
/// weight.
///
///   - Initialisation (Han et al. compare the three; linear was best for accuracy, since it keeps
///     centroids on the few large weights):
///       linear    k centroids evenly spaced between the minimum and the maximum;
///       density   the quantiles (j + 1/2) / k of the values (the CDF spaced evenly along y);
///       kmeans++  Arthur & Vassilvitskii: the first centroid uniformly among the values, each next
///                 one with probability proportional to the squared distance to the nearest chosen
///                 centroid; drawn from a generator seeded by `seed` (deterministic).
///   - Zeros: when the tensor has exact zeros (a pruned layer), entry 0 of the codebook is a fixed 0
///     and every zero weight (only those) has index 0; the other k - 1 centroids cluster the
///     non-zero values. A pruned model stays pruned and no non-zero weight becomes zero.
///   - Per output channel (`per_channel`): one codebook per slice along `channel_dim` (codebook
///     [rows, k]; each row's indices point into its own row).
/// The centroids are computed in float64 and returned in the weight's dtype, sorted ascending
/// (after the fixed zero). Vectorised over all rows: assignment is a searchsorted on the midpoints
/// between sorted centroids, the update a scatter_add; no loop over elements.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace mc::share {

enum class Init { linear, density, kmeanspp };

/// "linear" | "density" | "kmeans++" -> Init (mc::Error for another name).
Init parse_init(const std::string& name);
std::string init_name(Init init);

struct KMeansOptions {
  int64_t k = 16;            // codebook entries, the fixed zero included; in 2..256
  Init init = Init::linear;
  int64_t iters = 30;        // Lloyd iterations at most (stops earlier when no assignment changes)
  bool per_channel = false;  // one codebook per slice along channel_dim
  int64_t channel_dim = 0;   // the output-channel dimension (1 for matmul x @ W)
  uint64_t seed = 0;         // kmeans++ draws
};

struct Clustered {
  at::Tensor codebook;        // [k] or [rows, k] (per_channel), the weight's dtype
  at::Tensor indices;         // int64, the weight's shape: entry of each weight in its codebook (row)
  bool zero_entry = false;    // codebook entry 0 is the fixed zero of the tensor's zeros
  int64_t zeros = 0;          // exact zeros in the weight (all kept, at index 0)
  int64_t iterations = 0;     // Lloyd iterations run
};

/// Clusters the values of `w` (floating point, at least 1-d) into o.k codebook entries.
/// mc::Error for k outside 2..256 or a channel_dim outside w.
Clustered kmeans_cluster(const at::Tensor& w, const KMeansOptions& o);

/// codebook[indices]: the weight the clustering stands for (the weight's shape and dtype).
at::Tensor decode(const Clustered& c, int64_t channel_dim = 0);

/// Bits of one index for a k-entry codebook: ceil(log2 k).
int64_t index_bits(int64_t k);

}  // namespace mc::share
