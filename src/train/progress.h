// Training progress display. On a terminal (stderr is a TTY) one bar line, redrawn in place, with
// percent, images/s, running loss and ETA; at the end of each epoch the bar is erased and one plain
// summary line is logged. Elsewhere (logs, CI, pipes) only the per-epoch summary lines. The summary
// lines go through spdlog, so they also reach any log file. Quiet: no bar, summaries at debug level.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "train/modifier.h"

namespace mc::train {

struct ProgressOptions {
  bool quiet = false;
  /// -1: bar when stderr is a TTY; 0: never a bar; 1: always a bar (tests).
  int tty = -1;
  /// Prefix of the lines, e.g. "finetune".
  std::string label = "train";
  /// Where the bar is drawn (stderr by default).
  std::FILE* bar_out = nullptr;
  /// Minimum time between two redraws of the bar.
  double redraw_seconds = 0.1;
};

class Progress {
 public:
  Progress(ProgressOptions options, int64_t epochs, int64_t steps_per_epoch);
  ~Progress();

  bool bar() const { return bar_; }
  void begin_epoch(int64_t epoch);
  /// After each training step: `images` in the batch, the step's loss.
  void step(int64_t images, double loss);
  /// Shows a short state in place of the bar (e.g. "validating"), on a TTY only.
  void status(const std::string& text);
  /// Erases the bar and logs the epoch's summary line.
  void end_epoch(const EpochStats& stats);

  /// "finetune epoch 3/10: loss 0.4521, train acc 84.12%, val top1 82.30% top5 99.10%, 1234 img/s, 12.3 s"
  static std::string format_epoch(const std::string& label, const EpochStats& stats, int64_t epochs);
  /// "finetune 3/10 [#######.......]  45%  1234 img/s  loss 0.4312  ETA 1m23s"
  static std::string format_bar(const std::string& label, int64_t epoch, int64_t epochs, int64_t step,
                                int64_t steps_per_epoch, double img_per_s, double loss, double eta_seconds,
                                int width = 24);
  /// "42s", "3m05s", "1h02m".
  static std::string format_duration(double seconds);

 private:
  void draw(bool force);
  void clear();
  using Clock = std::chrono::steady_clock;

  ProgressOptions opt_;
  bool bar_ = false;
  bool drawn_ = false;
  int64_t epochs_, steps_per_epoch_;
  int64_t epoch_ = 0, step_ = 0, images_ = 0;
  double loss_avg_ = 0.0;
  Clock::time_point epoch_start_, last_draw_;
};

}  // namespace mc::train
