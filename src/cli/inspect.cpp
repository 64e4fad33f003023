// compress inspect MODEL [--input-shape N,C,H,W ...] [--input-dtype float32|int64 ...] [--json]
// One row per compute node (param/constant nodes are folded into the node that reads them):
// scope, op, output shape, parameters read, MACs; then totals. --json prints one JSON object.
#include <ATen/core/Tensor.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "lowrank/factor_chains.h"

namespace mc::cli {

namespace {

struct Row {
  std::string scope, op, shape;  // shape: output shape(s) as text
  ir::Shape out_shape;           // first output
  int64_t params = 0;
  int64_t macs = 0;
};

std::string human(int64_t v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  double d = static_cast<double>(v);
  int u = 0;
  while (d >= 1000.0 && u < 4) {
    d /= 1000.0;
    ++u;
  }
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(u == 0 ? 0 : 2);
  os << d << units[u];
  return os.str();
}

std::vector<Row> collect_rows(const ir::Model& m) {
  std::vector<Row> rows;
  for (ir::Node* n : m.graph.nodes()) {
    if (n->op() == "param" || n->op() == "constant") continue;
    Row r;
    r.scope = n->scope();
    r.op = n->op();
    for (size_t i = 0; i < n->outputs().size(); ++i)
      r.shape += (i ? " " : "") + ir::shape_str(n->outputs()[i]->shape());
    if (!n->outputs().empty()) r.out_shape = n->output()->shape();
    for (ir::Value* v : n->inputs())
      if (v->producer() && v->producer()->op() == "param") r.params += m.tensor(v->producer()->attrs().s("name")).numel();
    r.macs = ir::node_macs(*n);
    rows.push_back(std::move(r));
  }
  return rows;
}

// Layers the decompose stage replaced by factor chains (scopes <layer>.lrK), one line each.
void print_factor_chains(const ir::Model& m) {
  const auto chains = lowrank::find_factor_chains(m);
  if (chains.empty()) return;
  std::cout << "\ndecomposed layers (factor chains <scope>.lr0, .lr1, ...):\n";
  for (const auto& c : chains) {
    std::string ranks;
    for (size_t i = 0; i < c.ranks.size(); ++i) ranks += (i ? ", " : "") + std::to_string(c.ranks[i]);
    std::cout << "  " << (c.scope.empty() ? "-" : c.scope) << ": " << c.method << " rank [" << ranks << "], "
              << c.factors << " factors, params " << c.params << ", MACs " << c.macs << "\n";
  }
}

int inspect(const std::string& spec, const InputArgs& inputs, bool json) {
  ir::Model m = frontend::load_model(spec, inputs.parse());
  ir::register_core_ops();
  std::vector<Row> rows = collect_rows(m);
  int64_t total_macs = 0;
  for (auto& r : rows) total_macs += r.macs;
  const int64_t params = m.num_params();

  if (json) {
    using nlohmann::json;
    json j;
    j["model"] = spec;
    j["name"] = m.name;
    j["input_shape"] = m.graph.inputs().empty() ? ir::Shape{} : m.graph.inputs()[0]->shape();
    json ins = json::array(), outs = json::array();
    for (auto* v : m.graph.inputs())
      ins.push_back({{"name", v->name()}, {"shape", v->shape()}, {"dtype", frontend::input_dtype_name(v->type().dtype)}});
    for (auto* v : m.graph.outputs()) outs.push_back({{"name", v->name()}, {"shape", v->shape()}});
    j["inputs"] = ins;
    j["outputs"] = outs;
    j["params"] = params;
    j["tensors"] = static_cast<int64_t>(m.tensors.size());
    j["macs"] = total_macs;
    j["num_layers"] = static_cast<int64_t>(rows.size());
    json layers = json::array();
    for (auto& r : rows)
      layers.push_back({{"scope", r.scope}, {"op", r.op}, {"output_shape", r.out_shape}, {"params", r.params}, {"macs", r.macs}});
    j["layers"] = layers;
    json chains = json::array();
    for (const auto& c : lowrank::find_factor_chains(m))
      chains.push_back({{"scope", c.scope}, {"method", c.method}, {"ranks", c.ranks}, {"factors", c.factors},
                        {"params", c.params}, {"macs", c.macs}});
    j["decomposed"] = chains;
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::string ins, outs;
  for (auto* v : m.graph.inputs())  // float32 inputs by shape only, as ever; others with name and dtype
    ins += (ins.empty() ? "" : " ") + (v->type().dtype == ir::DType::f32 && m.graph.inputs().size() == 1
                                           ? ir::shape_str(v->shape())
                                           : v->name() + ": " + ir::type_str(v->type()));
  for (auto* v : m.graph.outputs()) outs += (outs.empty() ? "" : " ") + ir::shape_str(v->shape());
  std::cout << "model " << m.name << " (" << spec << "): input " << ins << " -> output " << outs << "\n\n";

  const std::string hdr[5] = {"scope", "op", "output", "params", "MACs"};
  size_t w[5];
  for (int i = 0; i < 5; ++i) w[i] = hdr[i].size();
  for (auto& r : rows) {
    w[0] = std::max(w[0], (r.scope.empty() ? std::string("-") : r.scope).size());
    w[1] = std::max(w[1], r.op.size());
    w[2] = std::max(w[2], r.shape.size());
    w[3] = std::max(w[3], std::to_string(r.params).size());
    w[4] = std::max(w[4], std::to_string(r.macs).size());
  }
  auto line = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d,
                  const std::string& e) {
    std::ostringstream os;
    os.setf(std::ios::left, std::ios::adjustfield);
    os.width(static_cast<std::streamsize>(w[0]));
    os << a << "  ";
    os.width(static_cast<std::streamsize>(w[1]));
    os << b << "  ";
    os.width(static_cast<std::streamsize>(w[2]));
    os << c << "  ";
    os.setf(std::ios::right, std::ios::adjustfield);
    os.width(static_cast<std::streamsize>(w[3]));
    os << d << "  ";
    os.width(static_cast<std::streamsize>(w[4]));
    os << e;
    std::cout << os.str() << "\n";
  };
  line(hdr[0], hdr[1], hdr[2], hdr[3], hdr[4]);
  line(std::string(w[0], '-'), std::string(w[1], '-'), std::string(w[2], '-'), std::string(w[3], '-'),
       std::string(w[4], '-'));
  for (auto& r : rows)
    line(r.scope.empty() ? "-" : r.scope, r.op, r.shape, std::to_string(r.params), std::to_string(r.macs));
  std::cout << "\ntotal: " << rows.size() << " layers, params " << params << " (" << human(params) << "), MACs "
            << total_macs << " (" << human(total_macs) << ")\n";
  print_factor_chains(m);
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  struct Opts {
    std::string model;
    InputArgs inputs;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("inspect", "Show a model's layers, output shapes, parameters and MACs");
  sub->add_option("model", o->model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  add_input_options(sub, o->inputs, "Input shape, batch first, e.g. 1,3,224,224 (required for TorchScript)");
  sub->add_flag("--json", o->json, "Print one JSON object instead of the table");
  t.add(sub, [o] { return inspect(o->model, o->inputs, o->json); });
}

}  // namespace mc::cli
