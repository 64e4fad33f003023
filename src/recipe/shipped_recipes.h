// The recipes shipped in recipes/: found by bare name (`compress --recipe resnet_int8`), listed by
// `compress recipes`. Search path: $MC_RECIPE_DIR, then this source tree's recipes/.
#pragma once
#include <string>
#include <vector>

namespace mc::recipe {

struct ShippedRecipe {
  std::string name;     // file name without .yaml
  std::string path;     // full path
  std::string summary;  // its first comment line, without '#'
};

/// Directories searched for shipped recipes ($MC_RECIPE_DIR first), existing ones only.
std::vector<std::string> recipe_search_path();
/// Every *.yaml of the search path, sorted by name (a name in an earlier directory hides later ones).
std::vector<ShippedRecipe> shipped_recipes();

struct ResolvedRecipe {
  std::string path;
  bool shipped = false;  // found among the shipped recipes, not as given
};
/// A recipe argument: the file as given when it exists; else, for a bare name (no directory part,
/// with or without .yaml), the shipped recipe of that name. Neither: InputError naming what was
/// looked for, with the close matches among the shipped recipes.
ResolvedRecipe resolve_recipe(const std::string& arg);

}  // namespace mc::recipe
