// `compress bench`: our executor and ONNX Runtime on the same exported model.
#include <gtest/gtest.h>

#include <sstream>

#include "support/test_env.h"

TEST(BenchCli, TimesOursAndOnnxRuntime) {
  auto r = mc::test::run_compress("bench zoo:lenet5 --input-shape 1,1,28,28 --batch 1,4 --repeats 3 --ort");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream in(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    int batch = 0;
    double ours = 0, ort = 0, ratio = 0;
    if (ls >> batch >> ours >> ort >> ratio) {
      EXPECT_TRUE(batch == 1 || batch == 4) << line;
      EXPECT_GT(ours, 0.0) << line;
      EXPECT_GT(ort, 0.0) << line;
      ++rows;
    }
  }
  EXPECT_EQ(rows, 2) << r.out;
}

TEST(BenchCli, BadBatchListIsAnInputError) {
  auto r = mc::test::run_compress("bench zoo:lenet5 --batch 1,x");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--batch"), std::string::npos) << r.out;
}
