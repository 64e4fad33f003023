// load_model(): dispatch on what the user named (checkpoint, TorchScript file, zoo:<name>).
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "frontend/frontend.h"

namespace mc::frontend {

ir::Shape parse_shape(const std::string& text, const std::string& what) {
  ir::Shape s;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v <= 0)
      throw InputError(what + " '" + text + "': '" + item + "' is not a positive integer (write e.g. 1,3,224,224)");
    s.push_back(v);
  }
  if (s.empty()) throw InputError(what + " is empty (write e.g. 1,3,224,224)");
  return s;
}

ir::DType parse_input_dtype(const std::string& text, const std::string& what) {
  static const std::pair<const char*, ir::DType> names[] = {
      {"float32", ir::DType::f32}, {"f32", ir::DType::f32}, {"int64", ir::DType::i64},
      {"i64", ir::DType::i64},     {"int32", ir::DType::i32}, {"i32", ir::DType::i32}};
  for (auto& [n, d] : names)
    if (text == n) return d;
  throw InputError(what + " '" + text + "' is not an input dtype: write float32 (the default), int64 (token ids, masks) or int32");
}

std::string input_dtype_name(ir::DType d) {
  switch (d) {
    case ir::DType::f32: return "float32";
    case ir::DType::i64: return "int64";
    case ir::DType::i32: return "int32";
    default: return ir::dtype_name(d);
  }
}

std::vector<ir::TensorType> parse_inputs(const std::vector<std::string>& shapes, const std::vector<std::string>& dtypes) {
  if (shapes.empty()) {
    if (!dtypes.empty()) throw InputError("--input-dtype needs --input-shape (one per model input)");
    return {};
  }
  if (dtypes.size() > 1 && dtypes.size() != shapes.size())
    throw InputError(std::to_string(dtypes.size()) + " --input-dtype for " + std::to_string(shapes.size()) +
                     " --input-shape: give one dtype for every input, or one per --input-shape");
  std::vector<ir::TensorType> out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    ir::DType d = dtypes.empty() ? ir::DType::f32 : parse_input_dtype(dtypes[dtypes.size() == 1 ? 0 : i]);
    out.emplace_back(d, parse_shape(shapes[i], "--input-shape"));
  }
  return out;
}

ir::Model load_model(const std::string& spec, const ir::Shape& input_shape) {
  std::vector<ir::TensorType> inputs;
  if (!input_shape.empty()) inputs.emplace_back(ir::DType::f32, input_shape);
  return load_model(spec, inputs);
}

ir::Model load_model(const std::string& spec, const std::vector<ir::TensorType>& inputs) {
  if (spec.rfind("zoo:", 0) == 0) {
    if (inputs.size() > 1)  // a zoo model's input is float32 (a run's check names a dtype mismatch)
      throw InputError("'" + spec + "' takes one float32 input; give one --input-shape");
    const ir::Shape input_shape = inputs.empty() ? ir::Shape{} : inputs[0].shape;
    ZooOptions o;
    if (!input_shape.empty()) o.input_shape = input_shape;
    return build_zoo(spec.substr(4), o);
  }
  if (!std::filesystem::exists(spec))
    throw InputError("model file '" + spec + "' does not exist (give a TorchScript .pt, a .mcm checkpoint, a .mcz archive or zoo:<name>)");
  const auto ext = std::filesystem::path(spec).extension();
  if (ext == ".mcm" || ext == ".mcz") return ir::Model::load(spec);  // .mcz: the compressed archive
  if (inputs.empty())
    throw InputError("'" + spec + "' is TorchScript, which carries no input shape: pass --input-shape, e.g. 1,3,224,224 "
                     "(one per input; --input-dtype int64 for token ids)");
  ImportOptions o;
  o.inputs = inputs;
  return import_torchscript(spec, o);
}

}  // namespace mc::frontend
