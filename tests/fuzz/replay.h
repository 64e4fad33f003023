// fuzz_replay's view of the registered targets (tests/fuzz/fuzz_target.h).
#pragma once
#include <map>
#include <string>

#include "fuzz/fuzz_target.h"

namespace mc::fuzz {
std::map<std::string, TargetFn>& targets();
}
