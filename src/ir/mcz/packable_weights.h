// The weights a .mcz archive encodes: the weight params of conv2d, linear and 2-d matmul nodes
// (ir/weight_param.h: directly or behind one fake_quant), each tensor once, in graph order.
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
