#include "data/token_dataset.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "common/error.h"
#include "data/npy.h"
#include "data/random.h"

namespace mc::data {
namespace fs = std::filesystem;
namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

bool integer_like(const at::Tensor& t) { return !at::isFloatingType(t.scalar_type()) && !at::isComplexType(t.scalar_type()); }

}  // namespace

TokenDataset::TokenDataset(std::string name, std::vector<at::Tensor> inputs, at::Tensor labels,
                           std::vector<std::string> sources)
    : name_(std::move(name)) {
  const std::string where = "dataset '" + name_ + "'";
  if (inputs.empty()) throw InputError(where + ": no inputs");
  sources.resize(inputs.size(), name_);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const at::Tensor& t = inputs[k];
    if (t.dim() != 2 || !integer_like(t)) {
      throw InputError(where + ": " + sources[k] + " holds a " + std::string(at::toString(t.scalar_type())) + " array of shape " +
                       shape_str(t) + "; token inputs must be N x T integers (token ids, an attention mask)");
    }
    if (t.size(0) != inputs[0].size(0)) {
      throw InputError(where + ": " + sources[k] + " has " + std::to_string(t.size(0)) + " rows but " + sources[0] +
                       " has " + std::to_string(inputs[0].size(0)) + " (every input needs one row per sample)");
    }
    inputs_.push_back(t.to(at::kLong).contiguous());
  }
  const int64_t n = inputs_[0].size(0);
  if (!labels.defined()) {
    has_labels_ = false;
    labels = at::full({n}, kNoLabel, at::kLong);
  } else if (labels.dim() != 1 || !integer_like(labels) || labels.scalar_type() == at::kBool) {
    throw InputError(where + ": labels must be a 1-D array of integers, got a " + std::string(at::toString(labels.scalar_type())) +
                     " array of shape " + shape_str(labels));
  } else if (labels.size(0) != n) {
    throw InputError(where + ": " + std::to_string(n) + " sequences but " + std::to_string(labels.size(0)) +
                     " labels (both must have the same length)");
  }
  labels_ = labels.to(at::kLong).contiguous();
  label_ptr_ = labels_.data_ptr<int64_t>();
  if (has_labels_ && n > 0) {
    if (labels_.min().item<int64_t>() < 0) throw InputError(where + ": negative label " + std::to_string(labels_.min().item<int64_t>()));
    num_classes_ = labels_.max().item<int64_t>() + 1;
  }
}

Example TokenDataset::get(size_t i) const {
  if (i >= size()) throw std::out_of_range("dataset '" + name_ + "': index " + std::to_string(i) + " out of range");
  Example ex;
  const auto row = static_cast<int64_t>(i);
  ex.image = inputs_[0].select(0, row).clone();
  for (size_t k = 1; k < inputs_.size(); ++k) ex.more_inputs.push_back(inputs_[k].select(0, row).clone());
  ex.label = label_ptr_[i];
  return ex;
}

std::vector<int64_t> TokenDataset::sample_shape() const { return {inputs_[0].size(1)}; }

Batch TokenDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto n = static_cast<int64_t>(size());
  for (int64_t i : indices)
    if (i < 0 || i >= n) throw std::out_of_range("dataset '" + name_ + "': index " + std::to_string(i) + " out of range");
  at::Tensor idx = at::tensor(indices, at::kLong);
  Batch b;
  b.images = at::index_select(inputs_[0], 0, idx);
  for (size_t k = 1; k < inputs_.size(); ++k) b.more_inputs.push_back(at::index_select(inputs_[k], 0, idx));
  b.labels = at::index_select(labels_, 0, idx);
  return b;
}

std::shared_ptr<TokenDataset> open_npy_tokens(const std::vector<std::string>& input_paths, const std::string& labels_path,
                                              const std::string& config_key) {
  if (input_paths.empty()) throw InputError("dataset 'npy': no token files given (set " + config_key + ".inputs)");
  std::vector<at::Tensor> inputs;
  for (const std::string& p : input_paths) {
    if (!fs::is_regular_file(p)) throw InputError("dataset 'npy': " + p + " not found (check " + config_key + ".inputs)");
    inputs.push_back(read_npy(p));
  }
  at::Tensor labels;
  if (!labels_path.empty()) {
    if (!fs::is_regular_file(labels_path))
      throw InputError("dataset 'npy': " + labels_path + " not found (check " + config_key + ".labels)");
    labels = read_npy(labels_path);
  }
  return std::make_shared<TokenDataset>("npy(" + input_paths[0] + ")", std::move(inputs), labels, input_paths);
}

std::shared_ptr<TokenDataset> make_random_tokens(const RandomTokensSpec& s, const std::string& key) {
  auto need = [&](bool ok, const std::string& field, int64_t got, const std::string& rule) {
    if (!ok)
      throw InputError("dataset 'random_tokens': " + key + "." + field + " must be " + rule + " (got " + std::to_string(got) + ")");
  };
  need(s.sequences >= 1, "sequences", s.sequences, ">= 1 (the number of sequences)");
  need(s.seq_len >= 1, "seq_len", s.seq_len, ">= 1 (tokens per sequence, the model's input length)");
  need(s.vocab >= 1, "vocab", s.vocab, ">= 1 (ids are drawn from [0, vocab): at most the rows of the embedding table)");
  need(s.min_len >= 0 && s.min_len <= s.seq_len, "min_len", s.min_len,
       "in [1, seq_len = " + std::to_string(s.seq_len) + "] (0 = seq_len: no padding)");
  need(s.pad_id >= 0 && s.pad_id < s.vocab, "pad_id", s.pad_id, "in [0, vocab = " + std::to_string(s.vocab) + ")");
  const int64_t min_len = s.min_len == 0 ? s.seq_len : s.min_len;
  at::Tensor ids = at::full({s.sequences, s.seq_len}, s.pad_id, at::kLong);
  at::Tensor mask = at::zeros({s.sequences, s.seq_len}, at::kLong);
  int64_t* ip = ids.data_ptr<int64_t>();
  int64_t* mp = mask.data_ptr<int64_t>();
  uint64_t state = mix_seed(s.seed, 0x70CE45ULL);
  for (int64_t r = 0; r < s.sequences; ++r) {
    const int64_t len = min_len + static_cast<int64_t>(random_below(state, static_cast<uint64_t>(s.seq_len - min_len + 1)));
    for (int64_t j = 0; j < len; ++j) {
      ip[r * s.seq_len + j] = static_cast<int64_t>(random_below(state, static_cast<uint64_t>(s.vocab)));
      mp[r * s.seq_len + j] = 1;
    }
  }
  std::vector<at::Tensor> inputs{ids};
  std::vector<std::string> sources{"random token ids"};
  if (s.mask) {
    inputs.push_back(mask);
    sources.emplace_back("random attention mask");
  }
  return std::make_shared<TokenDataset>("random_tokens(" + std::to_string(s.sequences) + " x " + std::to_string(s.seq_len) + ")",
                                        std::move(inputs), at::Tensor(), std::move(sources));
}

}  // namespace mc::data
