// The op registry refuses a second op under a taken name (naming both registrants), and a test's
// scoped registration leaves the registry as it found it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/op_registry.h"
#include "support/test_env.h"

using namespace mc::ir;

namespace {
OpDef identity(const std::string& name) {
  OpDef d;
  d.name = name;
  d.min_inputs = d.max_inputs = 1;
  d.shape = [](const Node&, const std::vector<TensorType>& in) { return in; };
  return d;
}
}  // namespace

TEST(OpRegistry, DuplicateNameIsAnErrorNamingBothRegistrants) {
  register_core_ops();
  auto& reg = OpRegistry::instance();
  try {
    reg.add(identity("relu"));
    FAIL() << "a second 'relu' was accepted";
  } catch (const mc::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("op 'relu' is registered twice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("first at ops/"), std::string::npos) << msg;  // the core op families
    EXPECT_NE(msg.find("again at ir/op_registry_test.cpp:"), std::string::npos) << msg;
  }
  EXPECT_TRUE(reg.find("relu")->kernel) << "the refused registration replaced the core relu";
}

TEST(OpRegistry, ScopedRegistrationIsGoneAfterTheScope) {
  auto& reg = OpRegistry::instance();
  {
    mc::test::ScopedRegistration op([&] { reg.add(identity("test_scoped_op")); }, [&] { reg.remove("test_scoped_op"); });
    ASSERT_NE(reg.find("test_scoped_op"), nullptr);
    EXPECT_THROW(reg.add(identity("test_scoped_op")), mc::Error);
  }
  EXPECT_EQ(reg.find("test_scoped_op"), nullptr);
  // Its name is free again.
  mc::test::ScopedRegistration again([&] { reg.add(identity("test_scoped_op")); }, [&] { reg.remove("test_scoped_op"); });
  EXPECT_NE(reg.find("test_scoped_op"), nullptr);
}
