#include "data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <numeric>
#include <random>

#include "common/error.h"
#include "data/random.h"

namespace mc::data {
namespace {

std::string shape_str(c10::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Makes the calling worker thread run its ATen ops single-threaded. With ATen's OpenMP backend,
// every thread that enters a parallel region gets its own team of all cores, so N workers would
// compete with the trainer's own parallel ops; parallelism comes from num_workers instead.
// omp_set_num_threads only changes the calling thread's setting. Looked up at run time so that
// nothing links against OpenMP directly; a no-op with other backends.
void make_worker_single_threaded() {
  at::internal::lazy_init_num_threads();  // ATen's per-thread init would otherwise undo it later
  using SetThreads = void (*)(int);
  static const auto set_threads = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_threads) set_threads(1);
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  if (!dataset_) throw InputError("DataLoader: dataset is null");
  if (options_.batch_size <= 0) {
    throw InputError("data loader for '" + dataset_->name() + "': batch_size must be > 0 (got " +
                     std::to_string(options_.batch_size) + ")");
  }
  if (options_.num_workers < 0) {
    throw InputError("data loader for '" + dataset_->name() + "': num_workers must be >= 0 (got " +
                     std::to_string(options_.num_workers) + ")");
  }
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size) {
    throw InputError("data loader for '" + dataset_->name() + "': rank " + std::to_string(options_.rank) +
                     " is not in 0.." + std::to_string(options_.world_size - 1) + " (world_size " +
                     std::to_string(options_.world_size) + ")");
  }
  if (options_.prefetch < 1) {
    throw InputError("data loader for '" + dataset_->name() + "': prefetch must be >= 1 (got " +
                     std::to_string(options_.prefetch) + ")");
  }
  sample_shape_ = dataset_->sample_shape();
  if (options_.transforms) {
    try {
      sample_shape_ = options_.transforms->output_shape(sample_shape_);
    } catch (const InputError& e) {
      throw InputError("transforms do not fit dataset '" + dataset_->name() + "' (samples " +
                       shape_str(dataset_->sample_shape()) + "): " + e.what());
    }
  }
}

DataLoader::~DataLoader() { stop_workers(); }

size_t DataLoader::shard_size() const {
  const size_t n = dataset_->size(), w = static_cast<size_t>(options_.world_size), r = static_cast<size_t>(options_.rank);
  if (w == 1) return n;
  switch (options_.remainder) {
    case LoaderOptions::Remainder::kPad: return (n + w - 1) / w;
    case LoaderOptions::Remainder::kDrop: return n / w;
    case LoaderOptions::Remainder::kSplit: return n / w + (r < n % w ? 1 : 0);
  }
  return n;
}

size_t DataLoader::size() const {
  const size_t n = shard_size(), bs = static_cast<size_t>(options_.batch_size);
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

size_t DataLoader::num_samples() const {
  return std::min(shard_size(), size() * static_cast<size_t>(options_.batch_size));
}

std::vector<int64_t> DataLoader::epoch_order(uint64_t epoch) const {
  const size_t n = dataset_->size();
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = random_permutation(n, mix_seed(options_.seed, epoch));
  } else {
    order.resize(n);
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  const size_t w = static_cast<size_t>(options_.world_size), r = static_cast<size_t>(options_.rank);
  if (w == 1 || n == 0) return order;
  std::vector<int64_t> mine(shard_size());
  for (size_t k = 0; k < mine.size(); ++k) mine[k] = order[(r + k * w) % n];  // kPad wraps to the start
  return mine;
}

std::vector<int64_t> DataLoader::sample_shape() const { return sample_shape_; }

std::vector<int64_t> DataLoader::batch_indices(uint64_t epoch, size_t b) const {
  if (b >= size()) return {};
  const std::vector<int64_t> order = started_ && epoch == epoch_ ? order_ : epoch_order(epoch);
  const size_t n = order.size(), bs = static_cast<size_t>(options_.batch_size);
  const size_t lo = b * bs, hi = std::min(n, lo + bs);
  return std::vector<int64_t>(order.begin() + static_cast<std::ptrdiff_t>(lo),
                              order.begin() + static_cast<std::ptrdiff_t>(hi));
}

Batch DataLoader::build_batch(uint64_t epoch, size_t b) const {
  const size_t bs = static_cast<size_t>(options_.batch_size);
  const size_t lo = b * bs, hi = std::min(order_.size(), lo + bs);
  const std::vector<int64_t> idx(order_.begin() + static_cast<std::ptrdiff_t>(lo),
                                 order_.begin() + static_cast<std::ptrdiff_t>(hi));
  // Random transforms: another stream per rank (the ranks' batches hold other samples).
  const uint64_t rank_seed = options_.world_size > 1 ? mix_seed(options_.seed, 0x5EED0000ull + static_cast<uint64_t>(options_.rank))
                                                     : options_.seed;
  const uint64_t s = mix_seed(mix_seed(rank_seed, epoch), b);
  std::seed_seq seq{static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32)};
  std::mt19937 rng(seq);
  const Transform* t = options_.transforms.get();

  Batch batch;
  if (dataset_->has_fast_batch()) {
    batch = dataset_->get_batch(idx);
    if (t) batch.images = t->apply_batch(std::move(batch.images), rng);
  } else {
    std::vector<at::Tensor> images;
    images.reserve(idx.size());
    batch.labels = at::empty({static_cast<int64_t>(idx.size())}, at::kLong);
    auto* lp = batch.labels.data_ptr<int64_t>();
    for (size_t k = 0; k < idx.size(); ++k) {
      Example ex = dataset_->get(static_cast<size_t>(idx[k]));
      images.push_back(t ? t->apply(ex.image, rng) : std::move(ex.image));
      lp[k] = ex.label;
      if (images.back().sizes() != images.front().sizes()) {
        throw InputError("dataset '" + dataset_->name() + "': sample " + std::to_string(idx[k]) + " has shape " +
                         shape_str(images.back().sizes()) + " after transforms, but sample " +
                         std::to_string(idx[0]) + " has " + shape_str(images.front().sizes()) +
                         " (add a resize or center_crop transform so all samples have the same size)");
      }
    }
    batch.images = images.empty() ? at::empty({0}, at::kFloat) : at::stack(images);
  }
  if (batch.images.scalar_type() != at::kFloat) batch.images = batch.images.to(at::kFloat);
  batch.images = batch.images.contiguous();
  batch.indices = at::tensor(idx, at::kLong);
  return batch;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  slots_.clear();
  stop_ = false;
}

void DataLoader::start_epoch(uint64_t epoch) {
  stop_workers();
  epoch_ = epoch;
  started_ = true;
  consumed_ = 0;
  order_ = epoch_order(epoch);
  if (options_.num_workers == 0 || size() == 0) return;
  next_claim_ = 0;
  taken_ = 0;
  slots_.assign(static_cast<size_t>(std::max(options_.prefetch, options_.num_workers)), Slot{});
  const int nw = static_cast<int>(std::min<size_t>(static_cast<size_t>(options_.num_workers), size()));
  for (int i = 0; i < nw; ++i) workers_.emplace_back([this] { worker_loop(); });
}

void DataLoader::worker_loop() {
  make_worker_single_threaded();
  const size_t total = size();
  const uint64_t epoch = epoch_;
  for (;;) {
    size_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || next_claim_ >= total || next_claim_ < taken_ + slots_.size(); });
      if (stop_ || next_claim_ >= total) return;
      b = next_claim_++;
    }
    Slot result;
    try {
      result.batch = build_batch(epoch, b);
    } catch (...) {
      result.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      result.ready = true;
      slots_[b % slots_.size()] = std::move(result);
    }
    ready_cv_.notify_all();
  }
}

void DataLoader::reset(uint64_t epoch) { start_epoch(epoch); }

bool DataLoader::next(Batch& batch) {
  if (!started_) start_epoch(0);
  if (consumed_ >= size()) return false;
  const size_t b = consumed_++;
  if (workers_.empty()) {
    batch = build_batch(epoch_, b);
    return true;
  }
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mu_);
    Slot& s = slots_[b % slots_.size()];
    ready_cv_.wait(lock, [&] { return s.ready; });
    slot = std::move(s);
    s = Slot{};
    taken_ = consumed_;
  }
  work_cv_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  batch = std::move(slot.batch);
  return true;
}

DataLoader::Iterator DataLoader::begin() {
  if (!started_ || consumed_ > 0) start_epoch(started_ ? epoch_ : 0);
  return Iterator(this);
}

DataLoader::Iterator::Iterator(DataLoader* loader) : loader_(loader) {
  if (!loader_->next(batch_)) loader_ = nullptr;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  if (loader_ && !loader_->next(batch_)) loader_ = nullptr;
  return *this;
}

}  // namespace mc::data
