#include "recipe/options.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "common/error.h"

namespace mc::recipe {

void Diagnostics::error(const Location& loc, const std::string& msg) {
  std::string where = loc.str();
  errors_.push_back(where.empty() ? msg : where + ": " + msg);
}

void Diagnostics::throw_if_any(const std::string& what) const {
  if (errors_.empty()) return;
  std::string msg = what + " (" + std::to_string(errors_.size()) + (errors_.size() == 1 ? " error" : " errors") + "):";
  for (auto& e : errors_) msg += "\n  " + e;
  throw InputError(msg);
}

std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& candidates) {
  auto dist = [](const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  std::vector<std::pair<size_t, std::string>> scored;
  for (auto& c : candidates) {
    size_t d = dist(word, c);
    if (d <= limit) scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [d, c] : scored) out.push_back(c);
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto m = close_matches(word, candidates);
  return m.empty() ? "" : m.front();
}

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    char b[64];
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
  }
  for (int p = 1; p <= 17; ++p) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*g", p, v);
    if (std::strtod(b, nullptr) == v) return b;
  }
  return std::to_string(v);
}

namespace {
// The YAML 1.2 spellings of infinity and not-a-number (strtod knows the C ones: nan, inf, infinity).
bool yaml_nonfinite(const std::string& s) {
  std::string t = s.empty() || (s[0] != '+' && s[0] != '-') ? s : s.substr(1);
  for (const char* w : {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"})
    if (t == w) return true;
  return false;
}
}  // namespace

std::string parse_number(const std::string& s, double* out) {
  if (s.empty()) return "a number";
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return yaml_nonfinite(s) ? "a finite number" : "a number";
  if (!std::isfinite(v)) return "a finite number";  // nan, inf, infinity, and overflow (1e999 -> inf)
  *out = v;
  return "";
}

namespace {
bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end != '\0') return false;
  *out = v;
  return true;
}
bool parse_double(const std::string& s, double* out) { return parse_number(s, out).empty(); }
bool parse_bool(const std::string& s, bool* out) {
  static const char* t[] = {"true", "True", "TRUE", "yes", "on"};
  static const char* f[] = {"false", "False", "FALSE", "no", "off"};
  for (auto x : t)
    if (s == x) return *out = true, true;
  for (auto x : f)
    if (s == x) return *out = false, true;
  return false;
}
std::string kind_name(const ConfigNode& n) {
  switch (n.kind()) {
    case ConfigNode::Kind::Null: return "nothing";
    case ConfigNode::Kind::Scalar: return "'" + n.value() + "'";
    case ConfigNode::Kind::Map: return "a mapping";
    case ConfigNode::Kind::Seq: return "a list";
  }
  return "?";
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
Reader::Reader(const ConfigNode* node, Diagnostics& diag, std::string context, std::string base_dir)
    : node_(node && !node->is_null() ? node : nullptr), diag_(diag), context_(std::move(context)), base_dir_(std::move(base_dir)) {
  if (node_ && !node_->is_map()) {
    diag_.error(node_->loc(), "'" + context_ + "' must be a mapping of options, got " + kind_name(*node_));
    node_ = nullptr;
  }
}

Reader::~Reader() {
  if (!finished_) finish();
}

const ConfigNode* Reader::get(const char* key, const Spec& s) {
  seen_.push_back(key);
  const ConfigNode* n = node_ ? node_->find(key) : nullptr;
  if ((!n || n->is_null()) && s.required) {
    diag_.error(node_ ? node_->loc() : Location{}, "'" + context_ + "' needs the key '" + key + "'");
    return nullptr;
  }
  if (n && n->is_null()) return nullptr;
  return n;
}

void Reader::check_number(const char* key, const ConfigNode& n, double v, const Spec& s) {
  if ((s.min && v < *s.min) || (s.max && v > *s.max)) {
    std::string range = s.min && s.max ? "between " + format_number(*s.min) + " and " + format_number(*s.max)
                        : s.min       ? "at least " + format_number(*s.min)
                                      : "at most " + format_number(*s.max);
    diag_.error(n.loc(), "'" + context_ + "." + key + "' = " + n.value() + " is out of range: must be " + range);
  }
}

void Reader::field(const char* key, int64_t& v, const char*, const Spec& s) {
  const ConfigNode* n = get(key, s);
  if (!n) return;
  int64_t x;
  if (!n->is_scalar() || !parse_int(n->value(), &x)) {
    diag_.error(n->loc(), "'" + context_ + "." + key + "' must be an integer, got " + kind_name(*n));
    return;
  }
  check_number(key, *n, static_cast<double>(x), s);
  v = x;
}

void Reader::field(const char* key, double& v, const char*, const Spec& s) {
  const ConfigNode* n = get(key, s);
  if (!n) return;
  double x;
  std::string why = n->is_scalar() ? parse_number(n->value(), &x) : "a number";
  if (!why.empty()) {
    diag_.error(n->loc(), "'" + context_ + "." + key + "' must be " + why + ", got " + kind_name(*n));
    return;
  }
  check_number(key, *n, x, s);
  v = x;
}

void Reader::field(const char* key, bool& v, const char*, const Spec& s) {
  const ConfigNode* n = get(key, s);
  if (!n) return;
  bool x;
  if (!n->is_scalar() || !parse_bool(n->value(), &x)) {
    diag_.error(n->loc(), "'" + context_ + "." + key + "' must be true or false, got " + kind_name(*n));
    return;
  }
  v = x;
}

void Reader::field(const char* key, std::string& v, const char*, const Spec& s) {
  const ConfigNode* n = get(key, s);
  if (!n) return;
  if (!n->is_scalar()) {
    diag_.error(n->loc(), "'" + context_ + "." + key + "' must be a string, got " + kind_name(*n));
    return;
  }
  if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), n->value()) == s.choices.end()) {
    std::string hint = did_you_mean(n->value(), s.choices);
    diag_.error(n->loc(), "'" + context_ + "." + key + "' = '" + n->value() + "' is not one of: " + join(s.choices) +
                              (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    return;
  }
  v = n->value();
  if (s.existing_path) {
    std::filesystem::path p(v);
    if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
    if (!std::filesystem::exists(p)) {
      diag_.error(n->loc(), "'" + context_ + "." + key + "': file '" + v + "' does not exist (looked for " + p.string() + ")");
      return;
    }
    v = p.lexically_normal().string();
  }
}

namespace {
template <typename T, typename P>
void read_list(const ConfigNode* n, std::vector<T>& v, Diagnostics& d, const std::string& what, const char* type, P parse) {
  std::vector<const ConfigNode*> items;
  if (n->is_scalar()) items.push_back(n);
  else if (n->is_seq())
    for (auto& i : n->items()) items.push_back(&i);
  else {
    d.error(n->loc(), "'" + what + "' must be a list of " + type + ", got " + kind_name(*n));
    return;
  }
  std::vector<T> out;
  for (auto* i : items) {
    T x{};
    if (!i->is_scalar() || !parse(i->value(), &x)) {
      d.error(i->loc(), "'" + what + "' must be a list of " + type + ", got " + kind_name(*i));
      return;
    }
    out.push_back(x);
  }
  v = std::move(out);
}
}  // namespace

void Reader::field(const char* key, std::vector<int64_t>& v, const char*, const Spec& s) {
  if (const ConfigNode* n = get(key, s)) read_list(n, v, diag_, context_ + "." + key, "integers", parse_int);
}
void Reader::field(const char* key, std::vector<double>& v, const char*, const Spec& s) {
  if (const ConfigNode* n = get(key, s)) read_list(n, v, diag_, context_ + "." + key, "finite numbers", parse_double);
}
void Reader::field(const char* key, std::vector<std::string>& v, const char*, const Spec& s) {
  if (const ConfigNode* n = get(key, s))
    read_list(n, v, diag_, context_ + "." + key, "strings", [](const std::string& x, std::string* o) {
      *o = x;
      return true;
    });
}
void Reader::field(const char* key, ConfigNode& v, const char*, const Spec& s) {
  if (const ConfigNode* n = get(key, s)) v = *n;
}

void Reader::section(const char* key, const std::function<void(Visitor&)>& body, const char*, bool* present) {
  seen_.push_back(key);
  const ConfigNode* n = node_ ? node_->find(key) : nullptr;
  if (present) *present = n != nullptr;
  Reader sub(n, diag_, context_.empty() ? key : context_ + "." + key, base_dir_);
  body(sub);
  sub.finish();
}

void Reader::finish() {
  finished_ = true;
  if (!node_) return;
  for (auto& [k, v] : node_->entries()) {
    if (std::find(seen_.begin(), seen_.end(), k) != seen_.end()) continue;
    std::string hint = did_you_mean(k, seen_);
    diag_.error(node_->key_loc(k), "unknown key '" + k + "' in '" + context_ + "'" +
                                       (hint.empty() ? " (known keys: " + join(seen_) + ")" : " (did you mean '" + hint + "'?)"));
  }
}

// ---------------------------------------------------------------------------------------------
void Describer::add(const char* key, const char* type, std::string dflt, const char* doc, const Spec& s) {
  OptionDoc d{prefix_ + key, type, std::move(dflt), doc, ""};
  if (!s.choices.empty()) d.constraint = "one of: " + join(s.choices);
  else if (s.min && s.max) d.constraint = format_number(*s.min) + " .. " + format_number(*s.max);
  else if (s.min) d.constraint = ">= " + format_number(*s.min);
  else if (s.max) d.constraint = "<= " + format_number(*s.max);
  if (s.required) d.constraint += d.constraint.empty() ? "required" : ", required";
  if (s.existing_path) d.constraint += d.constraint.empty() ? "existing path" : ", existing path";
  docs_.push_back(std::move(d));
}
void Describer::field(const char* k, int64_t& v, const char* doc, const Spec& s) { add(k, "int", std::to_string(v), doc, s); }
void Describer::field(const char* k, double& v, const char* doc, const Spec& s) { add(k, "float", format_number(v), doc, s); }
void Describer::field(const char* k, bool& v, const char* doc, const Spec& s) { add(k, "bool", v ? "true" : "false", doc, s); }
void Describer::field(const char* k, std::string& v, const char* doc, const Spec& s) { add(k, "string", v.empty() ? "\"\"" : v, doc, s); }
void Describer::field(const char* k, std::vector<int64_t>& v, const char* doc, const Spec& s) {
  std::string d = "[";
  for (size_t i = 0; i < v.size(); ++i) d += (i ? ", " : "") + std::to_string(v[i]);
  add(k, "int list", d + "]", doc, s);
}
void Describer::field(const char* k, std::vector<double>& v, const char* doc, const Spec& s) {
  std::string d = "[";
  for (size_t i = 0; i < v.size(); ++i) d += (i ? ", " : "") + format_number(v[i]);
  add(k, "float list", d + "]", doc, s);
}
void Describer::field(const char* k, std::vector<std::string>& v, const char* doc, const Spec& s) {
  add(k, "string list", "[" + join(v) + "]", doc, s);
}
void Describer::field(const char* k, ConfigNode&, const char* doc, const Spec& s) { add(k, "mapping", "{}", doc, s); }
void Describer::section(const char* key, const std::function<void(Visitor&)>& body, const char* doc, bool*) {
  Describer sub(prefix_ + key + ".");
  body(sub);
  docs_.push_back({prefix_ + key, "section", "", doc, ""});
  for (auto& d : sub.docs()) docs_.push_back(d);
}

// ---------------------------------------------------------------------------------------------
namespace {
ConfigNode sc(const std::string& s) { return ConfigNode::scalar(s, {}); }
template <typename T, typename F>
ConfigNode list(const std::vector<T>& v, F f) {
  ConfigNode n = ConfigNode::seq({});
  for (auto& x : v) n.push(sc(f(x)));
  return n;
}
}  // namespace
void Writer::field(const char* k, int64_t& v, const char*, const Spec&) { out_.set(k, sc(std::to_string(v)), {}); }
void Writer::field(const char* k, double& v, const char*, const Spec&) { out_.set(k, sc(format_number(v)), {}); }
void Writer::field(const char* k, bool& v, const char*, const Spec&) { out_.set(k, sc(v ? "true" : "false"), {}); }
void Writer::field(const char* k, std::string& v, const char*, const Spec&) {
  ConfigNode n = sc(v);
  n.set_quoted(v.empty());
  out_.set(k, n, {});
}
void Writer::field(const char* k, std::vector<int64_t>& v, const char*, const Spec&) {
  out_.set(k, list(v, [](int64_t x) { return std::to_string(x); }), {});
}
void Writer::field(const char* k, std::vector<double>& v, const char*, const Spec&) {
  out_.set(k, list(v, [](double x) { return format_number(x); }), {});
}
void Writer::field(const char* k, std::vector<std::string>& v, const char*, const Spec&) {
  out_.set(k, list(v, [](const std::string& x) { return x; }), {});
}
void Writer::field(const char* k, ConfigNode& v, const char*, const Spec&) {
  if (!v.is_null()) out_.set(k, v, {});
}
void Writer::section(const char* key, const std::function<void(Visitor&)>& body, const char*, bool*) {
  Writer sub;
  body(sub);
  out_.set(key, sub.result(), {});
}

}  // namespace mc::recipe
