// The test-support oracle check: a missing Python module fails with what is missing and how to
// install it (tests assert it; they never skip).
#include <gtest/gtest.h>

#include "support/test_env.h"

TEST(TestSupport, PythonOracleNamesTheMissingModuleAndTheFix) {
  ::testing::AssertionResult r = mc::test::python_oracle("json, mc_no_such_module");
  ASSERT_FALSE(r);
  const std::string msg = r.message();
  EXPECT_NE(msg.find("/usr/bin/python3 cannot import mc_no_such_module"), std::string::npos) << msg;
  EXPECT_NE(msg.find("make deps"), std::string::npos) << msg;
  EXPECT_TRUE(mc::test::python_oracle("json, os"));  // modules of Python itself
}
