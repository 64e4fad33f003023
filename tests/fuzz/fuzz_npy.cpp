// Fuzz target: the .npy reader (src/data/npy.h). Every file it accepts must write back (encode_npy)
// and read again to the same dtype, shape and bytes.
#include <ATen/ATen.h>

#include <cstring>

#include "data/npy.h"
#include "fuzz/fuzz_target.h"

namespace {

bool same_tensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor ca = a.contiguous(), cb = b.contiguous();
  size_t n = static_cast<size_t>(ca.numel()) * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

}  // namespace

MC_FUZZ_TARGET(npy) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  mc::fuzz::expect_errors([&] {
    at::Tensor t = mc::data::parse_npy(bytes, "fuzz.npy");
    if (!t.is_contiguous()) mc::fuzz::fail("parse_npy returned a non-contiguous tensor");
    at::Tensor again = mc::data::parse_npy(mc::data::encode_npy(t), "fuzz-roundtrip.npy");
    if (!same_tensor(t, again)) mc::fuzz::fail("encode_npy(parse_npy(x)) does not read back to the same tensor");
  });
  return 0;
}
