// Progress display: line formats, the redrawn bar on a (forced) TTY, plain per-epoch lines through
// spdlog otherwise, quiet mode.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "train/progress.h"

namespace mc::train {
namespace {

// Routes spdlog's default logger into a string for the test's lifetime.
class CaptureLog {
 public:
  CaptureLog() : old_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_pattern("%l: %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~CaptureLog() { spdlog::set_default_logger(old_); }
  std::string str() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> old_;
  std::ostringstream out_;
};

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

EpochStats stats(bool val) {
  EpochStats s;
  s.epoch = 2;
  s.loss = 0.45213;
  s.train_top1 = 0.8412;
  s.has_val = val;
  s.val.top1 = 0.823;
  s.val.top5 = 0.991;
  s.val.loss = 0.5;
  s.img_per_s = 1234.4;
  s.seconds = 12.34;
  s.lr = 0.05;
  return s;
}

TEST(Progress, Formats) {
  EXPECT_EQ(Progress::format_epoch("finetune", stats(true), 10),
            "finetune epoch 3/10: loss 0.4521, train acc 84.12%, val top1 82.30% top5 99.10% loss 0.5000, lr 0.05, "
            "1234 img/s, 12.3 s");
  EXPECT_EQ(Progress::format_epoch("t", stats(false), 3), "t epoch 3/3: loss 0.4521, train acc 84.12%, lr 0.05, 1234 img/s, 12.3 s");
  // A data-parallel epoch: 10 steps, 30 ms of gradient wait, 12 ms in sync BN, 2 ms of loss all-reduce.
  EpochStats dp = stats(false);
  dp.steps = 10;
  dp.comm_seconds = 0.05;
  dp.comm_grad_seconds = 0.03;
  dp.comm_sync_seconds = 0.012;
  dp.comm_loss_seconds = 0.002;
  EXPECT_EQ(Progress::format_epoch("t", dp, 3), "t epoch 3/3: loss 0.4521, train acc 84.12%, lr 0.05, 1234 img/s, 12.3 s, "
                                                "comm 4.40 ms/step (gradients 3.00, sync BN 1.20, loss 0.20)");
  EXPECT_EQ(Progress::format_bar("train", 0, 2, 5, 10, 999.6, 1.23456, 83, 10),
            "train 1/2 [#####.....]  50%  1000 img/s  loss 1.2346  ETA 1m23s");
  EXPECT_EQ(Progress::format_bar("train", 1, 2, 0, 10, 0, 0, -1, 4), "train 2/2 [....]   0%  0 img/s  ETA --");
  EXPECT_EQ(Progress::format_duration(42.4), "42s");
  EXPECT_EQ(Progress::format_duration(185), "3m05s");
  EXPECT_EQ(Progress::format_duration(3720), "1h02m");
}

TEST(Progress, PlainLinesGoToTheLog) {
  CaptureLog log;
  std::FILE* bar = std::tmpfile();
  ProgressOptions o;
  o.tty = 0;
  o.label = "finetune";
  o.bar_out = bar;
  {
    Progress p(o, 2, 3);
    EXPECT_FALSE(p.bar());
    for (int e = 0; e < 2; ++e) {
      p.begin_epoch(e);
      for (int s = 0; s < 3; ++s) p.step(8, 0.5);
      EpochStats st = stats(true);
      st.epoch = e;
      p.end_epoch(st);
    }
  }
  EXPECT_EQ(read_all(bar), "");  // no bar
  std::string text = log.str();
  EXPECT_NE(text.find("info: finetune epoch 1/2: loss"), std::string::npos) << text;
  EXPECT_NE(text.find("info: finetune epoch 2/2: loss"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  std::fclose(bar);
}

TEST(Progress, BarIsRedrawnInPlaceOnATty) {
  CaptureLog log;
  std::FILE* bar = std::tmpfile();
  ProgressOptions o;
  o.tty = 1;
  o.bar_out = bar;
  o.redraw_seconds = 0;  // draw every step
  {
    Progress p(o, 1, 4);
    EXPECT_TRUE(p.bar());
    p.begin_epoch(0);
    for (int s = 0; s < 4; ++s) p.step(16, 1.0 + s);
    p.status("validating");
    p.end_epoch(stats(false));
  }
  std::string drawn = read_all(bar);
  EXPECT_EQ(drawn.find('\n'), std::string::npos) << "the bar must stay on one line";
  EXPECT_NE(drawn.find("\rtrain 1/1 [######"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find(" 50%"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("100%"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("img/s"), std::string::npos);
  EXPECT_NE(drawn.find("loss 2.5000"), std::string::npos) << drawn;  // running mean of 1..4
  EXPECT_NE(drawn.find("ETA"), std::string::npos);
  EXPECT_NE(drawn.find("validating"), std::string::npos);
  EXPECT_EQ(drawn.substr(drawn.size() - 4), "\r\033[K") << "the bar is erased before the summary";
  EXPECT_NE(log.str().find("train epoch 3/1"), std::string::npos) << log.str();
  std::fclose(bar);
}

TEST(Progress, QuietShowsNothing) {
  CaptureLog log;
  std::FILE* bar = std::tmpfile();
  ProgressOptions o;
  o.quiet = true;
  o.tty = 1;
  o.bar_out = bar;
  {
    Progress p(o, 1, 2);
    EXPECT_FALSE(p.bar());
    p.begin_epoch(0);
    p.step(4, 1.0);
    p.step(4, 1.0);
    p.end_epoch(stats(false));
  }
  EXPECT_EQ(read_all(bar), "");
  EXPECT_EQ(log.str(), "");  // at debug level only
  std::fclose(bar);
}

}  // namespace
}  // namespace mc::train
