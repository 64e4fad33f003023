// LibTorch errors inside the executor (a kernel, a value hook) leave as one RuntimeFailure line
// naming the node's op and scope, without LibTorch's backtrace.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "ir/model.h"
#include "runtime/executor.h"

namespace mc {
namespace {

// A fixed reshape to [1, 12]: shape inference passes at batch 1, the kernel throws at batch 2.
ir::Model fixed_batch_model() {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[1,3,2,2]) {
  %r = reshape[shape=[1,12]](%x) @head.flatten
  %w = param[name="fc.weight"]() @head.fc
  %y = linear(%r, %w) @head.fc
  return(%y)
}
)IR");
  m.tensors["fc.weight"] = at::ones({5, 12});
  m.infer_shapes();
  return m;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeFailure& e) {
    return e.what();
  }
  ADD_FAILURE() << "no RuntimeFailure";
  return "";
}

TEST(ExecutorErrors, KernelErrorNamesOpAndScope) {
  ir::Model m = fixed_batch_model();
  runtime::Executor ex(m);
  EXPECT_EQ(ex.run({at::ones({1, 3, 2, 2})})[0].sizes(), (at::IntArrayRef{1, 5}));
  std::string msg = message_of([&] { ex.run({at::ones({2, 3, 2, 2})}); });
  EXPECT_NE(msg.find("op 'reshape' at scope 'head.flatten'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is invalid for input of size 24"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(ExecutorErrors, HookErrorNamesValueOpAndScopeWithoutBacktrace) {
  ir::Model m = fixed_batch_model();
  runtime::Executor ex(m);
  ex.add_hook("r", [](const ir::Value&, const at::Tensor& t) { (void)t.view({7, 7}); });  // 12 elements: throws
  std::string msg = message_of([&] { ex.run({at::ones({1, 3, 2, 2})}); });
  EXPECT_NE(msg.find("hook on value '%r'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("op 'reshape' at scope 'head.flatten'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape '[7, 7]' is invalid"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Exception raised from"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

}  // namespace
}  // namespace mc
