#include "search/search_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace mc::search {
namespace fs = std::filesystem;

std::vector<TrialResult> read_trials(const std::string& path) {
  std::vector<TrialResult> out;
  if (!fs::exists(path)) return out;
  std::istringstream in(read_file(path));
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      out.push_back(TrialResult::from_json(nlohmann::json::parse(line)));
    } catch (const nlohmann::json::exception& e) {
      if (in.peek() == EOF) break;  // the last line, torn by a kill while it was written
      throw InputError(path + ":" + std::to_string(n) + ": not a trial record (" + e.what() +
                       "); delete the search directory or run without --resume");
    }
  }
  return out;
}

void append_trial(const std::string& path, const TrialResult& t) {
  const std::string line = t.to_json().dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError("cannot write " + path);
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw RuntimeFailure("cannot append to " + path);
}

std::vector<size_t> pareto_front(const std::vector<TrialResult>& trials) {
  std::vector<size_t> front;
  for (size_t i = 0; i < trials.size(); ++i) {
    if (trials[i].status != "done") continue;
    bool dominated = false;
    for (size_t j = 0; j < trials.size() && !dominated; ++j) {
      if (j == i || trials[j].status != "done") continue;
      const auto &a = trials[j], &b = trials[i];
      dominated = a.objective <= b.objective && a.top1 >= b.top1 && (a.objective < b.objective || a.top1 > b.top1);
    }
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return trials[a].objective < trials[b].objective; });
  return front;
}

std::optional<Best> choose_best(const std::vector<TrialResult>& trials, const AutoOptions& options) {
  const TrialResult* base = nullptr;
  for (const auto& t : trials)
    if (t.config.empty() && t.status == "done") base = &t;
  if (!base) return std::nullopt;
  const double min_top1 = options.min_top1(base->top1);
  std::optional<Best> best;
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialResult& t = trials[i];
    if (t.status != "done" || t.config.empty()) continue;
    const bool met = t.top1 >= min_top1;
    if (!best) {
      best = Best{i, met, met ? 0.0 : (min_top1 - t.top1) * 100, true};
      continue;
    }
    const TrialResult& b = trials[best->index];
    const bool better = met ? (!best->met || t.objective < b.objective || (t.objective == b.objective && t.top1 > b.top1))
                            : (!best->met && t.top1 > b.top1);
    if (better) best = Best{i, met, met ? 0.0 : (min_top1 - t.top1) * 100, true};
  }
  if (!best)
    for (size_t i = 0; i < trials.size(); ++i)
      if (&trials[i] == base) best = Best{i, true, 0.0, false};
  return best;
}

namespace {

void copy_atomically(const fs::path& from, const fs::path& to) {
  write_path_atomically(to.string(), [&](const std::string& tmp) { fs::copy_file(from, tmp, fs::copy_options::overwrite_existing); });
}

nlohmann::json trial_summary(const TrialResult& t, double base_objective) {
  nlohmann::json j = t.to_json();
  if (t.status == "done" && t.objective > 0) j["ratio"] = base_objective / t.objective;
  return j;
}

}  // namespace

void write_results(const std::string& out_dir, const std::vector<TrialResult>& trials, const AutoOptions& options) {
  const fs::path out(out_dir);
  const std::optional<Best> best = choose_best(trials, options);
  const TrialResult* base = nullptr;
  for (const auto& t : trials)
    if (t.config.empty() && t.status == "done") base = &t;
  const double base_objective = base ? base->objective : 0.0;
  nlohmann::json pareto = {{"objective", options.objective}, {"front", nlohmann::json::array()}};
  if (options.objective == "ort_latency") {
    pareto["batch"] = options.batch;
    pareto["latency_statistic"] = options.latency_statistic;
  }
  if (base) {
    pareto["baseline"] = trial_summary(*base, base_objective);
    pareto["min_top1"] = options.min_top1(base->top1);
  }
  for (size_t i : pareto_front(trials)) pareto["front"].push_back(trial_summary(trials[i], base_objective));
  if (best) pareto["best"] = trials[best->index].index;
  write_file_atomically((out / "pareto.json").string(), [&](std::ostream& o) { o << pareto.dump(2) << "\n"; });
  if (!best) return;

  const TrialResult& t = trials[best->index];
  nlohmann::json b = trial_summary(t, base_objective);
  b["met"] = best->met;
  b["miss_points"] = best->miss;
  b["compressed"] = best->compressed;
  b["max_loss"] = options.max_loss;
  b["loss"] = options.loss;
  if (base) b["baseline_top1"] = base->top1;
  if (base) b["min_top1"] = options.min_top1(base->top1);
  // The model files first and best.json last: best.json names the trial whose files are there.
  const fs::path dir = out / t.dir;
  const std::optional<nlohmann::json> previous = [&]() -> std::optional<nlohmann::json> {
    if (!fs::exists(out / "best.json")) return std::nullopt;
    try {
      return nlohmann::json::parse(read_file((out / "best.json").string()));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }();
  if (!previous || previous->value("trial", int64_t{-1}) != t.index || !fs::exists(out / "best.yaml")) {
    copy_atomically(dir / "recipe.yaml", out / "best.yaml");
    copy_atomically(dir / "run" / "model.mcm", out / "best.mcm");
    copy_atomically(dir / "run" / "model.onnx", out / "best.onnx");
  }
  write_file_atomically((out / "best.json").string(), [&](std::ostream& o) { o << b.dump(2) << "\n"; });
}

}  // namespace mc::search
