// Token datasets for text models: int64 sequences, one tensor per model input (token ids, an
// attention mask), from .npy files or drawn at random (seeded). Batches are one index_select per
// input; the samples are not images (float_samples() false: no transforms, batches stay int64).
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace mc::data {

class TokenDataset : public Dataset {
 public:
  /// `inputs`: one N x T integer (or bool) tensor per model input, the same N for all (stored as
  /// int64). `labels`: N integers, or undefined for an unlabelled set. `sources` name each input
  /// in messages (file paths). Throws InputError naming the source when ranks, dtypes or lengths
  /// do not fit.
  TokenDataset(std::string name, std::vector<at::Tensor> inputs, at::Tensor labels, std::vector<std::string> sources);

  size_t size() const override { return static_cast<size_t>(inputs_.front().size(0)); }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override { return label_ptr_[i]; }
  int64_t num_classes() const override { return num_classes_; }
  bool has_labels() const override { return has_labels_; }
  /// {T} of the first input.
  std::vector<int64_t> sample_shape() const override;
  std::string name() const override { return name_; }
  size_t num_inputs() const override { return inputs_.size(); }
  bool float_samples() const override { return false; }
  bool has_fast_batch() const override { return true; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  /// The stored int64 tensors, N x T each.
  const std::vector<at::Tensor>& inputs() const { return inputs_; }

 private:
  std::string name_;
  std::vector<at::Tensor> inputs_;
  at::Tensor labels_;
  const int64_t* label_ptr_ = nullptr;
  int64_t num_classes_ = 0;
  bool has_labels_ = true;
};

/// Opens token sequences stored as .npy files, one N x T integer array per model input (ids,
/// then an attention mask ...), and optionally N integer labels. `config_key` (data.calib) is
/// named in errors.
std::shared_ptr<TokenDataset> open_npy_tokens(const std::vector<std::string>& input_paths, const std::string& labels_path,
                                              const std::string& config_key);

/// `dataset: random_tokens`: `sequences` rows of `seq_len` token ids drawn uniformly from
/// [0, vocab), seeded. Each row's length is uniform in [min_len, seq_len] (min_len 0 = seq_len:
/// no padding); the positions after it hold pad_id. With `mask`, a second input holds 1 for the
/// tokens and 0 for the padding (an attention mask). Unlabelled.
struct RandomTokensSpec {
  int64_t sequences = 0;
  int64_t seq_len = 0;
  int64_t vocab = 0;
  int64_t min_len = 0;
  int64_t pad_id = 0;
  bool mask = false;
  uint64_t seed = 0;
};

/// Throws InputError naming `config_key`.<field> when a field is out of range (sequences,
/// seq_len, vocab >= 1; min_len <= seq_len; pad_id in [0, vocab)).
std::shared_ptr<TokenDataset> make_random_tokens(const RandomTokensSpec& spec, const std::string& config_key);

}  // namespace mc::data
