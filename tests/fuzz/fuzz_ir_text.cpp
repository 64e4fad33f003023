// Fuzz target: the IR text parser (ir::Graph::parse) and verify(). A text that parses must print
// (Graph::to_string) to a text that parses to the same text: the format round-trips exactly.
#include "fuzz/fuzz_target.h"
#include "ir/graph.h"
#include "ir/op_registry.h"

MC_FUZZ_TARGET(ir_text) {
  static const bool ops = (mc::ir::register_core_ops(), true);
  (void)ops;
  std::string text(reinterpret_cast<const char*>(data), size);
  mc::fuzz::expect_errors([&] {
    mc::ir::Graph g = mc::ir::Graph::parse(text, "fuzz.ir");
    std::string printed = g.to_string();
    mc::ir::Graph again = mc::ir::Graph::parse(printed, "fuzz-printed.ir");
    if (again.to_string() != printed) mc::fuzz::fail("Graph::parse(g.to_string()) prints differently:\n" + printed);
    mc::fuzz::expect_errors([&] { g.verify(); });
    g.infer_shapes();
    g.verify();
  });
  return 0;
}
