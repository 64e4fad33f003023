// The stage registry of the `compress` binary: the pipeline's stages and every technique folder's.
// Its own file (without CLI11) so that in-process users of the whole registry (the recipe fuzz
// target, tests/fuzz/fuzz_recipe.cpp) validate recipes exactly as `compress validate` does.
#pragma once
#include "pipeline/stage.h"

namespace mc::cli {

const pipeline::StageRegistry& stage_registry();

}  // namespace mc::cli
