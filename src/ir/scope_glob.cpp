#include "ir/scope_glob.h"

#include <string_view>

namespace mc::ir {

namespace {

constexpr size_t npos = std::string_view::npos;

/// Index just past the `]` closing the class that starts at p[open] == '[', or npos when unclosed.
size_t class_end(std::string_view p, size_t open) {
  size_t i = open + 1;
  if (i < p.size() && p[i] == '!') ++i;
  if (i < p.size() && p[i] == ']') ++i;  // a leading ']' is a member
  for (; i < p.size(); ++i)
    if (p[i] == ']') return i + 1;
  return npos;
}

/// Whether c is in the class p[open, end) ("[abc]", "[a-z]", "[!a]").
bool in_class(std::string_view p, size_t open, size_t end, char c) {
  size_t i = open + 1;
  const bool negate = p[i] == '!';
  if (negate) ++i;
  bool found = false;
  for (const size_t last = end - 1; i < last; ++i) {
    if (i + 2 < last && p[i + 1] == '-') {  // a range; a '-' first or last is a member
      found = found || (p[i] <= c && c <= p[i + 2]);
      i += 2;
    } else {
      found = found || p[i] == c;
    }
  }
  return found != negate;
}

/// Matches one token of p at pi (not '*') against c; sets *next to the index after the token.
bool match_token(std::string_view p, size_t pi, char c, size_t* next) {
  if (p[pi] == '[') {
    const size_t end = class_end(p, pi);
    if (end != npos) {
      *next = end;
      return in_class(p, pi, end, c);
    }
  }
  *next = pi + 1;
  return p[pi] == '?' || p[pi] == c;
}

/// The whole of `s` against the whole of `p`. Every token but '*' takes one character, so
/// backtracking to the last '*' is enough (linear in practice, O(|p| |s|) at worst).
bool match_whole(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = npos, mark = 0, next = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = ++pi;
      mark = si;
    } else if (pi < p.size() && match_token(p, pi, s[si], &next)) {
      pi = next;
      ++si;
    } else if (star != npos) {
      pi = star;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace

bool scope_glob_match(const std::string& pattern, const std::string& scope) {
  const std::string_view s(scope);
  if (match_whole(pattern, s)) return true;
  for (size_t dot = s.find('.', 1); dot != npos; dot = s.find('.', dot + 1))  // prefixes: the scopes above
    if (match_whole(pattern, s.substr(0, dot))) return true;
  return false;
}

std::string scope_glob_problem(const std::string& pattern) {
  const std::string_view p(pattern);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '[') continue;
    const size_t end = class_end(p, i);
    if (end == npos)
      return "'[' at column " + std::to_string(i + 1) + " has no closing ']' (a class is [abc], [a-z] or [!a])";
    size_t k = p[i + 1] == '!' ? i + 2 : i + 1;
    for (const size_t last = end - 1; k < last; ++k) {
      if (k + 2 >= last || p[k + 1] != '-') continue;  // the same members as in_class()
      if (p[k] > p[k + 2]) return "the range '" + std::string(p.substr(k, 3)) + "' in '[' at column " +
                                  std::to_string(i + 1) + " is reversed (write [a-z], not [z-a])";
      k += 2;
    }
    i = end - 1;
  }
  return "";
}

}  // namespace mc::ir
