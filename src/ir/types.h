// Tensor types of IR values: dtype and static shape.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc::ir {

enum class DType { f32, f16, f64, i64, i32, i8, u8, boolean };

using Shape = std::vector<int64_t>;

/// Type of a value: dtype and (when known) static shape. Dimension 0 of activations is the batch.
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;
  bool has_shape = false;

  TensorType() = default;
  TensorType(DType d, Shape s) : dtype(d), shape(std::move(s)), has_shape(true) {}
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const;
  bool operator==(const TensorType& o) const {
    return dtype == o.dtype && has_shape == o.has_shape && (!has_shape || shape == o.shape);
  }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};

std::string dtype_name(DType d);      // "f32"
bool parse_dtype(const std::string& s, DType* out);
std::string shape_str(const Shape& s);  // "[1,3,224,224]"
std::string type_str(const TensorType& t);  // "f32[1,3,224,224]" or "f32[?]"

}  // namespace mc::ir
