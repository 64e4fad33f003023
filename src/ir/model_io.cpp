// Native checkpoint: one torch archive (zip) holding the IR text, the model name and every tensor.
// Format v2 ("compress-model-v2") adds a CRC-32 per tensor and one for the graph text (stored as a
// byte tensor, out of the pickled metadata); the metadata record itself is checked against the
// zip directory's CRC-32 before it is unpickled (checkpoint_check.h). v1 files load unverified.
// An optional `preprocessing` string (Model::preprocessing) lives in the same metadata record.
// A .mcz archive (ir/mcz/archive.h) embeds the same records for what it does not encode itself.
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <filesystem>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "ir/checkpoint_check.h"
#include "ir/mcz/archive.h"
#include "ir/model.h"
#include "ir/model_io.h"

namespace mc::ir {

namespace {
constexpr const char* kFormatV1 = "compress-model-v1";
constexpr const char* kFormatV2 = "compress-model-v2";

std::string crc_hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

// Reads an entry of the archive; a LibTorch error (missing or unreadable record) names `what`.
template <typename Read>
void read_entry(const std::string& path, const std::string& what, Read read) {
  try {
    read();
  } catch (const std::exception& e) {  // c10::Error, std::runtime_error, TorchScript's ErrorReport
    checkpoint::fail_damaged(path, what + " cannot be read (" + first_line(e.what()) + ")");
  }
}

void check_crc(const std::string& path, const std::string& what, uint32_t stored, uint32_t actual) {
  if (stored != actual)
    checkpoint::fail_damaged(path, what + " fails its CRC-32 (stored " + crc_hex(stored) + ", computed " + crc_hex(actual) + ")");
}

// Graph text of a v2 file: a uint8 tensor, checked against graph_crc32.
std::string read_graph_v2(torch::serialize::InputArchive& ar, const std::string& path) {
  at::Tensor bytes;
  c10::IValue crc;
  read_entry(path, "the graph section", [&] {
    ar.read("graph", bytes, /*is_buffer=*/true);
    ar.read("graph_crc32", crc);
  });
  std::string text(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(bytes.nbytes()));
  check_crc(path, "the graph section (the model's IR text)", static_cast<uint32_t>(crc.toInt()), checkpoint::text_crc32(text));
  return text;
}

// The .mcm records of `m`, with only the tensors `keep` accepts.
void fill_archive(torch::serialize::OutputArchive& ar, const Model& m, const model_io::KeepTensor& keep) {
  ar.write("format", c10::IValue(std::string(kFormatV2)));
  ar.write("name", c10::IValue(m.name));
  if (!m.preprocessing.empty()) ar.write("preprocessing", c10::IValue(m.preprocessing));
  std::string text = m.graph.to_string();
  at::Tensor bytes = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
  std::memcpy(bytes.data_ptr(), text.data(), text.size());
  ar.write("graph", bytes, /*is_buffer=*/true);
  ar.write("graph_crc32", c10::IValue(static_cast<int64_t>(checkpoint::text_crc32(text))));
  c10::List<std::string> names;
  c10::List<int64_t> crcs;
  for (auto& [k, t] : m.tensors) {
    if (keep && !keep(k)) continue;
    ar.write("t/" + k, t.detach(), /*is_buffer=*/true);
    names.push_back(k);
    crcs.push_back(checkpoint::tensor_crc32(t));
  }
  ar.write("tensor_names", c10::IValue(names));
  ar.write("tensor_crc32", c10::IValue(crcs));
}

// Everything after the archive is open: format, metadata, graph, tensors (checked; no shape
// inference or verify, so that a .mcz reader can add the tensors it decodes first).
Model read_archive(torch::serialize::InputArchive& ar, const std::string& path) {
  c10::IValue fmt, name, names, crcs, prep;
  if (!ar.try_read("format", fmt) || !fmt.isString() || fmt.toStringRef().rfind("compress-model-", 0) != 0)
    throw InputError("'" + path + "' is not a compress checkpoint (no 'compress-model-v*' marker)");
  const std::string& format = fmt.toStringRef();
  bool v1 = format == kFormatV1;
  if (!v1 && format != kFormatV2)
    throw InputError("'" + path + "' is a '" + format + "' checkpoint, newer than this compress reads (" + kFormatV2 +
                     "): update compress");
  Model m;
  std::string text;
  read_entry(path, "the metadata section", [&] {
    ar.read("name", name);
    ar.read("tensor_names", names);
    if (v1) {
      c10::IValue g;
      ar.read("graph", g);
      text = g.toStringRef();
    } else {
      ar.read("tensor_crc32", crcs);
    }
  });
  if (v1) spdlog::warn("'{}' is a {} checkpoint without checksums: loaded unverified (save it again to add them)", path, kFormatV1);
  else text = read_graph_v2(ar, path);
  m.name = name.toStringRef();
  // Optional (files written before it was recorded, or by compress outside a recipe have none).
  if (!v1 && ar.try_read("preprocessing", prep) && prep.isString()) m.preprocessing = prep.toStringRef();
  m.graph = Graph::parse(text, path + "#graph");
  const auto& list = names.toListRef();
  if (!v1 && crcs.toListRef().size() != list.size())
    checkpoint::fail_damaged(path, "the tensor list and its checksums differ in length");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string& n = list[i].toStringRef();
    at::Tensor t;
    read_entry(path, "tensor '" + n + "'", [&] { ar.read("t/" + n, t, /*is_buffer=*/true); });
    if (!v1) check_crc(path, "tensor '" + n + "'", static_cast<uint32_t>(crcs.toListRef()[i].toInt()), checkpoint::tensor_crc32(t));
    m.tensors[n] = t;
  }
  return m;
}
}  // namespace

namespace model_io {

std::string mcm_bytes(const Model& m, const KeepTensor& keep) {
  torch::serialize::OutputArchive ar;
  fill_archive(ar, m, keep);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

Model read_mcm_bytes(const std::string& bytes, const std::string& path) {
  checkpoint::check_archive_bytes(bytes, path);
  torch::serialize::InputArchive ar;
  read_entry(path, "the embedded checkpoint", [&] { ar.load_from(bytes.data(), bytes.size()); });
  return read_archive(ar, path);
}

}  // namespace model_io

void Model::save(const std::string& path) const {
  write_path_atomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive ar;
    fill_archive(ar, *this, nullptr);
    ar.save_to(tmp);
  });
}

Model Model::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError("model file '" + path + "' does not exist");
  if (mcz::is_mcz_file(path) || std::filesystem::path(path).extension() == ".mcz") return mcz::load_mcz(path);
  checkpoint::check_archive(path);
  torch::serialize::InputArchive ar;
  read_entry(path, "the archive", [&] { ar.load_from(path); });
  Model m = read_archive(ar, path);
  m.infer_shapes();
  m.verify();
  return m;
}

}  // namespace mc::ir
