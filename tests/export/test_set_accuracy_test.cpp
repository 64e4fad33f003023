// The trained resnet8 fixture (tests/CMakeLists.txt: fixtures.resnet8_fmnist) exported to ONNX and
// run in ONNX Runtime on the whole Fashion-MNIST test set: the same top-1 as our executor's, and
// the same predicted class for (almost) every image.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/factory.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "export/export_test_util.h"
#include "export/onnx_export.h"

namespace mc::test {
namespace {

TEST(TestSetAccuracy, OrtAgreesWithTheExecutorOnTheTrainedResnet8) {
  namespace fs = std::filesystem;
  const std::string ckpt = fixture_dir() + "/resnet8_fmnist/resnet8_fmnist.mcm";
  ASSERT_TRUE(fs::exists(ckpt)) << ckpt << " is made by the ctest fixture fixtures.resnet8_fmnist";
  ir::Model model = ir::Model::load(ckpt);

  data::DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.split = "test";
  data::LoaderOptions lo;
  lo.batch_size = 1000;
  lo.shuffle = false;
  lo.transforms = std::make_shared<data::Normalize>(std::vector<double>{0.2860}, std::vector<double>{0.3530});
  data::DataLoader loader(data::make_dataset(spec), lo);
  std::vector<at::Tensor> images, labels, ours;
  runtime::Executor ex(model);
  data::Batch b;
  while (loader.next(b)) {
    images.push_back(b.images);
    labels.push_back(b.labels);
    ours.push_back(ex.run1(b.images));
  }
  at::Tensor x = at::cat(images), y = at::cat(labels), logits = at::cat(ours);
  ASSERT_EQ(x.size(0), 10000);

  TempDir tmp;
  const std::string onnx = tmp.file("resnet8.onnx");
  exporter::export_onnx(model, onnx);
  at::Tensor ort = run_ort(onnx, x);
  ASSERT_TRUE(ort.defined());
  ASSERT_EQ(ort.sizes(), logits.sizes());

  at::Tensor ours_pred = logits.argmax(1), ort_pred = ort.argmax(1);
  double ours_top1 = ours_pred.eq(y).to(at::kDouble).mean().item<double>();
  double ort_top1 = ort_pred.eq(y).to(at::kDouble).mean().item<double>();
  int64_t disagree = ours_pred.ne(ort_pred).sum().item<int64_t>();
  std::printf("test set: ours %.2f%%, ONNX Runtime %.2f%%, %lld of 10000 predictions differ\n", ours_top1 * 100,
              ort_top1 * 100, static_cast<long long>(disagree));
  EXPECT_GT(ours_top1, 0.85);  // a trained model, not a random one
  EXPECT_NEAR(ort_top1, ours_top1, 0.001);
  EXPECT_LE(disagree, 5);  // only near-ties may flip
}

}  // namespace
}  // namespace mc::test
