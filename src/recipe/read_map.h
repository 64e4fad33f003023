// Reading one map-valued entry of a recipe (a `layers:` glob's settings, say) into an options
// struct with a visit(Visitor&): the shape check and the Reader, in one place for every stage.
#pragma once
#include <string>

#include "recipe/options.h"

namespace mc::recipe {

/// Reads `node` into `into` (through into.visit) as `what` in messages, reporting keys it does not
/// know. False, with "<what> must be a map, e.g. <example>" at the node, when `node` is not a map.
template <class T>
bool read_map(const ConfigNode& node, const std::string& what, const std::string& example, Diagnostics& diag,
              T& into) {
  if (!node.is_map()) {
    diag.error(node.loc(), what + " must be a map, e.g. " + example);
    return false;
  }
  Reader r(&node, diag, what);
  into.visit(r);
  r.finish();
  return true;
}

}  // namespace mc::recipe
