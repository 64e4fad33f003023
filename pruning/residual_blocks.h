/// Depth pruning: whole residual blocks with an identity shortcut, found on the IR and removed.
///
/// A removable block is an `add` whose one input (the skip) is a value x and whose other input is a
/// branch computed from x alone: every node of the branch reads only x, params/constants and other
/// branch nodes, and its outputs are read only inside the branch (the branch's last output only by
/// the add). The skip must have the add's shape (no broadcast). Removing the block makes the add's
/// users read x:  relu(branch(x) + x) -> relu(x)  (ResNet basic/bottleneck blocks without a
/// projection, MobileNetV2's inverted residuals with stride 1). Blocks whose shortcut is a
/// projection (a downsample conv) change the tensor's shape or channels and are not candidates.
/// A relu that after the removal reads a relu's output is dropped as well (relu is idempotent).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::prune {

struct ResidualBlock {
  std::string scope;      // longest common scope of the branch's nodes and the add ("layer1.0")
  std::string add_value;  // name of the add's output (identifies the block in a model and its clones)
  std::string skip_value; // name of the identity input
  int64_t nodes = 0;      // compute nodes in the branch
  int64_t macs = 0;       // MACs of the branch
  int64_t params = 0;     // trainable elements only the branch uses
};

/// The removable residual blocks of `model`, in graph order.
std::vector<ResidualBlock> find_residual_blocks(const ir::Model& model);

/// Removes `block` (found on this model, on a clone of it, or before other blocks were removed) and
/// every node and tensor only it used. Throws RuntimeFailure when the block's add is no longer a
/// removable block of the model.
void remove_residual_block(ir::Model& model, const ResidualBlock& block);

}  // namespace mc::prune
