// The W4 post-training quantization recipe of the `compress analyze` tests, on the resnet8 fixture.
#pragma once
#include <cstdint>
#include <string>

#include "support/test_env.h"

namespace mc::test {

// W4 per-channel weights (nearest rounding), 8-bit per-tensor activations; a finetune and an
// export that analyze skips. Line 9 is `stages:`.
inline std::string w4_recipe(int64_t val_limit) {
  return "name: w4\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         ", input: {shape: [1, 1, 28, 28]}}\n"
         "data:\n"
         "  train: {dataset: fashion_mnist, batch_size: 128, transform: fmnist_eval}\n"
         "  val: {dataset: fashion_mnist, limit: " + std::to_string(val_limit) +
         ", batch_size: 500, transform: fmnist_eval, shuffle: false}\n"
         "  calib: {from: train, samples: 256}\n"
         "stages:\n"
         "  - quantize: {mode: ptq, weights: {bits: 4, qscheme: per_channel_symmetric}, "
         "activations: {bits: 8, qscheme: per_tensor_symmetric, observer: minmax}}\n"
         "  - finetune: {epochs: 1}\n"
         "  - export: {onnx: w4.onnx}\n"
         "report: {formats: [json, md, html], latency: false}\n";
}

}  // namespace mc::test
