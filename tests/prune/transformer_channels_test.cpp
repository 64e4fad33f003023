// Structured pruning of imported transformers (the `transformer` fixtures of make_torchvision.py):
// the lowering of PyTorch's fused attention (src/frontend/torchscript_attention.cpp) gives the
// head layout the attention channel rules know, so every head and every MLP hidden unit is a unit;
// removing some computes what zeroing them computes.
#include <gtest/gtest.h>

#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "prune/channel_test_util.h"
#include "support/test_env.h"

using namespace mc::prune;
using namespace mc::prune::test;

namespace {

struct Case {
  std::string model, kind;
  std::vector<std::string> groups;
  std::vector<int64_t> input;  // for the removal check (batch 2)
};

}  // namespace

TEST(TransformerChannels, LoweredAttentionHasHeadAndMlpGroups) {
  const std::vector<std::string> vit = {"encoder.layers.encoder_layer_0.self_attention:4",
                                        "encoder.layers.encoder_layer_0.mlp.0:64",
                                        "encoder.layers.encoder_layer_1.self_attention:4",
                                        "encoder.layers.encoder_layer_1.mlp.0:64"};
  const std::vector<std::string> enc = {"layers.0.self_attn:4", "layers.0.linear1:64", "layers.1.self_attn:4",
                                        "layers.1.linear1:64"};
  for (const Case& c : std::vector<Case>{{"vit_small", "traced", vit, {2, 3, 32, 32}},
                                         {"vit_small", "scripted", vit, {2, 3, 32, 32}},
                                         {"transformer_encoder", "traced", enc, {2, 5, 32}},
                                         {"transformer_encoder", "scripted", enc, {2, 5, 32}}}) {
    SCOPED_TRACE(c.model + " " + c.kind);
    const auto& entry = mc::test::manifest().at("models").at(c.model);
    mc::frontend::ImportOptions o;
    o.input_shape = mc::test::json_shape(entry.at("input_shape"));
    mc::ir::Model m = mc::frontend::import_torchscript(mc::test::fixture(entry.at("files").at(c.kind).get<std::string>()), o);
    DependencyGraph g = analyze_channels(m);
    EXPECT_EQ(group_summary(g), c.groups);
    // One head of each attention and one hidden unit of each MLP.
    mc::ir::Model p = expect_exact_removal(m, pick_units(g, {1}), at::randn(c.input));
    EXPECT_EQ(p.num_params() + 2 * (4 * 8 * 32 + 3 * 8) + 2 * (2 * 32 + 1), m.num_params())
        << "a head: 8 rows (+bias) of q, k and v and 8 columns of out_proj; a hidden unit: a row (+bias) "
           "of the first MLP linear and a column of the second";
  }
}
