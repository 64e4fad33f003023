// The weights a .mcz archive encodes: `param` tensors read as the weight of a conv2d or linear
// node, or as a 2-d operand of a matmul (each tensor once, in graph order).
#pragma once
#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::ir::mcz {

struct PackableWeight {
  std::string tensor;
  std::string layer;  // the node's scope, or the tensor name when it has none
  bool conv = false;  // conv2d (else linear / matmul)
};

std::vector<PackableWeight> packable_weights(const Model& m);

}  // namespace mc::ir::mcz
