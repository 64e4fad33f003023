// Model zoo: every model builds for MNIST- and CIFAR-shaped inputs, verifies, has the parameter
// count (and the state_dict names and outputs) of the same architecture written in PyTorch, and is
// reproducible from its seed.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

using frontend::build_zoo;
using frontend::ZooOptions;

ZooOptions opts(ir::Shape shape, int64_t classes = 10, uint64_t seed = 0) {
  ZooOptions o;
  o.input_shape = std::move(shape);
  o.num_classes = classes;
  o.seed = seed;
  return o;
}

int64_t total_macs(const ir::Model& m) {
  int64_t t = 0;
  for (ir::Node* n : m.graph.nodes()) t += ir::node_macs(*n);
  return t;
}

// The zoo's architectures in PyTorch, torchvision-style module names. Jobs on stdin-like file:
//   count NAME C H W NC          -> prints "NAME C H W NC <sum of p.numel()>"
//   forward NAME N C H W NC DIR  -> loads DIR/<state_dict key>.bin, checks DIR/names.txt lists exactly
//                                   the state_dict keys, writes DIR/y.bin = model.eval()(DIR/x.bin)
const char* kTorchZoo = R"PY(
import sys, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from collections import OrderedDict

class LeNet5(nn.Module):
    def __init__(self, c, h, w, nc):
        super().__init__()
        pad = 2 if (h < 32 or w < 32) else 0
        self.conv1 = nn.Conv2d(c, 6, 5, padding=pad)
        self.relu1, self.pool1 = nn.ReLU(), nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2, self.pool2 = nn.ReLU(), nn.MaxPool2d(2)
        fh = ((h + 2 * pad - 4) // 2 - 4) // 2
        fw = ((w + 2 * pad - 4) // 2 - 4) // 2
        self.fc1, self.relu3 = nn.Linear(16 * fh * fw, 120), nn.ReLU()
        self.fc2, self.relu4 = nn.Linear(120, 84), nn.ReLU()
        self.fc3 = nn.Linear(84, nc)
    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(self.relu4(self.fc2(self.relu3(self.fc1(x)))))

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))

class CifarResNet(nn.Module):
    def __init__(self, c, blocks, nc):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(16), nn.ReLU()
        cin = 16
        for i, w in enumerate((16, 32, 64)):
            layers = []
            for j in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if i > 0 and j == 0 else 1))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, nc)
    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))

def divisible(v, d=8):
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n

def cbr(cin, cout, k, s, g):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=g, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())

class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, s, t):
        super().__init__()
        hid = int(round(cin * t))
        layers = [] if t == 1 else [cbr(cin, hid, 1, 1, 1)]
        layers += [cbr(hid, hid, 3, s, hid), nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout
    def forward(self, x):
        return x + self.conv(x) if self.res else self.conv(x)

class MobileNetV2Small(nn.Module):  # torchvision MobileNetV2(width_mult=0.5) with CIFAR strides
    def __init__(self, c, nc, width=0.5):
        super().__init__()
        cin, last = divisible(32 * width), divisible(1280 * max(1.0, width))
        feats = [cbr(c, cin, 3, 1, 1)]
        for t, ch, n, s in [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            cout = divisible(ch * width)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(cbr(cin, last, 1, 1, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, nc))
    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

class LeNet5Caffe(nn.Module):  # Caffe's examples/mnist/lenet.prototxt: no ReLU after the convolutions
    def __init__(self, c, h, w, nc):
        super().__init__()
        self.conv1, self.pool1 = nn.Conv2d(c, 20, 5), nn.MaxPool2d(2)
        self.conv2, self.pool2 = nn.Conv2d(20, 50, 5), nn.MaxPool2d(2)
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.fc1, self.relu1 = nn.Linear(50 * fh * fw, 500), nn.ReLU()
        self.fc2 = nn.Linear(500, nc)
    def forward(self, x):
        x = torch.flatten(self.pool2(self.conv2(self.pool1(self.conv1(x)))), 1)
        return self.fc2(self.relu1(self.fc1(x)))

def lenet300_100(c, h, w, nc):  # LeCun et al. 1998's 784-300-100-10
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(c * h * w, 300), relu1=nn.ReLU(),
                                     fc2=nn.Linear(300, 100), relu2=nn.ReLU(), fc3=nn.Linear(100, nc)))

# timm's VisionTransformer(class_token=False, global_pool="avg") layout; attention computed by PyTorch's
# own F.multi_head_attention_forward with qkv as in_proj and proj as out_proj (timm's q/k/v row order).
class ViTAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)
    def forward(self, x):
        t = x.transpose(0, 1)  # [N, B, D]
        y, _ = F.multi_head_attention_forward(t, t, t, t.shape[-1], self.heads, self.qkv.weight, self.qkv.bias,
                                              None, None, False, 0.0, self.proj.weight, self.proj.bias,
                                              training=False, need_weights=False)
        return y.transpose(0, 1)

class ViTMlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d)
    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))

class ViTBlock(nn.Module):
    def __init__(self, d, heads, ratio):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d, eps=1e-6), ViTAttention(d, heads)
        self.norm2, self.mlp = nn.LayerNorm(d, eps=1e-6), ViTMlp(d, ratio * d)
    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

class ViTPatchEmbed(nn.Module):
    def __init__(self, c, d, p):
        super().__init__()
        self.proj = nn.Conv2d(c, d, p, p)
    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)

class ViTTiny(nn.Module):
    def __init__(self, c, h, w, nc, patch=4, d=64, depth=4, heads=2, ratio=2):
        super().__init__()
        self.patch_embed = ViTPatchEmbed(c, d, patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, (h // patch) * (w // patch), d))
        self.blocks = nn.Sequential(*[ViTBlock(d, heads, ratio) for _ in range(depth)])
        self.fc_norm, self.head = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, nc)
    def forward(self, x):
        x = self.blocks(self.patch_embed(x) + self.pos_embed)
        return self.head(self.fc_norm(x.mean(1)))

def make(name, c, h, w, nc):
    if name == "lenet5": return LeNet5(c, h, w, nc)
    if name == "lenet5_caffe": return LeNet5Caffe(c, h, w, nc)
    if name == "lenet300_100": return lenet300_100(c, h, w, nc)
    if name == "resnet8": return CifarResNet(c, 1, nc)
    if name == "resnet20": return CifarResNet(c, 3, nc)
    if name == "mobilenet_v2_small": return MobileNetV2Small(c, nc)
    if name == "vit_tiny": return ViTTiny(c, h, w, nc)
    raise SystemExit("unknown model " + name)

for line in open(sys.argv[1]):
    f = line.split()
    if not f:
        continue
    if f[0] == "count":
        name, c, h, w, nc = f[1], *map(int, f[2:6])
        print(name, c, h, w, nc, sum(p.numel() for p in make(name, c, h, w, nc).parameters()))
    elif f[0] == "forward":
        name, n, c, h, w, nc, d = f[1], *map(int, f[2:7]), f[7]
        m = make(name, c, h, w, nc).eval()
        sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
        names = open(d + "/names.txt").read().split()
        if sorted(names) != sorted(sd):
            raise SystemExit(f"{name}: names differ:\n only ours: {sorted(set(names) - set(sd))}\n only torch: {sorted(set(sd) - set(names))}")
        with torch.no_grad():
            for k, v in sd.items():
                v.copy_(torch.from_numpy(np.fromfile(f"{d}/{k}.bin", dtype="<f4").reshape(v.shape)))
            x = torch.from_numpy(np.fromfile(d + "/x.bin", dtype="<f4").reshape(n, c, h, w))
            m(x).numpy().astype("<f4").tofile(d + "/y.bin")
        print("forward", name, "ok")
)PY";

void write_raw(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kFloat).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
  if (!f.good()) throw std::runtime_error("cannot write " + path);
}

at::Tensor read_raw(const std::string& path, at::IntArrayRef shape) {
  at::Tensor t = at::empty(shape);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  if (!f.good()) throw std::runtime_error("cannot read " + path);
  return t;
}

test::RunResult run_torch(const test::TempDir& dir, const std::string& jobs) {
  {
    std::ofstream s(dir.file("zoo.py"));
    s << kTorchZoo;
    std::ofstream j(dir.file("jobs.txt"));
    j << jobs;
  }
  return test::run_command("/usr/bin/python3 " + dir.file("zoo.py") + " " + dir.file("jobs.txt"));
}

const std::vector<ir::Shape> kShapes = {{1, 1, 28, 28}, {1, 3, 32, 32}};

TEST(Zoo, NamesAreListed) {
  auto names = frontend::zoo_names();
  EXPECT_EQ(names, (std::vector<std::string>{"lenet5", "lenet5_caffe", "lenet300_100", "resnet8", "resnet20", "mobilenet_v2_small", "vit_tiny"}));
}

TEST(Zoo, EveryModelBuildsVerifiesAndRuns) {
  for (const auto& name : frontend::zoo_names()) {
    for (const auto& shape : kShapes) {
      for (int64_t classes : {10, 100}) {
        SCOPED_TRACE(name + " " + ir::shape_str(shape) + " classes " + std::to_string(classes));
        ir::Model m = build_zoo(name, opts(shape, classes));
        EXPECT_NO_THROW(m.verify());
        EXPECT_EQ(m.name, name);
        ASSERT_EQ(m.graph.inputs().size(), 1u);
        ASSERT_EQ(m.graph.outputs().size(), 1u);
        EXPECT_EQ(m.graph.inputs()[0]->shape(), shape);
        EXPECT_EQ(m.graph.outputs()[0]->shape(), (ir::Shape{1, classes}));
        // Round trip through the text format keeps it valid.
        EXPECT_NO_THROW(ir::Graph::parse(m.graph.to_string()).verify());
        runtime::Executor ex(m);
        ir::Shape batch2 = shape;
        batch2[0] = 2;
        at::Tensor y = ex.run1(at::randn(batch2));
        EXPECT_EQ(y.sizes(), (at::IntArrayRef{2, classes}));
        EXPECT_TRUE(at::isfinite(y).all().item<bool>());
      }
    }
  }
}

TEST(Zoo, ParamCountsMatchPyTorch) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  std::ostringstream jobs;
  std::map<std::string, int64_t> ours;
  for (const auto& name : frontend::zoo_names())
    for (const auto& s : kShapes)
      for (int64_t classes : {10, 100}) {
        std::ostringstream key;
        key << name << " " << s[1] << " " << s[2] << " " << s[3] << " " << classes;
        jobs << "count " << key.str() << "\n";
        ours[key.str()] = build_zoo(name, opts(s, classes)).num_params();
      }
  test::TempDir dir;
  auto r = run_torch(dir, jobs.str());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream out(r.out);
  std::string name;
  int64_t c, h, w, nc, count;
  size_t seen = 0;
  while (out >> name >> c >> h >> w >> nc >> count) {
    std::ostringstream key;
    key << name << " " << c << " " << h << " " << w << " " << nc;
    ASSERT_TRUE(ours.count(key.str())) << key.str();
    EXPECT_EQ(ours[key.str()], count) << key.str();
    ++seen;
  }
  EXPECT_EQ(seen, ours.size()) << r.out;
  // The documented sizes.
  EXPECT_EQ(ours.at("lenet5 1 28 28 10"), 61706);
  EXPECT_EQ(ours.at("lenet5_caffe 1 28 28 10"), 431080);  // Han et al. 2016: 431K
  EXPECT_EQ(ours.at("lenet300_100 1 28 28 10"), 266610);
  EXPECT_EQ(ours.at("mobilenet_v2_small 3 32 32 10"), 700490);
}

// Same weights in the PyTorch module (loaded by state_dict name) give the same outputs: names,
// wiring, strides and paddings all match. BN statistics and affine terms are randomised so that
// a mix-up between them shows.
TEST(Zoo, ForwardMatchesPyTorchWithSameStateDict) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  struct Case {
    std::string name;
    ir::Shape shape;
    int64_t classes;
  };
  std::vector<Case> cases = {{"lenet5", {2, 1, 28, 28}, 10},
                             {"lenet5", {2, 3, 32, 32}, 100},
                             {"lenet5_caffe", {2, 1, 28, 28}, 10},
                             {"lenet5_caffe", {2, 3, 32, 32}, 100},
                             {"lenet300_100", {2, 1, 28, 28}, 10},
                             {"resnet8", {2, 3, 32, 32}, 10},
                             {"resnet20", {2, 1, 28, 28}, 10},
                             {"mobilenet_v2_small", {2, 3, 32, 32}, 10},
                             {"vit_tiny", {2, 1, 28, 28}, 10},
                             {"vit_tiny", {2, 3, 32, 32}, 100}};
  test::TempDir dir;
  std::ostringstream jobs;
  std::vector<at::Tensor> ours;
  auto g = at::make_generator<at::CPUGeneratorImpl>(123);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& cs = cases[i];
    ir::Model m = build_zoo(cs.name, opts(cs.shape, cs.classes, 5));
    for (auto& kv : m.tensors) {
      const std::string& k = kv.first;  // not a structured binding: C++17 lambdas cannot capture one (clang)
      at::Tensor& t = kv.second;
      auto ends = [&](const std::string& suffix) {
        return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if (cs.name == "vit_tiny") {
        // Fresh ViT weights (std 0.02) give near-uniform attention, where a mixed-up q/k/v or head
        // layout would hardly show: weights at 1/sqrt(fan_in), LayerNorm affine terms and biases
        // randomised, a pronounced positional embedding.
        if (t.dim() >= 2 && k != "pos_embed") t = at::empty(t.sizes()).normal_(0, 1.0 / std::sqrt(double(t[0].numel())), g);
        if (k == "pos_embed") t = at::empty(t.sizes()).normal_(0, 0.5, g);
        if (t.dim() == 1 && ends(".weight")) t = at::empty(t.sizes()).uniform_(0.5, 1.5, g);
        if (t.dim() == 1 && ends(".bias")) t = at::empty(t.sizes()).normal_(0, 0.1, g);
      }
      if (ends("running_mean")) t = at::empty(t.sizes()).normal_(0, 0.1, g);
      if (ends("running_var")) t = at::empty(t.sizes()).uniform_(0.5, 1.5, g);
      if (t.dim() == 1 && m.tensors.count(k.substr(0, k.rfind('.')) + ".running_mean")) {  // bn weight/bias
        if (ends(".weight")) t = at::empty(t.sizes()).uniform_(0.5, 1.5, g);
        if (ends(".bias")) t = at::empty(t.sizes()).normal_(0, 0.1, g);
      }
    }
    std::string d = dir.file("case" + std::to_string(i));
    std::filesystem::create_directories(d);
    std::ofstream names(d + "/names.txt");
    for (auto& [k, t] : m.tensors) {
      if (t.dim() == 0) continue;  // a scalar constant (vit_tiny's attention scale), not module state
      names << k << "\n";
      write_raw(d + "/" + k + ".bin", t);
    }
    at::Tensor x = at::empty(cs.shape).normal_(0, 1, g);
    write_raw(d + "/x.bin", x);
    runtime::Executor ex(m);
    ours.push_back(ex.run1(x));
    jobs << "forward " << cs.name << " " << cs.shape[0] << " " << cs.shape[1] << " " << cs.shape[2] << " "
         << cs.shape[3] << " " << cs.classes << " " << d << "\n";
  }
  auto r = run_torch(dir, jobs.str());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (size_t i = 0; i < cases.size(); ++i) {
    at::Tensor want = read_raw(dir.file("case" + std::to_string(i)) + "/y.bin", ours[i].sizes());
    double scale = want.abs().max().item<double>();
    EXPECT_TRUE(at::allclose(ours[i], want, 1e-4, 1e-5 * std::max(1.0, scale)))
        << cases[i].name << ": max diff " << (ours[i] - want).abs().max().item<double>() << " (scale " << scale << ")";
  }
}

int64_t lenet5_macs(int64_t c, int64_t h, int64_t w, int64_t classes) {
  int64_t pad = (h < 32 || w < 32) ? 2 : 0;
  int64_t h1 = h + 2 * pad - 4, w1 = w + 2 * pad - 4;   // conv1 5x5
  int64_t h2 = h1 / 2, w2 = w1 / 2;                     // pool1
  int64_t h3 = h2 - 4, w3 = w2 - 4;                     // conv2 5x5
  int64_t h4 = h3 / 2, w4 = w3 / 2;                     // pool2
  return 6 * h1 * w1 * (c * 25)      // conv1
         + 6 * h2 * w2 * 4           // pool1: one op per window element
         + 16 * h3 * w3 * (6 * 25)   // conv2
         + 16 * h4 * w4 * 4          // pool2
         + 16 * h4 * w4 * 120        // fc1
         + 120 * 84 + 84 * classes;  // fc2, fc3
}

TEST(Zoo, LeNetMacsMatchHandFormula) {
  EXPECT_EQ(lenet5_macs(1, 28, 28, 10), 422824);
  EXPECT_EQ(lenet5_macs(3, 32, 32, 10), 658024);
  EXPECT_EQ(total_macs(build_zoo("lenet5", opts({1, 1, 28, 28}))), 422824);
  EXPECT_EQ(total_macs(build_zoo("lenet5", opts({1, 3, 32, 32}))), 658024);
  EXPECT_EQ(total_macs(build_zoo("lenet5", opts({1, 3, 40, 36}, 100))), lenet5_macs(3, 40, 36, 100));
  // MACs scale with the batch.
  EXPECT_EQ(total_macs(build_zoo("lenet5", opts({4, 1, 28, 28}))), 4 * 422824);
  // Conv MACs: output elements x (Cin/groups x kh x kw).
  ir::Model m = build_zoo("lenet5", opts({1, 1, 28, 28}));
  for (ir::Node* n : m.graph.nodes()) {
    if (n->scope() == "conv1" && n->op() == "conv2d") EXPECT_EQ(ir::node_macs(*n), 6 * 28 * 28 * 25);
    if (n->scope() == "fc1" && n->op() == "linear") EXPECT_EQ(ir::node_macs(*n), 400 * 120);
  }
}

TEST(Zoo, SeedMakesBuildsReproducible) {
  for (const char* name : {"lenet5", "resnet8", "mobilenet_v2_small", "vit_tiny"}) {
    SCOPED_TRACE(name);
    ir::Model a = build_zoo(name, opts({1, 3, 32, 32}, 10, 7));
    ir::Model b = build_zoo(name, opts({1, 3, 32, 32}, 10, 7));
    ir::Model c = build_zoo(name, opts({1, 3, 32, 32}, 10, 8));
    EXPECT_EQ(a.graph.to_string(), b.graph.to_string());
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (auto& [k, t] : a.tensors) EXPECT_TRUE(at::equal(t, b.tensors.at(k))) << k;
    bool any_differs = false;
    for (auto& [k, t] : a.tensors) any_differs = any_differs || !at::equal(t, c.tensors.at(k));
    EXPECT_TRUE(any_differs) << "seeds 7 and 8 gave the same tensors";
    const std::string n = name;
    const char* first_conv = n == "mobilenet_v2_small" ? "features.0.0.weight"
                             : n == "vit_tiny"         ? "patch_embed.proj.weight"
                                                       : "conv1.weight";
    EXPECT_FALSE(at::equal(a.tensors.at(first_conv), c.tensors.at(first_conv)));
  }
}

TEST(Zoo, NamesAndScopesFollowPyTorch) {
  ir::Model m = build_zoo("resnet8", opts({1, 3, 32, 32}));
  for (const char* k : {"conv1.weight", "bn1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
                        "layer1.0.bn1.running_var", "layer2.0.downsample.0.weight", "layer3.0.downsample.1.bias",
                        "fc.weight", "fc.bias"})
    EXPECT_TRUE(m.tensors.count(k)) << k;
  EXPECT_FALSE(m.tensors.count("layer1.0.downsample.0.weight"));  // identity shortcut in layer1
  auto params = m.param_names();
  EXPECT_EQ(params.front(), "conv1.weight");
  EXPECT_EQ(params.back(), "fc.bias");
  EXPECT_EQ(std::count(params.begin(), params.end(), "bn1.running_mean"), 0) << "running stats are constants";
  std::map<std::string, std::string> op_at;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() != "param" && n->op() != "constant") op_at[n->scope()] = n->op();
  EXPECT_EQ(op_at["conv1"], "conv2d");
  EXPECT_EQ(op_at["layer2.0.bn2"], "batch_norm");
  EXPECT_EQ(op_at["layer2.0.downsample.0"], "conv2d");
  EXPECT_EQ(op_at["layer3.0"], "add");
  EXPECT_EQ(op_at["avgpool"], "adaptive_avg_pool2d");
  EXPECT_EQ(op_at["fc"], "linear");
}

TEST(Zoo, FreshInitialisationLikeTorchvision) {
  ir::Model m = build_zoo("resnet20", opts({1, 3, 32, 32}, 10, 3));
  at::Tensor w = m.tensors.at("layer3.2.conv2.weight");  // 64 x 64 x 3 x 3: fan_out = 576
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 576), 0.02 * std::sqrt(2.0 / 576) * 5);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.005);
  EXPECT_TRUE(at::equal(m.tensors.at("layer1.0.bn1.weight"), at::ones({16})));
  EXPECT_TRUE(at::equal(m.tensors.at("layer1.0.bn1.bias"), at::zeros({16})));
  EXPECT_TRUE(at::equal(m.tensors.at("layer1.0.bn1.running_mean"), at::zeros({16})));
  EXPECT_TRUE(at::equal(m.tensors.at("layer1.0.bn1.running_var"), at::ones({16})));
  at::Tensor fw = m.tensors.at("fc.weight");
  EXPECT_LE(fw.abs().max().item<double>(), 1.0 / 8.0);  // uniform(-1/sqrt(64), 1/sqrt(64))
  EXPECT_GT(fw.abs().max().item<double>(), 0.1);
  ir::Model l = build_zoo("lenet5", opts({1, 1, 28, 28}));
  EXPECT_TRUE(at::equal(l.tensors.at("conv1.bias"), at::zeros({6})));
}

// vit_tiny: 4x4 patches of width 64 (7x7 = 49 tokens on 28x28), 4 pre-norm blocks of 2-head
// attention and a 2x MLP, mean over tokens, fc_norm, head. MACs by hand: linear = tokens x in x out,
// matmul = output elements x inner dim, layer_norm 2 per element, mean one per input element.
int64_t vit_tiny_macs(int64_t c, int64_t h, int64_t w, int64_t classes) {
  const int64_t d = 64, depth = 4, heads = 2, hidden = 2 * d, n = (h / 4) * (w / 4), hd = d / heads;
  int64_t block = 2 * (2 * n * d)                // norm1, norm2
                  + n * d * 3 * d                // qkv
                  + heads * n * n * hd           // q k^T
                  + heads * n * n * hd           // attention x v
                  + n * d * d                    // proj
                  + n * d * hidden + n * hidden * d;  // mlp.fc1, mlp.fc2
  return n * d * (c * 16)  // patch_embed.proj (one output per patch and channel, c x 4 x 4 inputs)
         + depth * block + n * d  // blocks, mean over tokens
         + 2 * d + d * classes;   // fc_norm, head
}

TEST(Zoo, VitTinyStructureInitialisationAndMacs) {
  ir::Model m = build_zoo("vit_tiny", opts({1, 1, 28, 28}, 10, 3));
  for (const char* k : {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed", "blocks.0.norm1.weight",
                        "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight",
                        "blocks.3.norm2.bias", "blocks.3.mlp.fc1.weight", "blocks.3.mlp.fc2.bias", "fc_norm.weight",
                        "head.weight", "head.bias"})
    EXPECT_TRUE(m.tensors.count(k)) << k;
  EXPECT_FALSE(m.tensors.count("blocks.4.norm1.weight"));
  EXPECT_EQ(m.tensors.at("pos_embed").sizes(), (at::IntArrayRef{1, 49, 64}));
  EXPECT_EQ(m.tensors.at("blocks.0.attn.qkv.weight").sizes(), (at::IntArrayRef{192, 64}));
  EXPECT_EQ(m.tensors.at("blocks.0.mlp.fc1.weight").sizes(), (at::IntArrayRef{128, 64}));
  std::map<std::string, std::vector<std::string>> ops_at;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() != "param" && n->op() != "constant") ops_at[n->scope()].push_back(n->op());
  EXPECT_EQ(ops_at["patch_embed.proj"], (std::vector<std::string>{"conv2d"}));
  EXPECT_EQ(ops_at["blocks.1.attn.qkv"], (std::vector<std::string>{"linear"}));
  EXPECT_EQ(ops_at["blocks.1.attn"], (std::vector<std::string>{"split", "reshape", "permute", "reshape", "permute", "reshape",
                                                              "permute", "matmul", "mul", "softmax", "matmul", "permute",
                                                              "reshape"}));
  EXPECT_EQ(ops_at["blocks.1.norm1"], (std::vector<std::string>{"layer_norm"}));
  EXPECT_EQ(ops_at["blocks.1.mlp.act"], (std::vector<std::string>{"gelu"}));
  EXPECT_EQ(ops_at["blocks.1"], (std::vector<std::string>{"add", "add"}));
  EXPECT_EQ(ops_at["global_pool"], (std::vector<std::string>{"mean"}));
  EXPECT_EQ(ops_at["head"], (std::vector<std::string>{"linear"}));
  EXPECT_NEAR(m.tensors.at("blocks.0.attn.scale").item<double>(), 1.0 / std::sqrt(32.0), 1e-7);

  // timm's initialisation: linear weights trunc_normal(0.02) (cut at 2 std, which leaves std
  // 0.02 x 0.880), biases 0, LayerNorm 1/0, pos_embed trunc_normal(0.02); the patch conv lecun
  // normal (std 1/sqrt(fan_in) = 1/4 on 1x4x4 patches, truncated likewise). Sample tolerances: the
  // std of n draws has a relative standard error of about 1/sqrt(2n): 0.6 % for qkv's 12,288
  // (bound 3 %), 1.3 % for pos_embed's 3,136 (5 %), 2.2 % for the patch conv's 1,024 (10 %).
  const double cut = 0.8796;  // std of a standard normal truncated at +-2
  at::Tensor qkv = m.tensors.at("blocks.2.attn.qkv.weight");
  EXPECT_NEAR(qkv.std().item<double>(), 0.02 * cut, 0.02 * cut * 0.03);
  EXPECT_LE(qkv.abs().max().item<double>(), 0.04 + 1e-7);
  EXPECT_GT(qkv.abs().max().item<double>(), 0.039);
  EXPECT_TRUE(at::equal(m.tensors.at("blocks.2.attn.qkv.bias"), at::zeros({192})));
  EXPECT_TRUE(at::equal(m.tensors.at("blocks.2.norm2.weight"), at::ones({64})));
  EXPECT_TRUE(at::equal(m.tensors.at("fc_norm.bias"), at::zeros({64})));
  EXPECT_NEAR(m.tensors.at("pos_embed").std().item<double>(), 0.02 * cut, 0.02 * cut * 0.05);
  at::Tensor pw = m.tensors.at("patch_embed.proj.weight");
  EXPECT_NEAR(pw.std().item<double>(), 0.25 * cut, 0.25 * cut * 0.1);
  EXPECT_LE(pw.abs().max().item<double>(), 0.5 + 1e-7);

  EXPECT_EQ(total_macs(m), vit_tiny_macs(1, 28, 28, 10));
  EXPECT_EQ(total_macs(build_zoo("vit_tiny", opts({1, 3, 32, 32}, 100))), vit_tiny_macs(3, 32, 32, 100));
  for (ir::Node* n : m.graph.nodes())
    if (n->scope() == "blocks.0.attn" && n->op() == "matmul") EXPECT_EQ(ir::node_macs(*n), 2 * 49 * 49 * 32);
}

TEST(Zoo, BadRequestsAreInputErrors) {
  try {
    build_zoo("resnet18", opts({1, 3, 32, 32}));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("resnet18"), std::string::npos) << msg;
    for (auto& n : frontend::zoo_names()) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
  EXPECT_THROW(build_zoo("lenet5", opts({1, 3, 32})), InputError);
  EXPECT_THROW(build_zoo("lenet5", opts({1, 3, 6, 6})), InputError);  // too small for two 5x5 convs
  EXPECT_THROW(build_zoo("lenet5_caffe", opts({1, 1, 15, 15})), InputError);  // pool2 of a 1x1 map
  EXPECT_THROW(build_zoo("resnet8", opts({1, 3, 32, 32}, 0)), InputError);
  try {
    build_zoo("vit_tiny", opts({1, 1, 30, 28}));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mc
