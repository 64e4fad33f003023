#include "ir/types.h"

#include <sstream>

namespace mc::ir {

int64_t TensorType::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {
const std::pair<DType, const char*> kDTypes[] = {
    {DType::f32, "f32"}, {DType::f16, "f16"}, {DType::f64, "f64"}, {DType::i64, "i64"},
    {DType::i32, "i32"}, {DType::i8, "i8"},   {DType::u8, "u8"},   {DType::boolean, "bool"}};
}

std::string dtype_name(DType d) {
  for (auto& [k, n] : kDTypes)
    if (k == d) return n;
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  for (auto& [k, n] : kDTypes)
    if (s == n) {
      *out = k;
      return true;
    }
  return false;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

std::string type_str(const TensorType& t) {
  return dtype_name(t.dtype) + (t.has_shape ? shape_str(t.shape) : std::string("[?]"));
}

}  // namespace mc::ir
