// The `compress` binary: --version/--help, `inspect` (table and --json) and `run` on zoo models,
// and the exit codes and messages of bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

// Parameter counts worked out from the architectures (see src/frontend/zoo.cpp), independently of
// the zoo's code.
int64_t conv(int64_t cin, int64_t cout, int64_t k, bool bias = false) { return cin * cout * k * k + (bias ? cout : 0); }
int64_t bn(int64_t c) { return 2 * c; }
int64_t fc(int64_t in, int64_t out) { return in * out + out; }

int64_t cifar_resnet_params(int64_t cin, int blocks, int64_t classes) {
  int64_t n = conv(cin, 16, 3) + bn(16);
  int64_t c = 16;
  for (int64_t w : {16, 32, 64}) {
    for (int b = 0; b < blocks; ++b) {
      n += conv(c, w, 3) + bn(w) + conv(w, w, 3) + bn(w);
      if (c != w) n += conv(c, w, 1) + bn(w);  // option B shortcut (stride 2 and wider)
      c = w;
    }
  }
  return n + fc(64, classes);
}

int64_t lenet5_params(int64_t cin, int64_t flat, int64_t classes) {
  return conv(cin, 6, 5, true) + conv(6, 16, 5, true) + fc(flat, 120) + fc(120, 84) + fc(84, classes);
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// Output of a command run by run_compress is stdout and stderr together; the JSON is the part
// from the first '{' on.
nlohmann::json parse_json(const std::string& out) {
  auto p = out.find('{');
  if (p == std::string::npos) throw std::runtime_error("no JSON in: " + out);
  return nlohmann::json::parse(out.substr(p));
}

TEST(Cli, VersionAndHelp) {
  auto v = run_compress("--version");
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_NE(v.out.find("compress"), std::string::npos) << v.out;
  auto h = run_compress("--help");
  EXPECT_EQ(h.exit_code, 0) << h.out;
  EXPECT_NE(h.out.find("inspect"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("run"), std::string::npos) << h.out;
  auto hi = run_compress("inspect --help");
  EXPECT_EQ(hi.exit_code, 0) << hi.out;
  EXPECT_NE(hi.out.find("--input-shape"), std::string::npos) << hi.out;
  auto hr = run_compress("run --help");
  EXPECT_EQ(hr.exit_code, 0) << hr.out;
  EXPECT_NE(hr.out.find("--output"), std::string::npos) << hr.out;
}

// compress runs itself again with OMP_WAIT_POLICY=PASSIVE when neither it nor GOMP_SPINCOUNT is set
// (libgomp reads them only when it is loaded, before main: src/train/threads.h), and keeps what the
// user set. The debug log reports the value the process started with (/proc/self/environ), so a
// setenv() in main instead of the re-exec would log "unset" and fail here.
TEST(Cli, RunsWithPassiveOmpWaitPolicyUnlessTheUserSetsOne) {
  const std::string cmd = test::compress_bin() + " -v inspect zoo:lenet5 --input-shape 1,1,28,28";
  auto d = test::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + cmd);
  EXPECT_EQ(d.exit_code, 0) << d.out;
  EXPECT_NE(d.out.find("OMP_WAIT_POLICY=PASSIVE at start-up"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("model lenet5 (zoo:lenet5)"), std::string::npos) << d.out;  // the arguments went along
  auto a = test::run_command("env OMP_WAIT_POLICY=ACTIVE " + cmd);
  EXPECT_EQ(a.exit_code, 0) << a.out;
  EXPECT_NE(a.out.find("OMP_WAIT_POLICY=ACTIVE at start-up"), std::string::npos) << a.out;
  auto s = test::run_command("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000 " + cmd);
  EXPECT_EQ(s.exit_code, 0) << s.out;
  EXPECT_NE(s.out.find("OMP_WAIT_POLICY=unset at start-up"), std::string::npos) << s.out;
  auto bad = test::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + test::compress_bin() + " inspect");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;  // exit codes pass through the re-exec
}

TEST(Cli, ParamCountsByHand) {
  EXPECT_EQ(cifar_resnet_params(3, 1, 10), 78042);
  EXPECT_EQ(cifar_resnet_params(3, 3, 10), 272474);
  EXPECT_EQ(lenet5_params(1, 16 * 5 * 5, 10), 61706);
}

TEST(Cli, InspectTable) {
  auto r = run_compress("inspect zoo:resnet8 --input-shape 1,3,32,32");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* s : {"scope", "MACs", "layer1.0.conv1", "layer2.0.downsample.0", "conv2d", "batch_norm", "[1,16,32,32]",
                        "[1,64,8,8]", "fc", "[1,10]"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing in\n" << r.out;
  EXPECT_NE(r.out.find("params " + std::to_string(cifar_resnet_params(3, 1, 10))), std::string::npos) << r.out;
  // One row per compute node: no param/constant rows.
  EXPECT_EQ(r.out.find(" param "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" constant "), std::string::npos) << r.out;
  // The conv1 row: 16*3*3*3 = 432 params, 16*32*32*27 = 442368 MACs.
  std::istringstream lines(r.out);
  std::string line, conv1_row;
  while (std::getline(lines, line))
    if (line.rfind("conv1 ", 0) == 0) conv1_row = line;
  std::istringstream cells(conv1_row);
  std::string scope, op, shape, params, macs;
  cells >> scope >> op >> shape >> params >> macs;
  EXPECT_EQ(op, "conv2d") << conv1_row;
  EXPECT_EQ(shape, "[1,16,32,32]") << conv1_row;
  EXPECT_EQ(params, "432") << conv1_row;
  EXPECT_EQ(macs, "442368") << conv1_row;
}

TEST(Cli, InspectJson) {
  auto r = run_compress("-q inspect zoo:resnet20 --input-shape 1,3,32,32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = parse_json(r.out);
  EXPECT_EQ(j["params"].get<int64_t>(), cifar_resnet_params(3, 3, 10));
  EXPECT_EQ(j["input_shape"], nlohmann::json::array({1, 3, 32, 32}));
  ASSERT_TRUE(j["layers"].is_array());
  int64_t params = 0, macs = 0;
  for (auto& l : j["layers"]) {
    params += l["params"].get<int64_t>();
    macs += l["macs"].get<int64_t>();
    EXPECT_TRUE(l.contains("scope") && l.contains("op") && l.contains("output_shape")) << l.dump();
  }
  EXPECT_EQ(params, j["params"].get<int64_t>());
  EXPECT_EQ(macs, j["macs"].get<int64_t>());
  EXPECT_GT(macs, 40'000'000);  // resnet20 on CIFAR: about 41M MACs
  EXPECT_LT(macs, 45'000'000);

  // lenet5 on MNIST: exact MACs (conv1 117600 + pool1 4704 + conv2 240000 + pool2 1600 + fc 58920).
  auto l = run_compress("inspect zoo:lenet5 --json");
  ASSERT_EQ(l.exit_code, 0) << l.out;
  auto lj = parse_json(l.out);
  EXPECT_EQ(lj["params"].get<int64_t>(), lenet5_params(1, 400, 10));
  EXPECT_EQ(lj["macs"].get<int64_t>(), 422824);
  EXPECT_EQ(lj["input_shape"], nlohmann::json::array({1, 1, 28, 28}));
  ASSERT_EQ(lj["layers"].size(), 12u);  // conv relu pool conv relu pool flatten fc relu fc relu fc
  EXPECT_EQ(lj["layers"][0]["scope"], "conv1");
  EXPECT_EQ(lj["layers"][0]["output_shape"], nlohmann::json::array({1, 6, 28, 28}));
  EXPECT_EQ(lj["layers"][11]["scope"], "fc3");
  EXPECT_EQ(lj["layers"][11]["params"].get<int64_t>(), 850);

  auto m = run_compress("inspect zoo:mobilenet_v2_small --input-shape 1,3,32,32 --json");
  ASSERT_EQ(m.exit_code, 0) << m.out;
  EXPECT_EQ(parse_json(m.out)["params"].get<int64_t>(), 700490);
}

TEST(Cli, RunZooModelOnNpy) {
  ASSERT_TRUE(test::python_oracle("numpy"));
  test::TempDir dir;
  std::string x = dir.file("x.npy"), y = dir.file("y.npy"), y2 = dir.file("y2.npy");
  auto py = test::run_command("/usr/bin/python3 -c \"import numpy as np; np.save('" + x +
                              "', np.random.RandomState(0).randn(3, 3, 32, 32).astype(np.float32))\"");
  ASSERT_EQ(py.exit_code, 0) << py.out;
  auto r = run_compress("run zoo:resnet8 --input " + q(x) + " --output " + q(y));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  at::Tensor out = data::read_npy(y);
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{3, 10}));
  EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  // Deterministic (zoo seed 0), and readable by NumPy as float32 C order.
  auto r2 = run_compress("-q run zoo:resnet8 --input " + q(x) + " --output " + q(y2) + " --input-shape 1,3,32,32");
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  EXPECT_TRUE(at::equal(out, data::read_npy(y2)));
  auto chk = test::run_command("/usr/bin/python3 -c \"import numpy as np; a = np.load('" + y +
                               "'); print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'])\"");
  EXPECT_EQ(chk.exit_code, 0) << chk.out;
  EXPECT_NE(chk.out.find("float32 (3, 10) True"), std::string::npos) << chk.out;
  // A float64 input is converted.
  std::string x64 = dir.file("x64.npy");
  data::write_npy(x64, at::randn({1, 1, 28, 28}, at::kDouble));
  auto r3 = run_compress("run zoo:lenet5 --input " + q(x64) + " --output " + q(dir.file("y3.npy")));
  ASSERT_EQ(r3.exit_code, 0) << r3.out;
  EXPECT_EQ(data::read_npy(dir.file("y3.npy")).sizes(), (at::IntArrayRef{1, 10}));
}

TEST(Cli, BadInputShapeIsExit2NamingTheFlag) {
  for (const char* bad : {"1,x,28,28", "1,3,,32", "-1,3,32,32", "abc"}) {
    auto r = run_compress(std::string("inspect zoo:lenet5 --input-shape '") + bad + "'");
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("--input-shape"), std::string::npos) << r.out;
  }
  test::TempDir dir;
  data::write_npy(dir.file("x.npy"), at::zeros({1, 1, 28, 28}));
  auto r = run_compress("run zoo:lenet5 --input " + q(dir.file("x.npy")) + " --output " + q(dir.file("y.npy")) +
                        " --input-shape 1,1,28");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.npy")));
  // A shape the zoo model cannot take (too small) is bad input too.
  auto s = run_compress("inspect zoo:lenet5 --input-shape 1,1,4,4");
  EXPECT_EQ(s.exit_code, 2) << s.out;
}

TEST(Cli, MissingModelIsExit2) {
  test::TempDir dir;
  auto r = run_compress("inspect " + q(dir.file("nope.pt")) + " --input-shape 1,3,32,32");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("nope.pt"), std::string::npos) << r.out;
  data::write_npy(dir.file("x.npy"), at::zeros({1, 3, 32, 32}));
  auto rr = run_compress("run " + q(dir.file("nope.mcm")) + " --input " + q(dir.file("x.npy")) + " --output " +
                         q(dir.file("y.npy")));
  EXPECT_EQ(rr.exit_code, 2) << rr.out;
  EXPECT_NE(rr.out.find("nope.mcm"), std::string::npos) << rr.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.npy")));
  // No model argument at all: a usage error.
  EXPECT_EQ(run_compress("inspect").exit_code, 2);
}

TEST(Cli, UnknownZooNameIsExit2ListingNames) {
  auto r = run_compress("inspect zoo:resnet1000");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("resnet1000"), std::string::npos) << r.out;
  for (const char* n : {"lenet5", "resnet8", "resnet20", "mobilenet_v2_small"})
    EXPECT_NE(r.out.find(n), std::string::npos) << r.out;
}

TEST(Cli, MalformedNpyIsExit2) {
  test::TempDir dir;
  {
    std::ofstream f(dir.file("bad.npy"), std::ios::binary);
    f << "\x93NUMPY garbage, not a header";
  }
  auto r = run_compress("run zoo:lenet5 --input " + q(dir.file("bad.npy")) + " --output " + q(dir.file("y.npy")));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("bad.npy"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.npy")));
  // Missing input file, integer data, and a tensor the model cannot take.
  auto m = run_compress("run zoo:lenet5 --input " + q(dir.file("none.npy")) + " --output " + q(dir.file("y.npy")));
  EXPECT_EQ(m.exit_code, 2) << m.out;
  data::write_npy(dir.file("int.npy"), at::zeros({1, 1, 28, 28}, at::kLong));
  auto i = run_compress("run zoo:lenet5 --input " + q(dir.file("int.npy")) + " --output " + q(dir.file("y.npy")));
  EXPECT_EQ(i.exit_code, 2) << i.out;
  data::write_npy(dir.file("flat.npy"), at::zeros({784}));
  auto f = run_compress("run zoo:lenet5 --input " + q(dir.file("flat.npy")) + " --output " + q(dir.file("y.npy")));
  EXPECT_EQ(f.exit_code, 2) << f.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.npy")));
  // Required options.
  EXPECT_EQ(run_compress("run zoo:lenet5 --input " + q(dir.file("int.npy"))).exit_code, 2);
}

}  // namespace
}  // namespace mc
