#include "recipe/shipped_recipes.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.h"
#include "recipe/options.h"

#ifndef MC_DEFAULT_RECIPE_DIR
#define MC_DEFAULT_RECIPE_DIR ""
#endif

namespace mc::recipe {
namespace fs = std::filesystem;

namespace {
std::string first_comment_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t p = line.find_first_not_of(" \t");
    if (p == std::string::npos) continue;
    if (line[p] != '#') return "";  // the comment block ended
    size_t text = line.find_first_not_of("# \t", p);
    if (text != std::string::npos) return line.substr(text);
  }
  return "";
}

std::string strip_yaml(const std::string& name) {
  const std::string ext = ".yaml";
  bool has = name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
  return has ? name.substr(0, name.size() - ext.size()) : name;
}
}  // namespace

std::vector<std::string> recipe_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MC_RECIPE_DIR")) dirs.emplace_back(env);
  if (std::string(MC_DEFAULT_RECIPE_DIR).size()) dirs.emplace_back(MC_DEFAULT_RECIPE_DIR);
  std::vector<std::string> out;
  for (auto& d : dirs)
    if (!d.empty() && fs::is_directory(d)) out.push_back(d);
  return out;
}

std::vector<ShippedRecipe> shipped_recipes() {
  std::vector<ShippedRecipe> out;
  std::set<std::string> seen;
  for (auto& dir : recipe_search_path())
    for (auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
      std::string name = e.path().stem().string();
      if (seen.insert(name).second) out.push_back({name, e.path().lexically_normal().string(), first_comment_line(e.path().string())});
    }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

ResolvedRecipe resolve_recipe(const std::string& arg) {
  if (fs::exists(arg)) return {arg, false};
  bool bare = !arg.empty() && !fs::path(arg).has_parent_path();
  auto all = shipped_recipes();
  std::string name = strip_yaml(arg);
  if (bare)
    for (auto& r : all)
      if (r.name == name) return {r.path, true};
  std::vector<std::string> names;
  for (auto& r : all) names.push_back(r.name);
  std::vector<std::string> close = close_matches(name, names);
  for (auto& n : names)  // also names that contain the word (resnet8 -> resnet8_binary, ...)
    if (name.size() >= 4 && n.find(fs::path(name).filename().string()) != std::string::npos &&
        std::find(close.begin(), close.end(), n) == close.end())
      close.push_back(n);
  std::string dirs;
  for (auto& d : recipe_search_path()) dirs += (dirs.empty() ? "" : ", ") + d;
  std::string msg = "recipe file '" + arg + "' does not exist";
  if (bare) msg += ", and no shipped recipe is called '" + name + "'" + (dirs.empty() ? "" : " (in " + dirs + ")");
  if (!close.empty()) {
    msg += "; did you mean ";
    for (size_t i = 0; i < close.size() && i < 5; ++i) msg += (i ? ", " : "") + std::string("'") + close[i] + "'";
    msg += "?";
  }
  throw InputError(msg + " (`compress recipes` lists the shipped recipes)");
}

}  // namespace mc::recipe
