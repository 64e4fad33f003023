#include "lowrank/factors.h"

namespace mc::lowrank {

std::string method_name(ConvMethod m) {
  switch (m) {
    case ConvMethod::channel_svd: return "channel_svd";
    case ConvMethod::spatial_svd: return "spatial_svd";
    case ConvMethod::tucker2: return "tucker2";
    case ConvMethod::cp: return "cp";
  }
  return "?";
}

}  // namespace mc::lowrank
