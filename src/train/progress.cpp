#include "train/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mc::train {

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pct(double fraction) { return fixed(100.0 * fraction, 2) + "%"; }

}  // namespace

Progress::Progress(ProgressOptions options, int64_t epochs, int64_t steps_per_epoch)
    : opt_(std::move(options)), epochs_(epochs), steps_per_epoch_(steps_per_epoch) {
  if (!opt_.bar_out) opt_.bar_out = stderr;
  if (opt_.quiet)
    bar_ = false;
  else if (opt_.tty >= 0)
    bar_ = opt_.tty > 0;
  else
    bar_ = ::isatty(::fileno(opt_.bar_out)) != 0;
  epoch_start_ = last_draw_ = Clock::now();
}

Progress::~Progress() { clear(); }

void Progress::begin_epoch(int64_t epoch) {
  epoch_ = epoch;
  step_ = 0;
  images_ = 0;
  loss_avg_ = 0.0;
  epoch_start_ = Clock::now();
  draw(true);
}

void Progress::step(int64_t images, double loss) {
  ++step_;
  images_ += images;
  // Running mean of the step losses (the bar shows the epoch so far, like most trainers).
  loss_avg_ += (loss - loss_avg_) / static_cast<double>(step_);
  draw(step_ == steps_per_epoch_);
}

void Progress::status(const std::string& text) {
  if (!bar_) return;
  std::string line = opt_.label + " " + std::to_string(epoch_ + 1) + "/" + std::to_string(epochs_) + " " + text;
  std::fprintf(opt_.bar_out, "\r%s\033[K", line.c_str());
  std::fflush(opt_.bar_out);
  drawn_ = true;
}

void Progress::draw(bool force) {
  if (!bar_) return;
  auto now = Clock::now();
  if (!force && std::chrono::duration<double>(now - last_draw_).count() < opt_.redraw_seconds) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  double ips = elapsed > 0 ? static_cast<double>(images_) / elapsed : 0.0;
  double eta = -1.0;
  if (step_ > 0) {
    int64_t left = (epochs_ - epoch_ - 1) * steps_per_epoch_ + (steps_per_epoch_ - step_);
    eta = elapsed / static_cast<double>(step_) * static_cast<double>(left);
  }
  std::string line = format_bar(opt_.label, epoch_, epochs_, step_, steps_per_epoch_, ips, loss_avg_, eta);
  std::fprintf(opt_.bar_out, "\r%s\033[K", line.c_str());
  std::fflush(opt_.bar_out);
  drawn_ = true;
}

void Progress::clear() {
  if (!bar_ || !drawn_) return;
  std::fprintf(opt_.bar_out, "\r\033[K");
  std::fflush(opt_.bar_out);
  drawn_ = false;
}

void Progress::end_epoch(const EpochStats& stats) {
  clear();
  std::string line = format_epoch(opt_.label, stats, epochs_);
  if (opt_.quiet)
    spdlog::debug("{}", line);
  else
    spdlog::info("{}", line);
}

std::string Progress::format_epoch(const std::string& label, const EpochStats& s, int64_t epochs) {
  std::ostringstream o;
  o << label << " epoch " << s.epoch + 1 << "/" << epochs << ": loss " << fixed(s.loss, 4) << ", train acc "
    << pct(s.train_top1);
  if (s.has_val) o << ", val top1 " << pct(s.val.top1) << " top5 " << pct(s.val.top5) << " loss " << fixed(s.val.loss, 4);
  o << ", lr " << s.lr << ", " << fixed(s.img_per_s, 0) << " img/s, " << fixed(s.seconds, 1) << " s";
  if (s.comm_seconds > 0 && s.steps > 0) {  // a data-parallel run: its communication per step
    const double ms = 1000.0 / static_cast<double>(s.steps);
    o << ", comm " << fixed((s.comm_grad_seconds + s.comm_sync_seconds + s.comm_loss_seconds) * ms, 2)
      << " ms/step (gradients " << fixed(s.comm_grad_seconds * ms, 2) << ", sync BN " << fixed(s.comm_sync_seconds * ms, 2)
      << ", loss " << fixed(s.comm_loss_seconds * ms, 2) << ")";
  }
  return o.str();
}

std::string Progress::format_bar(const std::string& label, int64_t epoch, int64_t epochs, int64_t step,
                                 int64_t steps_per_epoch, double img_per_s, double loss, double eta_seconds,
                                 int width) {
  double frac = steps_per_epoch > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(steps_per_epoch), 0.0, 1.0) : 0.0;
  int filled = static_cast<int>(std::floor(frac * width));
  std::ostringstream o;
  o << label << " " << epoch + 1 << "/" << epochs << " [" << std::string(static_cast<size_t>(filled), '#')
    << std::string(static_cast<size_t>(width - filled), '.') << "] ";
  std::string p = std::to_string(static_cast<int>(std::floor(frac * 100.0))) + "%";
  o << std::string(p.size() < 4 ? 4 - p.size() : 0, ' ') << p << "  " << fixed(img_per_s, 0) << " img/s";
  if (step > 0) o << "  loss " << fixed(loss, 4);
  o << "  ETA " << (eta_seconds < 0 ? std::string("--") : format_duration(eta_seconds));
  return o.str();
}

std::string Progress::format_duration(double seconds) {
  int64_t s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>((s % 3600) / 60));
  return buf;
}

}  // namespace mc::train
