// Integrity checks of native checkpoints (.mcm): CRC-32 of tensors and text sections, and a check
// of the archive's metadata record (data.pkl) against the CRC-32 in the zip directory, done before
// LibTorch unpickles it (a damaged length field there would otherwise make the unpickler allocate
// whatever size it reads). Errors are InputErrors naming the file and the damaged part.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <iosfwd>
#include <string>

namespace mc::ir::checkpoint {

/// CRC-32 (zlib) of a tensor: its dtype, shape and contiguous CPU bytes.
uint32_t tensor_crc32(const at::Tensor& t);
/// CRC-32 (zlib) of a byte string.
uint32_t text_crc32(const std::string& s);

/// Opens `path` and checks that it is a zip archive whose `*/data.pkl` record lies inside the file
/// and matches the CRC-32 of its zip directory entry. Throws InputError: missing zip header,
/// truncated file, damaged directory or metadata record.
void check_archive(const std::string& path);
/// The same checks on an archive held in memory (a .mcz file's base section); `path` names it.
void check_archive_bytes(const std::string& bytes, const std::string& path);
/// The same checks on `size` bytes readable from `f`.
void check_archive_stream(std::istream& f, uint64_t size, const std::string& path);

/// InputError "checkpoint 'path' is damaged: <what>. <how to fix>".
[[noreturn]] void fail_damaged(const std::string& path, const std::string& what);

}  // namespace mc::ir::checkpoint
