// Fuzz target: .mcm checkpoint and .mcz archive loading (ir::Model::load, src/ir/model_io.cpp,
// src/ir/mcz/archive.cpp), two ways:
//   - an input starting with "PK" (a zip archive, as every .mcm) or with the .mcz magic is written
//     to a file and loaded as is;
//   - any other input is a model description: IR text, then a line "--- tensors" and one line per
//     tensor "NAME DTYPE D0,D1,..." (dtype f32 f64 f16 i64 i32 u8 b1; values 0, 1, 2, ...). The
//     target saves that model with Model::save and loads it back, so the graph / tensor checks of
//     loading (names, dtypes and shapes that disagree with the graph) are reached past the archive
//     format, whatever its version and checksums. A model that loads is then made sparse with few
//     values (and -0.0s), packed as .mcz and read back: any difference in the graph or a tensor's
//     bits is a wrong result (fuzz::fail).
#include <ATen/ATen.h>

#include <cstring>
#include <sstream>

#include "fuzz/fuzz_target.h"
#include "ir/mcz/archive.h"
#include "ir/model.h"
#include "ir/op_registry.h"

namespace {

constexpr int64_t kMaxElements = 1 << 16;  // keeps each input cheap; shapes still reach every rank

at::ScalarType dtype_of(const std::string& s) {
  if (s == "f64") return at::kDouble;
  if (s == "f16") return at::kHalf;
  if (s == "i64") return at::kLong;
  if (s == "i32") return at::kInt;
  if (s == "u8") return at::kByte;
  if (s == "b1") return at::kBool;
  return at::kFloat;
}

// "NAME DTYPE D0,D1,..." -> tensor; false when the line is not of that form or too large.
bool parse_tensor(const std::string& line, std::string& name, at::Tensor& t) {
  std::istringstream is(line);
  std::string dtype, dims;
  if (!(is >> name >> dtype)) return false;
  is >> dims;
  std::vector<int64_t> shape;
  int64_t numel = 1;
  std::istringstream ds(dims);
  for (std::string d; std::getline(ds, d, ',');) {
    if (d.empty() || d.size() > 6 || d.find_first_not_of("0123456789") != std::string::npos) return false;
    shape.push_back(std::stoll(d));
    numel *= shape.back();
    if (numel > kMaxElements || shape.size() > 8) return false;
  }
  t = at::arange(numel, at::kDouble).reshape(shape).to(dtype_of(dtype));
  return true;
}

// Most elements zero (every 7th kept, +0.0 or -0.0 elsewhere), the kept ones from 5 values: the
// codebook, relative-index and -0.0 paths of the archive.
at::Tensor sparse_few_values(const at::Tensor& t) {
  at::Tensor i = at::arange(t.numel(), at::kLong).reshape(t.sizes());
  at::Tensor v = ((i % 5) - 2).to(at::kFloat);
  return v * (i % 7 == 0).to(at::kFloat);  // 0 * negative = -0.0
}

void check_mcz_round_trip(mc::ir::Model& m) {
  for (auto& [name, t] : m.tensors)
    if (t.scalar_type() == at::kFloat) t = sparse_few_values(t);
  std::string path = mc::fuzz::scratch_dir() + "/described.mcz";
  mc::ir::mcz::save_mcz(m, path);
  mc::ir::Model back = mc::ir::Model::load(path);
  if (back.graph.to_string() != m.graph.to_string()) mc::fuzz::fail(".mcz round trip changed the graph");
  if (back.tensors.size() != m.tensors.size()) mc::fuzz::fail(".mcz round trip changed the tensor list");
  for (auto& [name, t] : m.tensors) {
    auto it = back.tensors.find(name);
    at::Tensor a = t.contiguous();
    if (it == back.tensors.end() || it->second.scalar_type() != a.scalar_type() || it->second.sizes() != a.sizes() ||
        std::memcmp(it->second.contiguous().data_ptr(), a.data_ptr(), a.nbytes()) != 0)
      mc::fuzz::fail(".mcz round trip changed tensor '" + name + "'");
  }
}

void load_described(const std::string& text) {
  size_t sep = text.find("\n--- tensors");
  mc::ir::Model m;
  mc::fuzz::expect_errors([&] { m.graph = mc::ir::Graph::parse(text.substr(0, sep), "fuzz.ir"); });
  if (sep != std::string::npos) {
    std::istringstream lines(text.substr(sep + 1));
    std::string line;
    std::getline(lines, line);  // the separator
    while (std::getline(lines, line)) {
      std::string name;
      at::Tensor t;
      if (parse_tensor(line, name, t)) m.tensors[name] = t;
    }
  }
  std::string path = mc::fuzz::scratch_dir() + "/described.mcm";
  m.save(path);
  mc::ir::Model loaded = mc::ir::Model::load(path);
  check_mcz_round_trip(loaded);
}

}  // namespace

MC_FUZZ_TARGET(mcm) {
  static const bool ops = (mc::ir::register_core_ops(), true);
  (void)ops;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  mc::fuzz::expect_errors([&] {
    if (bytes.compare(0, 2, "PK") == 0) mc::ir::Model::load(mc::fuzz::write_scratch("input.mcm", bytes));
    else if (bytes.compare(0, 4, "\x89MCZ") == 0) mc::ir::Model::load(mc::fuzz::write_scratch("input.mcz", bytes));
    else load_described(bytes);
  });
  return 0;
}
