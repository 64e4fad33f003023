// Training throughput of our trainer on a zoo model: N warm-up + M timed SGD steps on
// Fashion-MNIST-shaped data (random, or the real training set with --data fashion_mnist).
// Prints one JSON line: {"model", "img_per_s", "img_per_cpu_s" (images per second of process CPU
// time, all threads: less sensitive to other load on the machine), ...}. Its PyTorch peer is scripts/bench_train.py;
// scripts/bench.sh runs both.
//
//   train_bench --model resnet8 [--batch 128] [--warmup 5] [--steps 30] [--threads 2]
//               [--data random|fashion_mnist] [--workers 1] [--optimizer sgd|adamw] [--profile FILE]
//
// --profile FILE records every ATen op of the run (warm-up included) with LibTorch's profiler into
// FILE, a Chrome trace (chrome://tracing; scripts/profile_ops.py sums it by op).
//
// --optimizer adamw is recipes/fmnist_vit_tiny.yaml's (lr 0.002, decoupled weight decay 0.05, none on
// biases and norms); sgd (the default) is momentum 0.9, lr 0.01, weight decay 5e-4 on every parameter.
//
// Built by CMake as: add_executable(train_bench bench/train_bench.cpp) linking mc_train mc_frontend.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/error.h"
#include "data/factory.h"
#include "data/loader.h"
#include "data/tensor_dataset.h"
#include "frontend/frontend.h"
#include "train/threads.h"
#include "train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the process (all threads), in seconds.
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Timestamps (wall and CPU time) the end of the warm-up and of the last step.
class StepTimer : public mc::train::Modifier {
 public:
  explicit StepTimer(int64_t warmup) : warmup_(warmup) {}
  std::string name() const override { return "step_timer"; }
  void on_train_begin(mc::train::TrainContext&) override {
    start_ = Clock::now();
    cpu_start_ = cpu_seconds();
  }
  void on_step_end(mc::train::TrainContext& ctx) override {
    if (ctx.step + 1 == warmup_) {
      start_ = Clock::now();
      cpu_start_ = cpu_seconds();
    }
    end_ = Clock::now();
    cpu_end_ = cpu_seconds();
  }
  double seconds() const { return std::chrono::duration<double>(end_ - start_).count(); }
  double cpu() const { return cpu_end_ - cpu_start_; }

 private:
  int64_t warmup_;
  Clock::time_point start_, end_;
  double cpu_start_ = 0, cpu_end_ = 0;
};

int usage(const char* msg) {
  std::fprintf(stderr,
               "%s\nusage: train_bench --model resnet8|lenet5 [--batch 128] [--warmup 5] [--steps 30] [--threads 2] "
               "[--data random|fashion_mnist] [--workers 1] [--optimizer sgd|adamw] [--profile FILE]\n",
               msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  mc::train::reexec_with_passive_omp_wait(argv);  // as compress does (src/cli/main.cpp)
  std::string model = "resnet8", data = "random", optimizer = "sgd", profile;
  int64_t batch = 128, warmup = 5, steps = 30;
  int threads = 2, workers = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    if (a == "--model") model = v;
    else if (a == "--data") data = v;
    else if (a == "--batch") batch = std::stoll(v);
    else if (a == "--warmup") warmup = std::stoll(v);
    else if (a == "--steps") steps = std::stoll(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--workers") workers = std::stoi(v);
    else if (a == "--optimizer") optimizer = v;
    else if (a == "--profile") profile = v;
    else return usage(("unknown option " + a).c_str());
  }
  if (warmup < 1 || steps < 1 || batch < 1) return usage("--warmup, --steps and --batch must be >= 1");
  if (optimizer != "sgd" && optimizer != "adamw") return usage(("unknown optimizer " + optimizer).c_str());
  spdlog::set_level(spdlog::level::warn);
  try {
    mc::train::set_compute_threads(threads);
    mc::frontend::ZooOptions zo;
    zo.num_classes = 10;
    zo.input_shape = {1, 1, 28, 28};
    zo.seed = 0;
    mc::ir::Model m = mc::frontend::build_zoo(model, zo);

    std::shared_ptr<const mc::data::Dataset> ds;
    const int64_t n = batch * (warmup + steps);
    if (data == "random") {
      at::Tensor images = at::randint(0, 256, {n, 1, 28, 28}, at::kByte);
      at::Tensor labels = at::randint(0, 10, {n}, at::kLong);
      ds = std::make_shared<mc::data::TensorDataset>("random_fashion_mnist", images, labels, 10);
    } else {
      mc::data::DatasetSpec spec;
      spec.kind = data;
      ds = mc::data::make_dataset(spec);
    }
    mc::data::LoaderOptions lo;
    lo.batch_size = batch;
    lo.shuffle = true;
    lo.seed = 1;
    lo.drop_last = true;
    lo.num_workers = workers;
    mc::data::DataLoader loader(ds, lo);
    if (static_cast<int64_t>(loader.size()) < warmup + steps)
      throw mc::InputError("not enough data for " + std::to_string(warmup + steps) + " steps");

    mc::train::TrainOptions o;
    o.epochs = 1;
    o.max_steps_per_epoch = warmup + steps;
    if (optimizer == "sgd") {
      o.optimizer.type = "sgd";
      o.optimizer.lr = 0.01;
      o.optimizer.momentum = 0.9;
      o.optimizer.weight_decay = 5e-4;
      o.optimizer.no_decay_1d = false;  // as a plain torch.optim.SGD(model.parameters(), ...)
    } else {
      o.optimizer.type = "adamw";
      o.optimizer.lr = 0.002;
      o.optimizer.weight_decay = 0.05;
      o.optimizer.no_decay_1d = true;
    }
    o.quiet = true;
    o.threads = threads;
    mc::train::Trainer trainer(m, o);
    auto timer = std::make_shared<StepTimer>(warmup);
    trainer.add_modifier(timer);
    if (profile.empty()) {
      trainer.fit(loader);
    } else {
      torch::autograd::profiler::RecordProfile record(profile);
      trainer.fit(loader);
    }
    const double secs = timer->seconds();
    const double images = static_cast<double>(steps * batch);
    std::printf(
        "{\"model\": \"%s\", \"img_per_s\": %.1f, \"img_per_cpu_s\": %.1f, \"impl\": \"compress\", \"batch\": %lld, "
        "\"steps\": %lld, \"optimizer\": \"%s\", \"threads\": %d, \"blas_threads\": %d, \"seconds\": %.3f}\n",
        model.c_str(), images / secs, images / timer->cpu(), static_cast<long long>(batch), static_cast<long long>(steps),
        optimizer.c_str(), at::get_num_threads(), mc::train::blas_threads(), secs);
    return 0;
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
}
