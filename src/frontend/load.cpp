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

ir::Model load_model(const std::string& spec, const ir::Shape& input_shape) {
  if (spec.rfind("zoo:", 0) == 0) {
    ZooOptions o;
    if (!input_shape.empty()) o.input_shape = input_shape;
    return build_zoo(spec.substr(4), o);
  }
  if (!std::filesystem::exists(spec))
    throw InputError("model file '" + spec + "' does not exist (give a TorchScript .pt, a .mcm checkpoint, a .mcz archive or zoo:<name>)");
  const auto ext = std::filesystem::path(spec).extension();
  if (ext == ".mcm" || ext == ".mcz") return ir::Model::load(spec);  // .mcz: the compressed archive
  if (input_shape.empty())
    throw InputError("'" + spec + "' is TorchScript, which carries no input shape: pass --input-shape, e.g. 1,3,224,224");
  ImportOptions o;
  o.input_shape = input_shape;
  return import_torchscript(spec, o);
}

}  // namespace mc::frontend
