/// Finds the factor chains the decompose stage left in a graph (nodes scoped `<layer>.lr0`,
/// `.lr1`, ... by lowrank/rewrite.h) and infers each one's method and ranks from the factor
/// weights' shapes alone (no attribute is stored: the IR text and the ONNX export stay as they
/// are). For `compress inspect`.
///   2 linear / matmul                          svd          rank = first's outputs
///   2 conv: k x k, 1 x 1                        channel_svd  r = first's outputs
///   2 conv: kh x 1, 1 x kw                      spatial_svd  r = first's outputs
///   3 conv: 1 x 1, core, 1 x 1                  tucker2      [core's inputs, core's outputs]
///   4 conv: 1 x 1, depthwise, depthwise, 1 x 1  cp           R = first's outputs
#pragma once
#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::lowrank {

struct FactorChain {
  std::string scope;   // the original layer's
  std::string method;  // as in the table above, "?" when the shapes fit none
  std::vector<int64_t> ranks;
  int64_t factors = 0;
  int64_t params = 0;  // factor weights (and the bias)
  int64_t macs = 0;
};

std::vector<FactorChain> find_factor_chains(const ir::Model& m);

}  // namespace mc::lowrank
