// Helpers of the data-parallel `compress` tests: two processes as ranks 0 and 1 of a world on
// loopback (torchrun's variables), and the per-step trace of `--trace-steps` (rank k > 0 writes
// FILE.rank<k>).
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.h"

namespace mc::test {

struct Ranks {
  int rc[2] = {-1, -1};
  std::string out[2];
};

/// Runs `compress <args>` as ranks 0 and 1 of a 2-process world (each with its own output file).
inline Ranks run_two(const TempDir& tmp, const std::string& args0, const std::string& args1, int port) {
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " ";
  const std::string cmd = "cd " + tmp.path() + " && (" + env + "RANK=0 LOCAL_RANK=0 timeout 900 " + compress_bin() +
                          " " + args0 + " > rank0.out 2>&1 & p0=$!; " + env + "RANK=1 LOCAL_RANK=1 timeout 900 " +
                          compress_bin() + " " + args1 + " > rank1.out 2>&1 & p1=$!; wait $p0; r0=$?; wait $p1; " +
                          "r1=$?; echo $r0 $r1 > codes)";
  run_command(cmd);
  Ranks r;
  std::ifstream codes(tmp.file("codes"));
  codes >> r.rc[0] >> r.rc[1];
  for (int k = 0; k < 2; ++k) {
    std::ifstream f(tmp.file("rank" + std::to_string(k) + ".out"));
    std::stringstream ss;
    ss << f.rdbuf();
    r.out[k] = ss.str();
  }
  return r;
}

/// A recipe on the trained resnet8 fixture with the settings every data-parallel test shares (seed
/// 3, one thread per rank so that every run computes the same floats, JSON report without latency
/// or per-layer rows): `data` and `stages` are the YAML lines under those keys (without the final
/// newline), `distributed` the section's flow map.
inline std::string fixture_recipe(const std::string& name, const std::string& data, const std::string& stages,
                                  const std::string& distributed) {
  return "name: " + name + "\nseed: 3\nthreads: 1\nmodel: {checkpoint: " + resnet8_fixture() + "}\ndata:\n" + data +
         "\nstages:\n" + stages + "\nreport: {formats: [json], latency: false, per_layer: false}\ndistributed: " +
         distributed + "\n";
}

/// One line of a step trace: "<label> <epoch> <step> <loss> [<modifier>=<state> ...]".
struct TraceStep {
  std::string label;
  int64_t epoch = 0, step = 0;
  double loss = 0;
  std::map<std::string, std::string> state;  // modifier name -> its step_trace()
};

inline std::vector<TraceStep> read_trace(const std::string& path) {
  std::ifstream in(path);
  std::vector<TraceStep> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    TraceStep s;
    if (!(ls >> s.label >> s.epoch >> s.step >> s.loss)) break;
    std::string tok;
    while (ls >> tok) {
      const size_t eq = tok.find('=');
      if (eq != std::string::npos) s.state[tok.substr(0, eq)] = tok.substr(eq + 1);
    }
    out.push_back(std::move(s));
  }
  return out;
}

inline std::vector<double> read_losses(const std::string& path) {
  std::vector<double> out;
  for (const auto& s : read_trace(path)) out.push_back(s.loss);
  return out;
}

}  // namespace mc::test
