#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "distributed/gradient_reducer.h"
#include "distributed/sync_batch_norm.h"
#include "distributed/world.h"
#include "runtime/executor.h"
#include "train/loss.h"
#include "train/memory.h"
#include "train/progress.h"
#include "train/threads.h"

namespace mc::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Restores requires_grad of the parameters fit() switched on and drops their gradients, on every exit.
class ParamRestore {
 public:
  explicit ParamRestore(ir::Model& m) : model_(m) {
    for (auto& n : m.param_names())
      if (m.tensors.at(n).requires_grad()) had_grad_.insert(n);
  }
  ~ParamRestore() {
    for (auto& n : model_.param_names()) {
      auto it = model_.tensors.find(n);
      if (it == model_.tensors.end()) continue;
      at::Tensor& t = it->second;
      if (t.grad().defined()) t.mutable_grad().reset();
      if (!had_grad_.count(n) && t.requires_grad() && t.is_leaf()) t.requires_grad_(false);
    }
  }

 private:
  ir::Model& model_;
  std::set<std::string> had_grad_;
};

// A generator for `device` seeded with `seed` (a fresh one: ATen's default generator is untouched).
at::Generator seeded_generator(const c10::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Generator g = at::globalContext().defaultGenerator(device).clone();
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(seed);
  return g;
}

// The data-parallel side of fit(): same start on every rank, averaged gradients, synchronised
// BatchNorm, global-batch loss and counts. Does nothing in a one-process world.
class DataParallel {
 public:
  DataParallel(ir::Model& model, const TrainOptions& o) : world_(dist::world()) {
    if (!world_.distributed()) return;
    broadcast_from_rank0(model);
    reducer_ = std::make_unique<dist::GradientReducer>(world_, static_cast<size_t>(o.bucket_mb * 1024 * 1024));
    sync_bn_ = o.sync_batch_norm;
  }
  bool active() const { return world_.distributed(); }
  /// Rank 0's tensors everywhere (parameters and buffers such as BatchNorm statistics), in name
  /// order: at the start, and at the end, where the BatchNorm running statistics of an unsynchronised
  /// run differ by rank: every rank then holds the model rank 0 saves (what the next stages measure,
  /// and what a resumed run loads), as DDP's buffer broadcast does.
  void broadcast_from_rank0(ir::Model& model) {
    if (!active()) return;
    std::vector<at::Tensor> all;
    for (auto& [name, t] : model.tensors)
      if (t.is_floating_point() || t.scalar_type() == at::kLong || t.scalar_type() == at::kInt) all.push_back(t.detach());
    for (auto& t : all)
      if (!t.is_contiguous()) throw Error("data-parallel training: tensor of '" + model.name + "' is not contiguous");
    world_.broadcast(all, 0);
  }
  void attach(runtime::Executor& ex, const std::vector<at::Tensor>& params) {
    if (!active()) return;
    reducer_->set_params(params);
    if (sync_bn_) {
      dist::World* w = &world_;
      ex.set_batch_norm_training([w](const at::Tensor& x, const at::Tensor& wt, const at::Tensor& b, const at::Tensor& rm,
                                     const at::Tensor& rv, double momentum, double eps) {
        return dist::sync_batch_norm(*w, x, wt, b, rm, rv, momentum, eps);
      });
    }
  }
  /// The mean loss over the ranks (every rank gets the same value: the same stop decisions).
  double global_loss(double local) {
    if (!active()) return local;
    at::Tensor t = at::full({1}, local, at::kDouble);
    world_.all_reduce(t, dist::ReduceOp::kAvg);
    return t.item<double>();
  }
  void before_backward() {
    if (active()) reducer_->prepare();
  }
  void after_backward() {
    if (active()) reducer_->finish();
  }
  /// Epoch sums over the ranks: correct, images, loss_sum.
  void epoch_sums(int64_t& correct, int64_t& images, double& loss_sum) {
    if (!active()) return;
    at::Tensor t = at::tensor({static_cast<double>(correct), static_cast<double>(images), loss_sum}, at::kDouble);
    world_.all_reduce(t, dist::ReduceOp::kSum);
    correct = static_cast<int64_t>(std::llround(t[0].item<double>()));
    images = static_cast<int64_t>(std::llround(t[1].item<double>()));
    loss_sum = t[2].item<double>();
  }
  double comm_seconds() const { return world_.comm_seconds(); }
  bool is_main() const { return world_.is_main(); }
  /// --trace-steps FILE: rank 0 writes FILE, rank k > 0 FILE.rank<k>.
  std::string trace_path(const std::string& file) const {
    return world_.is_main() ? file : file + ".rank" + std::to_string(world_.rank());
  }
  /// Per-phase communication time of a step: mark_comm() at its start, then comm_since_mark(phase)
  /// after each phase adds the seconds spent in collectives since the last mark to `phase`.
  void mark_comm() { mark_ = world_.comm_seconds(); }
  void comm_since_mark(double& into) {
    const double now = world_.comm_seconds();
    into += now - mark_;
    mark_ = now;
  }

 private:
  dist::World& world_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  bool sync_bn_ = false;
  double mark_ = 0.0;
};

// One line of the step trace: "<label> <epoch> <step> <loss>" (1-based, %.9g), then
// " <modifier>=<state>" for each modifier with a step_trace().
void write_trace_line(std::ofstream& trace, const std::string& label, int64_t epoch, int64_t step, double loss,
                      const std::vector<std::shared_ptr<Modifier>>& modifiers) {
  char value[64];
  std::snprintf(value, sizeof value, "%.9g", loss);
  trace << label << " " << epoch + 1 << " " << step + 1 << " " << value;
  for (auto& m : modifiers) {
    const std::string state = m->step_trace();
    if (!state.empty()) trace << " " << m->name() << "=" << state;
  }
  trace << "\n";
}

}  // namespace

void validate(const TrainOptions& o) {
  if (o.epochs <= 0) throw InputError("epochs = " + std::to_string(o.epochs) + " must be >= 1");
  validate(o.optimizer);
  validate(o.schedule);
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
    throw InputError("label_smoothing = " + num(o.label_smoothing) + " is out of range: must be in [0, 1) (e.g. 0.1)");
  if (!(o.grad_clip_norm >= 0))
    throw InputError("grad_clip_norm = " + num(o.grad_clip_norm) + " must be >= 0 (0 turns clipping off)");
  if (o.threads < 0) throw InputError("threads = " + std::to_string(o.threads) + " must be >= 0 (0 = default)");
  if (!(o.bucket_mb > 0)) throw InputError("bucket_mb = " + num(o.bucket_mb) + " must be > 0 (e.g. 25)");
  if (o.schedule.type == "cosine" && o.schedule.min_lr > o.optimizer.lr)
    throw InputError("schedule.min_lr = " + num(o.schedule.min_lr) + " is above optimizer.lr = " + num(o.optimizer.lr));
}

Trainer::Trainer(ir::Model& model, TrainOptions options) : model_(model), options_(std::move(options)) {
  validate(options_);
}

Trainer::~Trainer() = default;

void Trainer::add_modifier(std::shared_ptr<Modifier> modifier) {
  if (!modifier) throw Error("Trainer::add_modifier: null modifier");
  modifiers_.push_back(std::move(modifier));
}

TrainResult Trainer::fit(data::DataLoader& train, data::DataLoader* val) {
  const auto t_fit = Clock::now();
  const TrainOptions& o = options_;
  if (o.threads > 0) set_compute_threads(o.threads);
  if (o.tune_malloc) tune_malloc_for_training();

  int64_t steps_per_epoch = static_cast<int64_t>(train.size());
  if (o.max_steps_per_epoch > 0) steps_per_epoch = std::min(steps_per_epoch, o.max_steps_per_epoch);
  if (steps_per_epoch == 0)
    throw InputError("training data '" + train.dataset().name() + "' yields no batches (" +
                     std::to_string(train.dataset().size()) + " samples, batch size " +
                     std::to_string(train.options().batch_size) + (train.options().drop_last ? ", drop_last" : "") + ")");

  ParamRestore restore(model_);
  DataParallel dp(model_, o);
  auto executor = std::make_unique<runtime::Executor>(model_);
  auto optimizer = make_optimizer(o.optimizer, executor->parameters(), executor->parameter_names());
  if (optimizer->params().empty())
    throw InputError("model '" + model_.name + "' has no trainable parameters: nothing to train");
  const LrSchedule schedule(o.schedule, o.optimizer.lr, steps_per_epoch, o.epochs);
  const c10::Device device = optimizer->params().front().device();

  TrainContext ctx;
  ctx.model = &model_;
  ctx.generator = seeded_generator(device, o.seed);
  executor->set_generator(ctx.generator);
  ctx.set_executor(executor.get());
  ctx.optimizer = optimizer.get();
  ctx.options = &options_;
  ctx.epochs = o.epochs;
  ctx.steps_per_epoch = steps_per_epoch;
  ctx.total_steps = schedule.total_steps();
  dp.attach(*executor, optimizer->params());
  std::ofstream trace;
  if (!o.step_trace.empty()) {
    const std::string path = dp.trace_path(o.step_trace);
    trace.open(path, std::ios::app);
    if (!trace) throw InputError("cannot open the step trace file '" + path + "' for appending");
  }

  // The model's parameters plus the modifiers' own (extra_parameters, e.g. distillation adapters).
  auto set_all_params = [&] {
    std::vector<at::Tensor> params = executor->parameters();
    std::vector<std::string> names = executor->parameter_names();
    for (auto& m : modifiers_)
      for (auto& [name, t] : m->extra_parameters()) {
        names.push_back(name);
        params.push_back(t);
      }
    optimizer->set_params(std::move(params), std::move(names));
    dp.attach(*executor, optimizer->params());
  };
  auto rebuild = [&] {
    if (!ctx.rebuild_requested) return;
    ctx.rebuild_requested = false;
    auto rebuilt = std::make_unique<runtime::Executor>(model_);
    rebuilt->set_generator(ctx.generator);
    ctx.set_executor(rebuilt.get());  // re-attaches the modifiers' hooks before the next forward
    executor = std::move(rebuilt);
    set_all_params();
  };

  ProgressOptions popt;
  popt.quiet = o.quiet;
  popt.tty = o.progress_tty;
  popt.label = o.label;
  Progress progress(popt, o.epochs, steps_per_epoch);
  const std::string start = o.label + ": " + std::to_string(o.epochs) + " epoch(s) of " + std::to_string(steps_per_epoch) +
                            " steps (batch " + std::to_string(train.options().batch_size) + ") on '" +
                            train.dataset().name() + "', " + o.optimizer.type + ", " + schedule.describe();
  if (o.quiet)
    spdlog::debug("{}", start);
  else
    spdlog::info("{}", start);

  TrainResult result;
  for (auto& m : modifiers_) {
    m->on_train_begin(ctx);
    rebuild();
  }
  if (std::any_of(modifiers_.begin(), modifiers_.end(), [](auto& m) { return !m->extra_parameters().empty(); }))
    set_all_params();
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    ctx.epoch = epoch;
    ctx.step_in_epoch = 0;
    for (auto& m : modifiers_) {
      m->on_epoch_begin(ctx, epoch);
      rebuild();
    }
    train.reset(static_cast<uint64_t>(epoch));
    progress.begin_epoch(epoch);
    const double comm_before = dp.comm_seconds();
    const auto t_epoch = Clock::now();
    double loss_sum = 0.0;
    int64_t correct = 0, images = 0;
    EpochStats stats;
    data::Batch batch;
    while (ctx.step_in_epoch < steps_per_epoch && train.next(batch)) {
      at::Tensor x = batch.images, y = batch.labels;
      if (x.device() != device) x = x.to(device);
      if (y.device() != device) y = y.to(device);
      optimizer->set_lr(schedule.lr_at(ctx.step));

      dp.mark_comm();  // the step's collectives from here
      at::Tensor out = executor->forward({x}, /*training=*/true).at(0);
      ctx.batch_indices = batch.indices;
      at::Tensor loss = cross_entropy(out, y, o.label_smoothing);
      double task_weight = 1.0;
      for (auto& m : modifiers_) task_weight *= m->task_loss_weight(ctx);
      if (task_weight != 1.0) loss = loss * task_weight;
      for (auto& m : modifiers_) {
        at::Tensor extra = m->extra_loss(ctx, x, out, y);
        if (extra.defined()) loss = loss + extra;
      }
      dp.comm_since_mark(stats.comm_sync_seconds);  // forward: synchronised BatchNorm, QAT observers
      const double loss_value = dp.global_loss(loss.item<double>());
      dp.comm_since_mark(stats.comm_loss_seconds);
      if (!std::isfinite(loss_value)) {
        throw RuntimeFailure(o.label + ": loss became " + num(loss_value) + " at epoch " + std::to_string(epoch + 1) +
                             " step " + std::to_string(ctx.step_in_epoch + 1) +
                             ": lower the learning rate (optimizer.lr = " + num(o.optimizer.lr) + ", this step used " +
                             num(optimizer->lr()) + "), add a warm-up (schedule.warmup_epochs) or clip gradients " +
                             "(grad_clip_norm, e.g. 5)");
      }
      optimizer->zero_grad();
      dp.before_backward();
      loss.backward();
      loss = at::Tensor();
      dp.comm_since_mark(stats.comm_sync_seconds);  // backward: synchronised BatchNorm
      dp.after_backward();
      dp.comm_since_mark(stats.comm_grad_seconds);  // waiting for the gradient buckets
      for (auto& m : modifiers_) m->on_after_backward(ctx);
      if (o.grad_clip_norm > 0) clip_grad_norm(optimizer->params(), o.grad_clip_norm);
      optimizer->step();
      ctx.loss = loss_value;
      for (auto& m : modifiers_) {
        m->on_step_end(ctx);
        rebuild();
      }
      if (trace.is_open()) write_trace_line(trace, o.label, epoch, ctx.step, loss_value, modifiers_);

      const int64_t n = out.size(0);
      correct += out.detach().argmax(1).eq(y).sum().item<int64_t>();
      out = at::Tensor();
      loss_sum += loss_value * static_cast<double>(n);
      images += n;
      ++ctx.step;
      ++ctx.step_in_epoch;
      progress.step(n, loss_value);
    }

    dp.epoch_sums(correct, images, loss_sum);
    stats.epoch = epoch;
    stats.steps = ctx.step_in_epoch;
    stats.comm_seconds = dp.comm_seconds() - comm_before;
    stats.images = images;
    stats.seconds = seconds_since(t_epoch);
    stats.img_per_s = stats.seconds > 0 ? static_cast<double>(images) / stats.seconds : 0.0;
    stats.loss = images > 0 ? loss_sum / static_cast<double>(images) : 0.0;
    stats.train_top1 = images > 0 ? static_cast<double>(correct) / static_cast<double>(images) : 0.0;
    stats.lr = optimizer->lr();
    optimizer->zero_grad();  // free the gradients before validation
    if (val) {
      progress.status("validating");
      stats.val = evaluate(*executor, *val, o.max_val_batches);
      stats.has_val = true;
    }
    progress.end_epoch(stats);
    ctx.history.push_back(stats);
    result.epochs.push_back(stats);
    for (auto& m : modifiers_) {
      m->on_epoch_end(ctx, epoch);
      rebuild();
    }
    if (ctx.stop_requested) {
      result.stopped_early = epoch + 1 < o.epochs;
      if (result.stopped_early)
        spdlog::log(o.quiet ? spdlog::level::debug : spdlog::level::info, "{}: stopped after epoch {} of {} (requested by a modifier)",
                    o.label, epoch + 1, o.epochs);
      break;
    }
  }
  for (auto& m : modifiers_) m->on_train_end(ctx);
  dp.broadcast_from_rank0(model_);
  result.steps = ctx.step;
  result.seconds = seconds_since(t_fit);
  return result;
}

}  // namespace mc::train
