// Magnitude pruning: exact counts, the largest weights kept, global selection equal to PyTorch's
// torch.nn.utils.prune.global_unstructured (L1) on the same tensors, biases untouched.
#include "pruning/magnitude.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "data/npy.h"
#include "prune_test_util.h"
#include "pipeline/layer_select.h"

using namespace mc;
using mc::test::zero_fraction;

TEST(PruneCount, RoundsHalfToEvenLikePython) {
  EXPECT_EQ(prune::prune_count(10, 0.25), 2);  // round(2.5) = 2 in Python
  EXPECT_EQ(prune::prune_count(10, 0.35), 4);  // round(3.5) = 4
  EXPECT_EQ(prune::prune_count(1000, 0.9), 900);
  EXPECT_EQ(prune::prune_count(7, 0.0), 0);
}

TEST(MagnitudeMask, ExactCountAndKeepsTheLargest) {
  at::manual_seed(3);
  at::Tensor w = at::randn({32, 16, 3, 3});
  for (double s : {0.1, 0.5, 0.9, 0.97}) {
    at::Tensor keep = prune::magnitude_mask(w, s);
    ASSERT_EQ(keep.sizes(), w.sizes());
    const int64_t dropped = w.numel() - keep.sum().item<int64_t>();
    EXPECT_EQ(dropped, prune::prune_count(w.numel(), s)) << s;
    // Every kept |w| is at least every dropped |w|.
    at::Tensor a = w.abs();
    EXPECT_GE(a.masked_select(keep).min().item<float>(), a.masked_select(keep.logical_not()).max().item<float>()) << s;
  }
}

TEST(GlobalMagnitudeMasks, OneThresholdAcrossTensors) {
  at::manual_seed(4);
  // Differently scaled tensors: a global threshold prunes the small-scale one much more.
  std::vector<at::Tensor> ws = {at::randn({64, 32}) * 0.1, at::randn({16, 8, 3, 3}), at::randn({10, 64}) * 3.0};
  auto masks = prune::global_magnitude_masks(ws, 0.8);
  int64_t dropped = 0, total = 0;
  float min_kept = 1e30f, max_dropped = 0.0f;
  for (size_t i = 0; i < ws.size(); ++i) {
    dropped += ws[i].numel() - masks[i].sum().item<int64_t>();
    total += ws[i].numel();
    at::Tensor a = ws[i].abs();
    if (masks[i].any().item<bool>()) min_kept = std::min(min_kept, a.masked_select(masks[i]).min().item<float>());
    if (!masks[i].all().item<bool>())
      max_dropped = std::max(max_dropped, a.masked_select(masks[i].logical_not()).max().item<float>());
  }
  EXPECT_EQ(dropped, prune::prune_count(total, 0.8));
  EXPECT_GE(min_kept, max_dropped);
  EXPECT_GT(zero_fraction(ws[0] * masks[0]), 0.95);
  EXPECT_LT(zero_fraction(ws[2] * masks[2]), 0.5);
}

TEST(GlobalMagnitudeMasks, EqualsPyTorchGlobalUnstructured) {
  mc::test::TempDir d;
  at::manual_seed(5);
  std::vector<at::Tensor> ws = {at::randn({24, 12, 3, 3}) * 0.5, at::randn({40, 24}), at::randn({10, 40}) * 2.0};
  for (size_t i = 0; i < ws.size(); ++i) data::write_npy(d.file("w" + std::to_string(i) + ".npy"), ws[i]);
  std::ofstream(d.file("ref.py")) << R"(import sys, numpy as np, torch
import torch.nn.utils.prune as prune
d = sys.argv[1]
mods = []
for i in range(3):
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(torch.from_numpy(np.load(f"{d}/w{i}.npy")))
    mods.append(m)
prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured, amount=0.7)
for i, m in enumerate(mods):
    np.save(f"{d}/mask{i}.npy", m.weight_mask.numpy().astype(np.uint8))
)";
  auto r = mc::test::run_command("/usr/bin/python3 " + d.file("ref.py") + " " + d.path());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto masks = prune::global_magnitude_masks(ws, 0.7);
  for (size_t i = 0; i < ws.size(); ++i) {
    at::Tensor ref = data::read_npy(d.file("mask" + std::to_string(i) + ".npy")).to(at::kBool);
    ASSERT_EQ(ref.sizes(), masks[i].sizes());
    EXPECT_TRUE(ref.equal(masks[i])) << "tensor " << i << ": " << ref.ne(masks[i]).sum().item<int64_t>()
                                     << " elements differ";
  }
}

TEST(FindPrunableWeights, ResNet8ConvsAndFcOnly) {
  ir::Model m = ir::Model::load(mc::test::resnet8_fixture());
  auto ws = pipeline::find_weight_layers(m);
  ASSERT_EQ(ws.size(), 10u);  // 9 conv2d (downsample convs included) + fc
  EXPECT_EQ(ws.front().scope, "conv1");
  EXPECT_EQ(ws.back().scope, "fc");
  EXPECT_EQ(ws.back().op, "linear");
  for (auto& w : ws) EXPECT_GE(m.tensor(w.param).dim(), 2) << w.param;
}

TEST(MagnitudeMasks, LayerWiseGlobalAndOverridesOnResNet8) {
  ir::Model m = ir::Model::load(mc::test::resnet8_fixture());
  ir::Model original = m.clone();
  auto ws = pipeline::find_weight_layers(m);
  // Layer-wise 0.6 everywhere except fc at 0.3.
  prune::SparsityTargets t;
  for (auto& w : ws) t.layer.push_back(w.scope == "fc" ? 0.3 : 0.6);
  prune::apply_masks(m, prune::magnitude_masks(m, ws, t));
  for (size_t i = 0; i < ws.size(); ++i) {
    const at::Tensor& w = m.tensor(ws[i].param);
    EXPECT_EQ(w.numel() - w.count_nonzero().item<int64_t>(), prune::prune_count(w.numel(), t.layer[i])) << ws[i].scope;
  }
  // Nothing but the selected weights changed (biases included).
  std::set<std::string> pruned;
  for (auto& w : ws) pruned.insert(w.param);
  for (auto& [name, tensor] : original.tensors)
    if (!pruned.count(name)) EXPECT_TRUE(tensor.equal(m.tensor(name))) << name;

  // Global 0.9 over all but conv1: exact in total, one threshold.
  ir::Model g = original.clone();
  std::vector<pipeline::WeightLayer> sel(ws.begin() + 1, ws.end());
  prune::SparsityTargets tg;
  tg.layer.assign(sel.size(), -1.0);
  tg.global = 0.9;
  prune::apply_masks(g, prune::magnitude_masks(g, sel, tg));
  int64_t zeros = 0, total = 0;
  for (auto& w : sel) {
    total += g.tensor(w.param).numel();
    zeros += g.tensor(w.param).numel() - g.tensor(w.param).count_nonzero().item<int64_t>();
  }
  EXPECT_EQ(zeros, prune::prune_count(total, 0.9));
  EXPECT_TRUE(g.tensor(ws[0].param).equal(original.tensor(ws[0].param)));  // conv1 excluded
}
