// NumPy .npy files: a small reader and writer of our own (no Python, no cnpy).
//
// Reading: format versions 1.0, 2.0 and 3.0; little-endian (or byte-order-free) dtypes
//   f2 f4 f8 (half, float, double), i1 i2 i4 i8, u1, b1 (bool); any rank including 0-d;
//   C order, or fortran_order True (the result is always a contiguous C-order tensor).
// Writing: version 1.0 (2.0 only if the header would not fit), C order, the tensor's own
//   dtype (float32 -> '<f4', int64 -> '<i8', bool -> '|b1', ...), atomically.
// Every malformed or unsupported input throws mc::InputError naming the file and the problem.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace mc::data {

/// Reads a .npy file into a contiguous CPU tensor of the matching dtype.
/// Throws mc::InputError when the file is missing, truncated, malformed or of an unsupported
/// dtype (big-endian, unsigned wider than 8 bits, complex, object, structured).
at::Tensor read_npy(const std::string& path);

/// Parses .npy bytes held in memory; `name` is used in error messages (e.g. the file path).
at::Tensor parse_npy(const std::string& bytes, const std::string& name);

/// Writes `tensor` (any device, any layout; detached and made contiguous) as a .npy file,
/// atomically (temporary file + rename). Throws mc::InputError for dtypes NumPy cannot hold
/// (bfloat16, complex, quantized) or when `path` cannot be written.
void write_npy(const std::string& path, const at::Tensor& tensor);

/// The bytes write_npy would write.
std::string encode_npy(const at::Tensor& tensor);

}  // namespace mc::data
