// IR text format: printer and parser that round-trip.
//
//   graph(%x: f32[1,3,8,8]) {
//     %w: f32[4,3,3,3] = param[name="conv.weight"]() @conv
//     %y: f32[1,4,8,8] = conv2d[groups=1,padding=[1,1]](%x, %w) @conv
//     return(%y)
//   }
//
// Types may be omitted in hand-written text; Model::infer_shapes() fills them in.
#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "ir/graph.h"

namespace mc::ir {

std::string Graph::to_string() const {
  std::ostringstream os;
  os << "graph(";
  for (size_t i = 0; i < inputs_.size(); ++i)
    os << (i ? ", " : "") << '%' << inputs_[i]->name() << ": " << type_str(inputs_[i]->type());
  os << ") {\n";
  count_visits(nodes_.size());
  for (auto& n : nodes_) {
    os << "  ";
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      Value* o = n->outputs()[i];
      os << (i ? ", " : "") << '%' << o->name();
      if (o->type().has_shape) os << ": " << type_str(o->type());
    }
    os << " = " << n->op();
    if (!n->attrs().all().empty()) {
      os << '[';
      bool first = true;
      for (auto& [k, v] : n->attrs().all()) {
        os << (first ? "" : ", ") << k << '=' << attr_str(v);
        first = false;
      }
      os << ']';
    }
    os << '(';
    for (size_t i = 0; i < n->inputs().size(); ++i) os << (i ? ", " : "") << '%' << n->inputs()[i]->name();
    os << ')';
    if (!n->scope().empty()) {
      bool plain = std::all_of(n->scope().begin(), n->scope().end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '/' || c == ':';
      });
      os << " @" << (plain ? n->scope() : attr_str(n->scope()));
    }
    os << '\n';
  }
  os << "  return(";
  for (size_t i = 0; i < outputs_.size(); ++i) os << (i ? ", " : "") << '%' << outputs_[i]->name();
  os << ")\n}\n";
  return os.str();
}

namespace {

class Parser {
 public:
  Parser(const std::string& text, const std::string& src) : s_(text), src_(src) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(src_ + ":" + std::to_string(line_) + ":" + std::to_string(col_) + ": " + what);
  }

  void skip_ws(bool newlines = true) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') adv();
      } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        adv();
      } else {
        break;
      }
    }
  }
  void adv() {
    if (s_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }
  bool peek(char c) {
    skip_ws();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool accept(char c) {
    if (peek(c)) {
      adv();
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'" + near());
  }
  std::string near() const {
    if (pos_ >= s_.size()) return " at end of input";
    return " near '" + s_.substr(pos_, 12) + "'";
  }
  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }
  std::string ident() {
    skip_ws();
    size_t b = pos_;
    while (pos_ < s_.size() && ident_char(s_[pos_])) adv();
    if (b == pos_) fail("expected a name" + near());
    return s_.substr(b, pos_ - b);
  }
  void keyword(const std::string& k) {
    std::string w = ident();
    if (w != k) fail("expected '" + k + "', found '" + w + "'");
  }

  TensorType type() {
    std::string d = ident();
    TensorType t;
    if (!parse_dtype(d, &t.dtype)) fail("unknown dtype '" + d + "' (use f32, f16, f64, i64, i32, i8, u8, bool)");
    expect('[');
    if (accept('?')) {
      expect(']');
      return t;
    }
    t.has_shape = true;
    if (accept(']')) return t;
    do {
      t.shape.push_back(integer());
    } while (accept(','));
    expect(']');
    return t;
  }

  int64_t integer() {
    skip_ws();
    size_t b = pos_;
    if (pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '+')) adv();
    size_t digits = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) adv();
    if (digits == pos_) fail("expected an integer" + near());
    std::string tok = s_.substr(b, pos_ - b);
    try {
      return std::stoll(tok);
    } catch (const std::out_of_range&) {
      fail("integer '" + tok + "' is out of range");
    }
  }

  // A number: int unless it has '.', 'e' or is nan/inf.
  Attr number(bool* is_float) {
    skip_ws();
    size_t b = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == '-' || s_[pos_] == '+'))
      adv();
    std::string tok = s_.substr(b, pos_ - b);
    if (tok.empty()) fail("expected a value" + near());
    bool f = tok.find_first_of(".eEn") != std::string::npos;  // nan, inf contain 'n'
    *is_float = f;
    try {
      size_t used = 0;
      if (f) {
        double d = std::stod(tok, &used);
        if (used == tok.size()) return d;
      } else {
        int64_t i = std::stoll(tok, &used);
        if (used == tok.size()) return i;
      }
    } catch (const std::exception&) {
    }
    fail("bad number '" + tok + "'");
  }

  Attr value() {
    skip_ws();
    if (accept('"')) {
      std::string out;
      while (pos_ < s_.size() && s_[pos_] != '"') {
        if (s_[pos_] == '\\') adv();
        if (pos_ >= s_.size()) break;
        out += s_[pos_];
        adv();
      }
      if (pos_ >= s_.size()) fail("unterminated string");
      adv();
      return out;
    }
    if (accept('[')) {
      std::vector<int64_t> ints;
      std::vector<double> floats;
      bool any_float = false;
      if (!accept(']')) {
        do {
          bool f = false;
          Attr a = number(&f);
          if (f) any_float = true;
          floats.push_back(f ? std::get<double>(a) : static_cast<double>(std::get<int64_t>(a)));
          if (!f) ints.push_back(std::get<int64_t>(a));
        } while (accept(','));
        expect(']');
      }
      if (any_float) return floats;
      return ints;
    }
    bool f = false;
    return number(&f);
  }

  Value* use(Graph& g) {
    expect('%');
    size_t l = line_, c = col_;
    std::string n = ident();
    auto it = names_.find(n);
    if (it == names_.end()) {
      line_ = l;
      col_ = c;
      fail("value '%" + n + "' is used before it is defined");
    }
    return it->second;
  }

  Graph parse() {
    Graph g;
    keyword("graph");
    expect('(');
    if (!accept(')')) {
      do {
        expect('%');
        std::string n = ident();
        expect(':');
        TensorType t = type();
        Value* v = g.add_input(n, t);
        if (v->name() != n) fail("graph input '%" + n + "' is defined twice");
        names_[n] = v;
      } while (accept(','));
      expect(')');
    }
    expect('{');
    for (;;) {
      skip_ws();
      size_t save_pos = pos_, save_line = line_, save_col = col_;
      if (peek('%')) {
        statement(g);
        continue;
      }
      std::string w = ident();
      if (w != "return") {
        pos_ = save_pos;
        line_ = save_line;
        col_ = save_col;
        fail("expected a statement ('%name = op(...)') or 'return', found '" + w + "'");
      }
      expect('(');
      std::vector<Value*> outs;
      if (!accept(')')) {
        do {
          outs.push_back(use(g));
        } while (accept(','));
        expect(')');
      }
      g.set_outputs(outs);
      expect('}');
      skip_ws();
      if (pos_ != s_.size()) fail("unexpected text after the graph");
      return g;
    }
  }

  void statement(Graph& g) {
    std::vector<std::pair<std::string, TensorType>> outs;
    do {
      expect('%');
      size_t l = line_, c = col_;
      std::string n = ident();
      if (names_.count(n)) {
        line_ = l;
        col_ = c;
        fail("value '%" + n + "' is defined twice (the IR is SSA)");
      }
      TensorType t;
      if (accept(':')) t = type();
      outs.emplace_back(n, t);
    } while (accept(','));
    expect('=');
    std::string op = ident();
    Attrs attrs;
    if (accept('[')) {
      if (!accept(']')) {
        do {
          std::string k = ident();
          expect('=');
          attrs.set(k, value());
        } while (accept(','));
        expect(']');
      }
    }
    expect('(');
    std::vector<Value*> ins;
    if (!accept(')')) {
      do {
        ins.push_back(use(g));
      } while (accept(','));
      expect(')');
    }
    std::string scope;
    skip_ws(false);
    if (pos_ < s_.size() && s_[pos_] == '@') {
      adv();
      if (pos_ < s_.size() && s_[pos_] == '"') {
        scope = std::get<std::string>(value());
      } else {
        size_t b = pos_;
        while (pos_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[pos_])) && s_[pos_] != '#') adv();
        scope = s_.substr(b, pos_ - b);
      }
    }
    std::vector<std::string> names;
    for (auto& o : outs) names.push_back(o.first);
    Node* n = g.add_node(op, ins, attrs, scope, outs.size(), names);
    for (size_t i = 0; i < outs.size(); ++i) {
      n->output(i)->set_type(outs[i].second);
      names_[outs[i].first] = n->output(i);
    }
  }

 private:
  const std::string& s_;
  std::string src_;
  size_t pos_ = 0;
  size_t line_ = 1, col_ = 1;
  std::unordered_map<std::string, Value*> names_;
};

}  // namespace

Graph Graph::parse(const std::string& text, const std::string& source_name) {
  Parser p(text, source_name);
  return p.parse();
}

}  // namespace mc::ir
