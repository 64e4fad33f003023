/// The loss the target search ranks candidates by: mean cross-entropy over the first
/// `batches` batches of data.calib (read once and kept), with the executor in inference mode
/// (running BatchNorm statistics, no dropout). One executor serves every evaluation: a candidate is
/// measured by writing its reconstructed weight into the layer's tensor in place (the layer stays
/// dense; its output equals the factor chain's up to float rounding) and restoring it afterwards,
/// as the pruning sensitivity analysis does.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "ir/model.h"
#include "pipeline/data_context.h"

namespace mc::runtime {
class Executor;
}
namespace mc::lowrank {

class CalibLoss {
 public:
  CalibLoss(ir::Model& model, const pipeline::DataContext& data, int64_t batches);
  ~CalibLoss();
  /// Mean cross-entropy of the model as it is now.
  double operator()();
  int64_t images() const { return images_; }

 private:
  std::unique_ptr<runtime::Executor> executor_;
  std::vector<at::Tensor> images_batches_, labels_;
  int64_t images_ = 0;
};

/// Writes `dense` (a layer weight in the layout of lowrank::layer_weight) into layer `n`'s stored
/// weight tensor in place.
void set_layer_weight(ir::Model& m, const ir::Node& n, const at::Tensor& dense);

}  // namespace mc::lowrank
