// Typed options, declared once per stage (or recipe section) in a `visit(Visitor&)` method.
// The same declaration drives parsing with range/choice/file checks and did-you-mean hints
// (Reader), the docs of `compress stages` (Describer) and the echo of the effective config (Writer).
//
//   struct Options {
//     int64_t epochs = 1;
//     OptimizerOptions optimizer;
//     void visit(Visitor& v) {
//       v.field("epochs", epochs, "passes over the training set", Spec::range(1, 10000));
//       v.section("optimizer", [&](Visitor& s) { optimizer.visit(s); }, "optimizer settings");
//     }
//   };
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "recipe/config_tree.h"

namespace mc::recipe {

/// Collects every recipe error so they are all reported together.
class Diagnostics {
 public:
  void error(const Location& loc, const std::string& msg);
  bool ok() const { return errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }
  /// Throws InputError listing every error (one per line) when there are any.
  void throw_if_any(const std::string& what = "invalid recipe") const;

 private:
  std::vector<std::string> errors_;
};

/// Checks for one field.
struct Spec {
  std::optional<double> min, max;
  std::vector<std::string> choices;
  bool existing_path = false;  // a file or directory that must exist (relative to the recipe)
  bool required = false;
  static Spec range(double lo, double hi) {
    Spec s;
    s.min = lo;
    s.max = hi;
    return s;
  }
  static Spec at_least(double lo) {
    Spec s;
    s.min = lo;
    return s;
  }
  static Spec one_of(std::vector<std::string> c) {
    Spec s;
    s.choices = std::move(c);
    return s;
  }
  static Spec path() {
    Spec s;
    s.existing_path = true;
    return s;
  }
  Spec& req() {
    required = true;
    return *this;
  }
};

class Visitor {
 public:
  virtual ~Visitor() = default;
  virtual void field(const char* key, int64_t& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, double& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, bool& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, std::string& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, std::vector<int64_t>& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, std::vector<double>& v, const char* doc, const Spec& s = {}) = 0;
  virtual void field(const char* key, std::vector<std::string>& v, const char* doc, const Spec& s = {}) = 0;
  /// A raw subtree that the owner interprets itself (e.g. per-layer overrides keyed by glob).
  virtual void field(const char* key, ConfigNode& v, const char* doc, const Spec& s = {}) = 0;
  /// A nested options struct. `present` (optional) is set to whether the key appeared.
  virtual void section(const char* key, const std::function<void(Visitor&)>& body, const char* doc,
                       bool* present = nullptr) = 0;
};

/// Parses a map node into options. Unknown keys become errors with a did-you-mean hint.
class Reader : public Visitor {
 public:
  /// `node` may be null (all defaults). `base_dir` resolves relative paths (recipe directory).
  Reader(const ConfigNode* node, Diagnostics& diag, std::string context, std::string base_dir = ".");
  ~Reader() override;
  void field(const char* key, int64_t& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, double& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, bool& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::string& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<int64_t>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<double>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<std::string>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, ConfigNode& v, const char* doc, const Spec& s = {}) override;
  void section(const char* key, const std::function<void(Visitor&)>& body, const char* doc, bool* present = nullptr) override;
  /// Reports keys no field asked for. Called by the destructor if not called before.
  void finish();

 private:
  const ConfigNode* get(const char* key, const Spec& s);
  void check_number(const char* key, const ConfigNode& n, double v, const Spec& s);
  const ConfigNode* node_;
  Diagnostics& diag_;
  std::string context_;
  std::string base_dir_;
  std::vector<std::string> seen_;
  bool finished_ = false;
};

/// One documented option, for `compress stages`.
struct OptionDoc {
  std::string key;  // dotted path within the stage
  std::string type;
  std::string default_value;
  std::string doc;
  std::string constraint;  // "1..10000", "one of: sgd, adamw"
};
class Describer : public Visitor {
 public:
  explicit Describer(std::string prefix = "") : prefix_(std::move(prefix)) {}
  void field(const char* key, int64_t& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, double& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, bool& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::string& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<int64_t>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<double>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<std::string>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, ConfigNode& v, const char* doc, const Spec& s = {}) override;
  void section(const char* key, const std::function<void(Visitor&)>& body, const char* doc, bool* present = nullptr) override;
  const std::vector<OptionDoc>& docs() const { return docs_; }

 private:
  void add(const char* key, const char* type, std::string dflt, const char* doc, const Spec& s);
  std::string prefix_;
  std::vector<OptionDoc> docs_;
};

/// Writes the effective values back into a ConfigNode map (for the run directory's recipe echo).
class Writer : public Visitor {
 public:
  void field(const char* key, int64_t& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, double& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, bool& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::string& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<int64_t>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<double>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, std::vector<std::string>& v, const char* doc, const Spec& s = {}) override;
  void field(const char* key, ConfigNode& v, const char* doc, const Spec& s = {}) override;
  void section(const char* key, const std::function<void(Visitor&)>& body, const char* doc, bool* present = nullptr) override;
  const ConfigNode& result() const { return out_; }

 private:
  ConfigNode out_ = ConfigNode::map({});
};

/// True when `v` is the Writer (the recipe echo): options whose keys are alternatives write only
/// the ones that were given, so that the echo validates again.
inline bool is_writer(Visitor& v) { return dynamic_cast<Writer*>(&v) != nullptr; }

/// Candidates within a small edit distance (max(2, |word| / 3)), closest first (ties: input order).
std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& candidates);
/// Closest candidate within that distance, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

/// Number formatting shared by writers/describers (shortest round-trip form).
std::string format_number(double v);

/// Parses a recipe number: decimal or exponent notation, finite only. Returns "" and sets `out`,
/// or why the text is refused ("a number" when it is none, "a finite number" for nan, inf, .inf,
/// 1e999 (overflow), ...): a NaN passes every range check (every comparison is false) and would
/// reach the technique as is.
std::string parse_number(const std::string& text, double* out);

}  // namespace mc::recipe
