// Model sources: TorchScript files, native checkpoints, and the built-in zoo.
#pragma once
#include <cstdint>
#include <string>

#include "ir/model.h"

namespace mc::frontend {

struct ImportOptions {
  /// Shape of the model input, batch first (e.g. {1,3,224,224}). TorchScript carries no static
  /// shapes, so the importer specialises shape arithmetic and shape-dependent branches on it.
  ir::Shape input_shape;
  /// Several inputs, or inputs that are not float32 (token ids): dtype and shape of each tensor
  /// argument of forward, in order. When set, `input_shape` is ignored.
  std::vector<ir::TensorType> inputs;
};

/// Imports a TorchScript file (traced or scripted) into the IR: inlines, folds what is constant,
/// names parameters by module path and keeps scopes. Errors (InputError): missing/corrupt file,
/// not TorchScript, an op without a mapping (naming op, scope and source line).
ir::Model import_torchscript(const std::string& path, const ImportOptions& opts);

struct ZooOptions {
  int64_t num_classes = 10;
  ir::Shape input_shape{1, 1, 28, 28};
  uint64_t seed = 0;
};
/// Built-in architectures built directly in the IR with fresh initialisation:
/// lenet5, lenet5_caffe, lenet300_100, resnet8, resnet20 (CIFAR-style), mobilenet_v2_small, vit_tiny.
ir::Model build_zoo(const std::string& name, const ZooOptions& opts);
/// Names build_zoo accepts.
std::vector<std::string> zoo_names();

/// Loads a model named on the command line: a native checkpoint (.mcm) or compressed archive (.mcz), a TorchScript file
/// (anything else; needs `input_shape`), or `zoo:<name>` (input_shape optional).
ir::Model load_model(const std::string& spec, const ir::Shape& input_shape);
/// The same with every input's dtype and shape (TorchScript with several or integer inputs); empty:
/// none given. A zoo model takes one float32 input.
ir::Model load_model(const std::string& spec, const std::vector<ir::TensorType>& inputs);

/// Parses "1,3,224,224" (InputError naming the flag when malformed).
ir::Shape parse_shape(const std::string& text, const std::string& what = "--input-shape");

/// Parses an input dtype as the command line and recipes write it: float32 (or f32), int64 (or i64),
/// int32 (i32); InputError naming `what` and the choices otherwise.
ir::DType parse_input_dtype(const std::string& text, const std::string& what = "--input-dtype");
/// "float32", "int64", ...: the name parse_input_dtype reads (numpy's names).
std::string input_dtype_name(ir::DType d);

/// The inputs of the command-line flags: one --input-shape per model input (forward's order) and
/// --input-dtype given once (every input) or once per input; no dtype: float32. Empty when no
/// shape is given; InputError when the counts do not match.
std::vector<ir::TensorType> parse_inputs(const std::vector<std::string>& shapes, const std::vector<std::string>& dtypes);

}  // namespace mc::frontend
