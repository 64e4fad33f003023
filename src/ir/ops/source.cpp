// param / constant: values that come from the Model's tensor store. Their kernels are never
// called (the executor binds store tensors); their types are set by Model::infer_shapes().
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

void register_source_ops(OpRegistry& r) {
  for (const char* name : {"param", "constant"}) {
    OpDef d;
    d.name = name;
    d.min_inputs = d.max_inputs = 0;
    d.required_attrs = {"name"};
    d.kernel = [](const Node& n, const std::vector<at::Tensor>&, const KernelContext&) -> std::vector<at::Tensor> {
      throw Error("internal: " + n.describe() + " must be bound from the tensor store");
    };
    d.doc = std::string(name) == "param" ? "trainable tensor from the model's store (attr name)"
                                         : "non-trainable tensor from the model's store (attr name)";
    r.add(std::move(d));
  }
}

}  // namespace mc::ir::ops
