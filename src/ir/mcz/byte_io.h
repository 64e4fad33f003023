// Little-endian byte writer and a bounds-checked reader for the .mcz archive. The reader never
// reads past its end and never sizes anything from a length it has not checked against the bytes
// that are left: every failure is a `false` the caller turns into a message naming the section.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace mc::ir::mcz {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    u32(b);
  }
  void bytes(const std::string& b) { out_ += b; }
  /// A u64 length, then the bytes.
  void blob(const std::string& b) {
    u64(b.size());
    out_ += b;
  }
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class ByteReader {
 public:
  ByteReader(const char* data, size_t size) : p_(data), left_(size) {}
  explicit ByteReader(const std::string& s) : ByteReader(s.data(), s.size()) {}
  size_t left() const { return left_; }
  bool u8(uint8_t& v) { return le(v, 1); }
  bool u16(uint16_t& v) { return le(v, 2); }
  bool u32(uint32_t& v) { return le(v, 4); }
  bool u64(uint64_t& v) { return le(v, 8); }
  bool f32(float& v) {
    uint32_t b;
    if (!u32(b)) return false;
    std::memcpy(&v, &b, 4);
    return true;
  }
  /// `n` raw bytes; false when fewer are left.
  bool bytes(uint64_t n, std::string& out) {
    if (n > left_) return false;
    out.assign(p_, static_cast<size_t>(n));
    skip(n);
    return true;
  }
  /// A u64 length (checked against what is left), then that many bytes.
  bool blob(std::string& out) {
    uint64_t n;
    return u64(n) && bytes(n, out);
  }
  const char* pos() const { return p_; }
  void skip(uint64_t n) {
    p_ += n;
    left_ -= static_cast<size_t>(n);
  }

 private:
  template <typename T>
  bool le(T& v, int n) {
    if (left_ < static_cast<size_t>(n)) return false;
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | static_cast<uint8_t>(p_[i]);
    v = static_cast<T>(x);
    skip(static_cast<uint64_t>(n));
    return true;
  }
  const char* p_;
  size_t left_;
};

}  // namespace mc::ir::mcz
