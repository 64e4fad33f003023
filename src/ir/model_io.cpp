// Native checkpoint: one torch archive holding the IR text, the model name and every tensor.
#include <torch/serialize.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "ir/model.h"

namespace mc::ir {

void Model::save(const std::string& path) const {
  write_path_atomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive ar;
    ar.write("format", c10::IValue(std::string("compress-model-v1")));
    ar.write("name", c10::IValue(name));
    ar.write("graph", c10::IValue(graph.to_string()));
    std::vector<std::string> names;
    for (auto& [k, t] : tensors) {
      ar.write("t/" + k, t.detach(), /*is_buffer=*/true);
      names.push_back(k);
    }
    c10::List<std::string> list;
    for (auto& n : names) list.push_back(n);
    ar.write("tensor_names", c10::IValue(list));
    ar.save_to(tmp);
  });
}

Model Model::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError("model file '" + path + "' does not exist");
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {  // c10::Error, or the TorchScript parser's error for a damaged code/ entry
    std::string why = e.what();
    throw InputError("'" + path + "' is not a compress checkpoint (cannot open it as an archive: " +
                     why.substr(0, why.find('\n')) + ")");
  }
  c10::IValue fmt, name, graph, names;
  if (!ar.try_read("format", fmt) || !fmt.isString() || fmt.toStringRef() != "compress-model-v1")
    throw InputError("'" + path + "' is not a compress checkpoint (no 'compress-model-v1' marker)");
  ar.read("name", name);
  ar.read("graph", graph);
  ar.read("tensor_names", names);
  Model m;
  m.name = name.toStringRef();
  m.graph = Graph::parse(graph.toStringRef(), path + "#graph");
  for (const auto& n : names.toListRef()) {
    at::Tensor t;
    ar.read("t/" + n.toStringRef(), t, /*is_buffer=*/true);
    m.tensors[n.toStringRef()] = t;
  }
  m.infer_shapes();
  m.verify();
  return m;
}

}  // namespace mc::ir
