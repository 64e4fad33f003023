// The one glob syntax over module scopes ("layer1.0.conv1") that every recipe key selecting
// layers uses (prune, prune_channels, prune_blocks, sensitivity, quantize, low-rank, ...).
// User-facing description: README.md, "Selecting layers (scope globs)".
//
//   *        any run of characters, dots included ("layer3.*", "*conv1", "*")
//   ?        exactly one character
//   [abc]    one of the listed characters; [a-z] a range; [!a] any character but those listed
//            (a `]` right after `[` or `[!` is a member, as in POSIX: "[]x]")
//   other    itself; there is no escape character
//
// A pattern that matches a scope also matches every scope below it, at a `.` boundary: "layer1"
// matches "layer1" and "layer1.0.conv1" but not "layer10"; "layer1.0.conv1" matches the factor
// nodes "layer1.0.conv1.lr0" / ".lr1" a low-rank stage makes of that layer.
//
// Malformed patterns: a `[` without its closing `]`, or a reversed range ("[z-a]"), is an error
// where a recipe gives the glob (scope_glob_problem(), reported at file:line:col by
// pipeline::parse_scope_globs); the matcher itself, given one anyway, takes such a `[` literally.
#pragma once
#include <string>

namespace mc::ir {

/// True when `pattern` matches `scope` or a scope above it (see the header comment).
bool scope_glob_match(const std::string& pattern, const std::string& scope);

/// What is wrong with `pattern` ("'[' at column 3 has no closing ']'"), or "" when it is well-formed.
std::string scope_glob_problem(const std::string& pattern);

}  // namespace mc::ir
