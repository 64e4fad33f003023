// Atomic output files: write to a temporary file beside the target, then rename.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>

namespace mc {

/// Calls `write(stream)` on a temporary file next to `path`, then renames it over `path`.
/// On any exception the temporary file is removed and nothing is left at `path`.
/// Throws InputError when the directory is not writable.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

/// Same, for producers that write a file by name themselves (e.g. torch::save).
void write_path_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

/// Reads a whole file; InputError naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace mc
