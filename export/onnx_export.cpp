#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/common/version.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <ostream>
#include <set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "export/codebook_weights.h"
#include "export/export_context.h"
#include "export/op_mapping.h"
#include "export/dynamic_int8.h"
#include "export/qdq_layout.h"
#include "export/sparse_initializers.h"
#include "ir/op_registry.h"
#include "ir/passes/fold_batch_norm.h"
#include "ir/passes/optimize.h"
#include "ir/ops/ops.h"

namespace mc::exporter {

namespace {

bool is_source(const ir::Node& n) { return n.op() == "param" || n.op() == "constant"; }

std::string numbered(const std::string& base, size_t i) { return i == 0 ? base : base + "_" + std::to_string(i); }

/// A copy of the model's graph with every type set: param/constant from the store, the rest inferred.
/// With `batch` >= 0, dim 0 of every graph input is set to it first.
ir::Graph typed_graph(const ir::Model& m, int64_t batch) {
  ir::Graph g = m.graph.clone();
  for (ir::Value* v : g.inputs()) {
    if (!v->type().has_shape) throw InputError("the model's input '" + v->name() + "' has no shape; give an input shape");
    if (batch >= 0 && !v->shape().empty()) {
      ir::TensorType t = v->type();
      t.shape[0] = batch;
      v->set_type(t);
    }
  }
  for (ir::Node* n : g.nodes()) {
    if (!is_source(*n)) continue;
    n->output()->set_type(ir::ops::type_of(m.tensor(n->attrs().s("name"))));
  }
  g.infer_shapes();
  return g;
}

/// Per graph output and dim: does the dim follow the batch size? Found by inferring shapes again
/// with another batch size. Empty when the graph does not accept another batch size.
std::vector<std::vector<bool>> batch_dependent_dims(const ir::Model& m, const ir::Graph& g, int64_t* batch) {
  *batch = g.inputs().empty() || g.inputs()[0]->shape().empty() ? -1 : g.inputs()[0]->shape()[0];
  if (*batch < 0) return {};
  ir::Graph other;
  try {
    other = typed_graph(m, *batch + 1);
  } catch (const std::exception& e) {
    spdlog::warn("ONNX export: the model does not accept another batch size ({}); exporting a fixed batch of {}",
                 e.what(), *batch);
    return {};
  }
  // A value whose rank follows the batch size (a squeeze of the batch dim) only works for one batch.
  std::vector<ir::Node*> na = g.nodes(), nb = other.nodes();
  for (size_t k = 0; k < na.size() && k < nb.size(); ++k)
    for (size_t i = 0; i < na[k]->outputs().size(); ++i)
      if (na[k]->output(i)->shape().size() != nb[k]->output(i)->shape().size()) {
        spdlog::warn("ONNX export: the rank of the output of {} depends on the batch size; exporting a fixed batch of {}",
                     na[k]->describe(), *batch);
        return {};
      }
  std::vector<std::vector<bool>> dep;
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const ir::Shape& a = g.outputs()[i]->shape();
    const ir::Shape& b = other.outputs()[i]->shape();
    std::vector<bool> d(a.size(), false);
    for (size_t k = 0; k < a.size() && k < b.size(); ++k) d[k] = a[k] != b[k];
    dep.push_back(std::move(d));
  }
  return dep;
}

void set_type(onnx::ValueInfoProto& vi, const std::string& name, const ir::TensorType& t, const std::vector<bool>& dynamic,
              int64_t batch) {
  vi.set_name(name);
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_dtype(t.dtype));
  auto* shape = tt->mutable_shape();
  for (size_t k = 0; k < t.shape.size(); ++k) {
    auto* dim = shape->add_dim();
    if (k < dynamic.size() && dynamic[k]) {
      if (k == 0 && t.shape[0] == batch) dim->set_dim_param("batch");
      // other batch-dependent dims stay unnamed
    } else {
      dim->set_dim_value(t.shape[k]);
    }
  }
}

void set_header(onnx::ModelProto& mp, const ir::Model& model, const ExportOptions& opts) {
  mp.set_ir_version(ir_version_for(opts.opset));
  mp.set_producer_name("compress");
  mp.set_producer_version(opts.producer_version);
  mp.set_model_version(1);
  auto* opset = mp.add_opset_import();
  opset->set_domain("");
  opset->set_version(opts.opset);
  auto add_meta = [&](const std::string& k, const std::string& v) {
    auto* p = mp.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  };
  add_meta("model_name", model.name);
  if (!opts.recipe_hash.empty()) add_meta("recipe_hash", opts.recipe_hash);
  for (auto& [k, v] : opts.metadata)
    if (k != "model_name" && k != "recipe_hash") add_meta(k, v);
}

void check(onnx::ModelProto& mp, const std::string& model_name) {
  try {
    onnx::checker::check_model(mp);
  } catch (const std::exception& e) {
    throw Error("the exported ONNX model of '" + model_name + "' fails the ONNX checker: " + e.what());
  }
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/true, /*strict_mode=*/1, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(mp, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw Error("ONNX shape inference fails on the exported model of '" + model_name + "': " + e.what());
  }
}

/// The ONNX checker on a file with sparse initializers (see to_onnx).
void check_sparse(const onnx::ModelProto& mp, const std::string& model_name) {
  try {
    onnx::checker::check_model(mp);
  } catch (const std::exception& e) {
    throw Error("the exported ONNX model of '" + model_name + "' with sparse initializers fails the ONNX checker: " +
                e.what());
  }
}

/// Removes nodes whose outputs nothing reads (a Relu re-emitted after a QDQ pair by the fake_quant
/// mapping), then initializers no node or graph output reads (float weights replaced by their
/// quantized integer form in a QDQ export).
void drop_unused(onnx::GraphProto& graph) {
  std::set<std::string> outputs;
  for (const auto& out : graph.output()) outputs.insert(out.name());
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, int> reads;
    for (const auto& node : graph.node())
      for (const auto& in : node.input()) ++reads[in];
    auto* nodes = graph.mutable_node();
    for (int i = nodes->size() - 1; i >= 0; --i) {
      bool used = false;
      for (const auto& o : nodes->Get(i).output()) used = used || reads.count(o) || outputs.count(o);
      if (!used) {
        nodes->DeleteSubrange(i, 1);
        changed = true;
      }
    }
  }
  std::set<std::string> used(outputs);
  for (const auto& node : graph.node())
    for (const auto& in : node.input()) used.insert(in);
  auto* inits = graph.mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (!used.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
}

/// Removes the inferred types of the values that decode stored weights (codebook indices): about
/// 60 bytes per decoding node that ONNX Runtime infers again anyway.
void drop_decoding_value_info(onnx::GraphProto& graph, const std::vector<StoredWeight>& stored) {
  std::set<std::string> outs;
  for (const StoredWeight& w : stored) outs.insert(w.node_outputs.begin(), w.node_outputs.end());
  if (outs.empty()) return;
  auto* vi = graph.mutable_value_info();
  for (int i = vi->size() - 1; i >= 0; --i)
    if (outs.count(vi->Get(i).name())) vi->DeleteSubrange(i, 1);
}

/// The file's size, its size with every sparse initializer dense, and that with each stored weight's
/// initializers and decoding nodes replaced by the float32 initializer (ExportSummary).
ExportSummary summarize(const onnx::ModelProto& mp, const ir::Model& model, const std::vector<StoredWeight>& stored,
                        const std::map<std::string, std::string>& tensor_names, const SparseSummary& sparse) {
  ExportSummary s;
  s.bytes = static_cast<int64_t>(mp.ByteSizeLong());  // what SerializeToOstream writes
  s.dense_bytes = s.bytes + sparse.bytes_saved;
  s.sparse_initializers = static_cast<int64_t>(sparse.dense_bytes.size());
  std::set<std::string> inits, outs, floats;
  int64_t added = 0;
  for (const StoredWeight& w : stored) {
    inits.insert(w.initializers.begin(), w.initializers.end());
    outs.insert(w.node_outputs.begin(), w.node_outputs.end());
    ++(w.codebook ? s.codebook_weights : s.quantized_weights);
    if (w.packed4) ++s.int4_weights;
    else if (!w.codebook && w.grid4) ++s.wide_4bit_weights;
    if (!floats.insert(w.tensor).second) continue;  // one float initializer per tensor
    onnx::TensorProto t;
    tensor_to_proto(model.tensor(w.tensor), tensor_names.at(w.tensor), t);
    added += field_bytes(t.ByteSizeLong());
  }
  int64_t removed = 0;
  for (const auto& t : mp.graph().initializer())
    if (inits.count(t.name())) removed += field_bytes(t.ByteSizeLong());
  for (const auto& [name, dense] : sparse.dense_bytes)
    if (inits.count(name)) removed += dense;
  for (const auto& n : mp.graph().node())
    if (n.output_size() > 0 && outs.count(n.output(0))) removed += field_bytes(n.ByteSizeLong());
  // Not counted: the graph's own length prefix (a byte or two), the small shape constants of the
  // decoding (content-deduplicated, possibly shared with other nodes) and node names.
  s.fp32_bytes = s.dense_bytes + added - removed;
  return s;
}

}  // namespace

int onnx_library_max_opset() {
  const auto& m = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = m.find(onnx::ONNX_DOMAIN);
  return it == m.end() ? 0 : it->second.second;
}

int ir_version_for(int opset) {
  if (opset >= 21) return 10;  // ONNX 1.16: INT4 / UINT4
  if (opset >= 19) return 9;   // ONNX 1.14 (19), 1.15 (20)
  if (opset >= 14) return 8;   // ONNX 1.9 (14) .. 1.13 (18)
  return 7;
}

std::string export_notes(const ExportSummary& s) {
  std::string out;
  if (s.int4_weights > 0) out += std::to_string(s.int4_weights) + " weights as INT4/UINT4; ";
  if (s.wide_4bit_weights > 0)
    out += std::to_string(s.wide_4bit_weights) + " 4-bit weights in 8-bit containers; opset 21 stores them as INT4; ";
  return out + s.check;
}

bool is_qat_training_op(const std::string& op) {
  return op == "bn_qat" || op == "bn_fold_weight" || op == "binary_quant" || op == "ternary_quant";
}

ir::passes::OptimizeSummary optimize_for_export(ir::Model& model, CodebookWeights codebook, SparseInitializers sparse) {
  bool quantized = false;
  for (const ir::Node* n : model.graph.nodes()) quantized = quantized || n->op() == "fake_quant";
  // Constant folding would evaluate fake_quant of a constant weight into a float constant and lose
  // the quantization the QDQ export writes; every other clean-up pass is safe.
  auto keep_bn = [&model, codebook, sparse](const ir::Node& layer) {
    const ir::Node* p = layer.input(1)->producer();
    if (!p || (p->op() != "param" && p->op() != "constant")) return false;
    const std::string& name = p->attrs().s("name");
    return writes_codebook(model.tensor(name), name, codebook, sparse);
  };
  std::vector<ir::passes::NamedPass> pipeline;
  for (const auto& p : ir::passes::default_pipeline()) {
    if (quantized && p.name == "constant_folding") continue;
    if (p.name == "fold_batch_norm" && codebook != CodebookWeights::never)
      pipeline.push_back({p.name, [keep_bn](ir::Model& m) { return ir::passes::fold_batch_norm(m, keep_bn); }});
    else
      pipeline.push_back(p);
  }
  return ir::passes::run_pipeline(model, pipeline);
}

std::vector<std::string> exportable_ops() {
  register_export_ops();
  return ExportRegistry::instance().names();
}

onnx::ModelProto to_onnx(const ir::Model& model, const ExportOptions& opts, ExportSummary* summary) {
  if (opts.opset < kMinOpset || opts.opset > kMaxOpset)
    throw InputError("unsupported opset " + std::to_string(opts.opset) + ": choose " + std::to_string(kMinOpset) + ".." +
                     std::to_string(kMaxOpset));
  ir::register_core_ops();
  register_export_ops();
  const ExportRegistry& reg = ExportRegistry::instance();
  for (ir::Node* n : model.graph.nodes()) {
    if (is_source(*n) || reg.find(n->op())) continue;
    if (is_qat_training_op(n->op()))
      throw InputError(n->describe() + " is a quantization-aware-training op: it lives between `quantize: {mode: qat}` "
                       "and the end of the finetune stage that follows, which converts it to conv + fake_quant; "
                       "export after that finetune stage");
    throw InputError(n->describe() + " has no ONNX mapping");
  }

  ir::Graph g;
  try {
    g = typed_graph(model, -1);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("cannot export model '" + model.name + "' to ONNX: shape inference of the IR failed: " + e.what());
  }
  int64_t batch = -1;
  std::vector<std::vector<bool>> dep;
  if (opts.dynamic_batch) dep = batch_dependent_dims(model, g, &batch);
  const bool dynamic = !dep.empty();

  onnx::ModelProto mp;
  set_header(mp, model, opts);
  onnx::GraphProto& graph = *mp.mutable_graph();
  graph.set_name(model.name.empty() ? std::string("model") : model.name);
  ExportContext ctx(model, graph, opts.opset, opts.codebook_weights, opts.sparse_initializers);

  // Names: graph inputs and outputs first, then the store tensors the graph refers to.
  std::vector<std::string> in_names, out_names;
  // One input is "input"; several keep their IR names (the importer's: forward's argument names,
  // input_ids / attention_mask), so callers can feed them by name.
  for (size_t i = 0; i < g.inputs().size(); ++i)
    in_names.push_back(ctx.unique(g.inputs().size() == 1 ? std::string("input") : g.inputs()[i]->name()));
  for (size_t i = 0; i < g.outputs().size(); ++i) out_names.push_back(ctx.unique(numbered("output", i)));
  std::map<std::string, std::string> tensor_names;  // store name -> initializer name
  for (ir::Node* n : g.nodes())
    if (is_source(*n)) {
      const std::string& t = n->attrs().s("name");
      if (!tensor_names.count(t)) tensor_names[t] = ctx.unique(t);
    }

  for (size_t i = 0; i < g.inputs().size(); ++i) {
    ir::Value* v = g.inputs()[i];
    ctx.bind(v, in_names[i]);
    std::vector<bool> dyn(v->shape().size(), false);
    if (dynamic && !dyn.empty()) dyn[0] = true;
    set_type(*graph.add_input(), in_names[i], v->type(), dyn, v->shape().empty() ? -1 : v->shape()[0]);
  }
  // Graph outputs computed by a node are written under their final name directly.
  std::set<const ir::Value*> preassigned;
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const ir::Value* v = g.outputs()[i];
    if (v->producer() && !is_source(*v->producer()) && preassigned.insert(v).second) ctx.preassign(v, out_names[i]);
  }

  std::set<std::string> written;
  for (ir::Node* n : g.nodes()) {
    if (is_source(*n)) {
      const std::string& t = n->attrs().s("name");
      const std::string& name = tensor_names.at(t);
      if (written.insert(name).second) tensor_to_proto(model.tensor(t), name, *graph.add_initializer());
      ctx.bind(n->output(), name);
      continue;
    }
    ctx.begin(*n);
    try {
      (*reg.find(n->op()))(*n, ctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("ONNX export of " + n->describe() + " failed: " + e.what());
    }
    ctx.end();
    for (size_t i = 0; i < n->outputs().size(); ++i) ctx.name_of(n->output(i));  // every output has a name
  }

  // Outputs that are graph inputs, initializers, aliases or repeated get an Identity.
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const ir::Value* v = g.outputs()[i];
    std::string src = ctx.name_of(v);
    if (src != out_names[i]) {
      onnx::NodeProto* id = graph.add_node();
      id->set_op_type("Identity");
      id->set_name(out_names[i] + "/Identity");
      id->add_input(src);
      id->add_output(out_names[i]);
    }
    set_type(*graph.add_output(), out_names[i], v->type(), dynamic ? dep[i] : std::vector<bool>{}, batch);
  }

  lower_dynamic_int8(graph);
  drop_unused(graph);
  layout_qdq(graph);
  if (mp.ByteSizeLong() > static_cast<size_t>(INT_MAX))
    throw InputError("model '" + model.name + "' is over 2 GiB, the limit of a single ONNX file (external data is not supported)");
  const int known = onnx_library_max_opset();
  const bool checkable = opts.opset <= known;
  if (checkable) check(mp, model.name);
  drop_decoding_value_info(graph, ctx.stored_weights());
  // After the shape inference: ONNX 1.12's types a sparse initializer as sparse_tensor(float),
  // which no op of ours accepts in strict mode (ONNX Runtime reads it as the dense tensor it stands
  // for). The file as written passes the checker again. (INT4/UINT4 initializers are never sparse.)
  const SparseSummary sparse = sparsify_weights(graph, ctx.weight_initializers(), opts.sparse_initializers);
  if (checkable && !sparse.dense_bytes.empty()) check_sparse(mp, model.name);
  if (summary) {
    *summary = summarize(mp, model, ctx.stored_weights(), tensor_names, sparse);
    summary->checked = checkable;
    summary->check = checkable ? std::string("onnx ") + onnx::LAST_RELEASE_VERSION + " checker + strict shape inference"
                               : "not checked in-process: opset " + std::to_string(opts.opset) +
                                     " is newer than the ONNX library (" + onnx::LAST_RELEASE_VERSION + ", opsets <= " +
                                     std::to_string(known) + "); ONNX Runtime is the check";
  }
  return mp;
}

ExportSummary export_onnx(const ir::Model& model, const std::string& path, const ExportOptions& opts) {
  ExportSummary summary;
  onnx::ModelProto mp = to_onnx(model, opts, &summary);
  write_file_atomically(path, [&](std::ostream& os) {
    if (!mp.SerializeToOstream(&os)) throw RuntimeFailure("error while writing '" + path + "' (disk full?)");
  });
  return summary;
}

}  // namespace mc::exporter
