// Reader for the idx format of MNIST-style datasets, gzip-compressed or raw (zlib detects which).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace mc::data {

/// Reads an idx file of unsigned bytes (type code 0x08), e.g. train-images-idx3-ubyte[.gz], into a
/// uint8 tensor shaped by the file's dimensions (N x H x W for images, N for labels).
/// The file may be gzip-compressed or raw. Throws InputError naming `path` when the file is
/// missing, not an idx file (bad magic), of an unsupported element type, truncated, or longer than
/// its header says.
at::Tensor read_idx(const std::string& path);

}  // namespace mc::data
