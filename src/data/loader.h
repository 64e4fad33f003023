// DataLoader: batches of a Dataset, shuffled reproducibly, built ahead of time on worker threads.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace mc::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  /// Visit the samples in a random order fixed by (seed, epoch); else in index order.
  bool shuffle = false;
  uint64_t seed = 0;
  /// Drop the last batch when it is smaller than batch_size.
  bool drop_last = false;
  /// Threads building batches ahead; 0 builds each batch in next() on the calling thread.
  /// Each worker runs its tensor ops single-threaded (so workers do not oversubscribe the cores
  /// the trainer computes on); raise num_workers for more decode throughput.
  /// Batches are identical for every worker count.
  int num_workers = 2;
  /// Applied to every sample (may be null). Random transforms draw from an rng seeded by
  /// (seed, epoch, batch index), so they are reproducible too.
  std::shared_ptr<const Transform> transforms;
  /// How many batches may be built ahead of the consumer (>= 1; at least num_workers are).
  int prefetch = 4;
  /// Data-parallel sharding (torch's DistributedSampler layout): the epoch's order (the same
  /// seeded permutation on every rank) is dealt round-robin, rank r taking positions r, r + W,
  /// r + 2W, ... So batch b of every rank together are positions [b*B*W, (b+1)*B*W) of the order:
  /// exactly batch b of one process with batch size B*W. world_size 1: no sharding.
  int rank = 0;
  int world_size = 1;
  /// What happens to the samples left over when N is not a multiple of W:
  ///   kPad   every rank gets ceil(N/W), the order repeated from its start (training);
  ///   kDrop  every rank gets floor(N/W), the last N mod W samples are not seen this epoch;
  ///   kSplit no padding, no dropping: ranks differ by one sample at most (evaluation, where each
  ///          sample must be counted once).
  enum class Remainder { kPad, kDrop, kSplit };
  Remainder remainder = Remainder::kPad;
};

/// Usage:
///   LoaderOptions opts;
///   opts.batch_size = 128;
///   opts.shuffle = true;
///   opts.transforms = make_transforms(specs);
///   DataLoader loader(dataset, opts);
///   for (uint64_t epoch = 0; epoch < epochs; ++epoch) {
///     loader.reset(epoch);
///     Batch b;
///     while (loader.next(b)) train_step(b.images, b.labels);
///   }
/// or, after reset(epoch), `for (const Batch& b : loader)`.
///
/// Datasets with an in-memory fast path (idx, CIFAR-10, npy) build a batch with one
/// index_select; transforms then run on the whole batch. Other datasets decode per sample.
/// Errors while building a batch (e.g. an undecodable image) are rethrown by next().
class DataLoader {
 public:
  /// Throws InputError for bad options, or when the transforms do not fit the dataset's samples.
  explicit DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Batches per epoch.
  size_t size() const;
  /// Samples per epoch on this rank (fewer than dataset().size() with drop_last or several ranks).
  size_t num_samples() const;
  /// Shape {C, H, W} of the samples in a batch (the dataset's, after the transforms).
  std::vector<int64_t> sample_shape() const;

  /// Starts epoch `epoch` from its first batch (stopping any epoch in progress).
  void reset(uint64_t epoch);
  /// The next batch of the current epoch; false when the epoch is done. Starts epoch 0 when
  /// reset() was never called.
  bool next(Batch& batch);
  uint64_t epoch() const { return epoch_; }

  /// The sample indices of batch `b` in epoch `epoch` (what next() will deliver, in order).
  std::vector<int64_t> batch_indices(uint64_t epoch, size_t b) const;

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  /// Input iterator over the remaining batches of the current epoch (begin() restarts the epoch
  /// when it has already been started).
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;
    Iterator() = default;
    const Batch& operator*() const { return batch_; }
    const Batch* operator->() const { return &batch_; }
    Iterator& operator++();
    bool operator==(const Iterator& o) const { return loader_ == o.loader_; }
    bool operator!=(const Iterator& o) const { return !(*this == o); }

   private:
    friend class DataLoader;
    explicit Iterator(DataLoader* loader);
    DataLoader* loader_ = nullptr;
    Batch batch_;
  };
  Iterator begin();
  Iterator end() { return Iterator(); }

 private:
  struct Slot {
    bool ready = false;
    Batch batch;
    std::exception_ptr error;
  };

  Batch build_batch(uint64_t epoch, size_t b) const;
  /// This rank's samples of epoch `epoch`, in order.
  std::vector<int64_t> epoch_order(uint64_t epoch) const;
  /// How many samples this rank gets per epoch (before drop_last).
  size_t shard_size() const;
  void start_epoch(uint64_t epoch);
  void stop_workers();
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  std::vector<int64_t> sample_shape_;

  // Current epoch.
  uint64_t epoch_ = 0;
  bool started_ = false;
  std::vector<int64_t> order_;  // sample order of the epoch
  size_t consumed_ = 0;         // batches handed out by next()

  // Worker state (guarded by mu_).
  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<Slot> slots_;  // ring of prefetched batches, slot = batch % slots_.size()
  size_t next_claim_ = 0;    // next batch a worker will build
  size_t taken_ = 0;         // batches the consumer has taken (copy of consumed_ for workers)
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace mc::data
