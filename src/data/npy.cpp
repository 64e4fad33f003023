#include "data/npy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.cpp assumes a little-endian host");

namespace mc::data {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // NumPy >= 1.24 pads the header so the data starts 64-aligned

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw InputError("cannot read NumPy file '" + name + "': " + what);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

struct Header {
  std::string descr;
  at::ScalarType dtype = at::kFloat;
  size_t itemsize = 4;
  bool fortran = false;
  std::vector<int64_t> shape;
  uint64_t numel = 1;
  uint64_t nbytes = 0;
  uint64_t data_offset = 0;
};

// Maps a dtype descr ('<f4', '|b1', ...) to a torch dtype, or explains why not.
void parse_descr(const std::string& name, Header& h) {
  const std::string& d = h.descr;
  const std::string fix_hint = " (convert before saving, e.g. np.save(path, a.astype('<f4')))";
  if (d.size() < 2) fail(name, "invalid dtype descr '" + d + "' in the header" + fix_hint);
  char order = d[0];
  size_t pos = 0;
  if (order == '<' || order == '>' || order == '|' || order == '=') pos = 1;
  else order = '=';
  char kind = d[pos];
  std::string size_s = d.substr(pos + 1);
  if (size_s.empty() || size_s.size() > 9 ||
      !std::all_of(size_s.begin(), size_s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (kind == 'O') fail(name, "object arrays (dtype 'O') are not supported" + fix_hint);
    fail(name, "unsupported dtype '" + d + "'; supported: f2 f4 f8 i1 i2 i4 i8 u1 b1" + fix_hint);
  }
  size_t size = std::stoul(size_s);
  struct Known { char kind; size_t size; at::ScalarType type; };
  static const Known known[] = {
      {'f', 2, at::kHalf}, {'f', 4, at::kFloat}, {'f', 8, at::kDouble}, {'i', 1, at::kChar},
      {'i', 2, at::kShort}, {'i', 4, at::kInt},   {'i', 8, at::kLong},   {'u', 1, at::kByte},
      {'b', 1, at::kBool},
  };
  const Known* hit = nullptr;
  for (const auto& k : known) {
    if (k.kind == kind && k.size == size) hit = &k;
  }
  if (!hit) {
    std::string why;
    if (kind == 'u') {
      fail(name, "unsupported dtype '" + d +
                     "': unsigned integers wider than 8 bits have no LibTorch dtype (save as signed, e.g. "
                     "np.save(path, a.astype('<i8')))");
    }
    if (kind == 'c') why = "complex arrays are not supported";
    else if (kind == 'O') why = "object arrays are not supported";
    else if (kind == 'U' || kind == 'S' || kind == 'a') why = "string arrays are not supported";
    else if (kind == 'M' || kind == 'm') why = "datetime arrays are not supported";
    else if (kind == 'V') why = "structured/void arrays are not supported";
    else why = "supported: f2 f4 f8 i1 i2 i4 i8 u1 b1";
    fail(name, "unsupported dtype '" + d + "': " + why + fix_hint);
  }
  if (size > 1 && order == '>') {
    fail(name, "big-endian dtype '" + d + "' is not supported; save it little-endian, e.g. np.save(path, a.astype('<" +
                   std::string(1, kind) + size_s + "'))");
  }
  if (size > 1 && order == '|') fail(name, "invalid dtype descr '" + d + "': '|' (no byte order) needs a 1-byte type");
  h.dtype = hit->type;
  h.itemsize = size;
}

// Minimal parser of the Python dict literal in the header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  void parse(Header& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    ws();
    expect('{');
    while (true) {
      ws();
      if (peek() == '}') { ++i_; break; }
      std::string key = string_lit();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (peek() == '[') bad("structured arrays (descr is a list of fields) are not supported; save a plain numeric array");
        if (peek() != '\'' && peek() != '"') bad("'descr' must be a string such as '<f4'");
        h.descr = string_lit();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (word("True")) h.fortran = true;
        else if (word("False")) h.fortran = false;
        else bad("'fortran_order' must be True or False");
        have_order = true;
      } else if (key == "shape") {
        h.shape = shape_tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + key + "' in the header (expected only 'descr', 'fortran_order', 'shape')");
      }
      ws();
      if (peek() == ',') { ++i_; continue; }
      if (peek() == '}') { ++i_; break; }
      bad("expected ',' or '}' after the value of '" + key + "'");
    }
    ws();
    if (i_ != s_.size()) bad("unexpected text after the header dictionary");
    if (!have_descr || !have_order || !have_shape) {
      std::string missing;
      if (!have_descr) missing += " 'descr'";
      if (!have_order) missing += " 'fortran_order'";
      if (!have_shape) missing += " 'shape'";
      bad("the header lacks" + missing);
    }
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail(name_, "malformed header: " + what + " (header text: " + preview() + "); re-save the file with numpy.save");
  }
  std::string preview() const {
    std::string p = s_.substr(0, 120);
    for (char& c : p) {
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    }
    return "\"" + p + (s_.size() > 120 ? "...\"" : "\"");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  bool word(const char* w) {
    size_t n = std::strlen(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  std::string string_lit() {
    char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted key or string");
    ++i_;
    size_t end = s_.find(q, i_);
    if (end == std::string::npos) bad("unterminated string");
    std::string out = s_.substr(i_, end - i_);
    i_ = end + 1;
    return out;
  }
  std::vector<int64_t> shape_tuple() {
    std::vector<int64_t> shape;
    char close = peek() == '(' ? ')' : peek() == '[' ? ']' : '\0';
    if (!close) bad("'shape' must be a tuple of non-negative integers such as (2, 3)");
    ++i_;
    while (true) {
      ws();
      if (peek() == close) { ++i_; break; }
      if (peek() == '-') bad("'shape' has a negative dimension");
      if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("'shape' must contain only non-negative integers");
      uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        v = v * 10 + static_cast<uint64_t>(peek() - '0');
        if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 16)) bad("'shape' has a dimension too large");
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 long suffix
      shape.push_back(static_cast<int64_t>(v));
      ws();
      if (peek() == ',') { ++i_; continue; }
      if (peek() == close) { ++i_; break; }
      bad("expected ',' or ')' in 'shape'");
    }
    return shape;
  }

  const std::string& s_;
  const std::string& name_;
  size_t i_ = 0;
};

// Reads and validates the preamble and header; leaves `in` at the first data byte.
// `total_size` is the size of the whole file/buffer in bytes.
Header read_header(std::istream& in, uint64_t total_size, const std::string& name) {
  char pre[12];
  const std::string fix = " (write it with numpy.save)";
  if (total_size < 10) {
    fail(name, "truncated header: the file is " + std::to_string(total_size) +
                   " bytes, a .npy header needs at least 10" + fix);
  }
  in.read(pre, 8);
  if (!in) fail(name, "read error in the header");
  if (std::memcmp(pre, kMagic, kMagicLen) != 0) {
    fail(name, "not a NumPy .npy file (the first 6 bytes are not \\x93NUMPY)" + fix);
  }
  int major = static_cast<unsigned char>(pre[6]);
  int minor = static_cast<unsigned char>(pre[7]);
  if (minor != 0 || major < 1 || major > 3) {
    fail(name, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                   " (supported: 1.0, 2.0, 3.0)");
  }
  size_t len_bytes = major == 1 ? 2 : 4;
  if (total_size < 8 + len_bytes) fail(name, "truncated header: the file ends inside the header length field" + fix);
  unsigned char lb[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(lb), static_cast<std::streamsize>(len_bytes));
  if (!in) fail(name, "read error in the header");
  uint64_t hlen = len_bytes == 2 ? (uint64_t(lb[0]) | uint64_t(lb[1]) << 8)
                                 : (uint64_t(lb[0]) | uint64_t(lb[1]) << 8 | uint64_t(lb[2]) << 16 | uint64_t(lb[3]) << 24);
  Header h;
  h.data_offset = 8 + len_bytes + hlen;
  if (h.data_offset > total_size) {
    fail(name, "truncated header: it declares " + std::to_string(hlen) + " header bytes but the file has only " +
                   std::to_string(total_size - 8 - len_bytes) + " after the preamble" + fix);
  }
  std::string text(hlen, '\0');
  in.read(text.data(), static_cast<std::streamsize>(hlen));
  if (!in) fail(name, "read error in the header");
  HeaderParser(text, name).parse(h);
  parse_descr(name, h);
  h.numel = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && h.numel > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d)) {
      fail(name, "bad shape " + shape_str(h.shape) + ": too many elements");
    }
    h.numel *= static_cast<uint64_t>(d);
  }
  h.nbytes = h.numel * h.itemsize;
  uint64_t avail = total_size - h.data_offset;
  if (avail < h.nbytes) {
    fail(name, "truncated data: shape " + shape_str(h.shape) + " of '" + h.descr + "' needs " +
                   std::to_string(h.nbytes) + " bytes but only " + std::to_string(avail) +
                   " follow the header (the file was cut short; write it again)");
  }
  if (avail > h.nbytes) {
    fail(name, std::to_string(avail - h.nbytes) + " unexpected bytes after the data of shape " + shape_str(h.shape) +
                   " of '" + h.descr + "' (the header's shape does not match the data; write the file again)");
  }
  return h;
}

at::Tensor read_body(std::istream& in, const Header& h, const std::string& name) {
  std::vector<int64_t> storage_shape = h.shape;
  if (h.fortran) storage_shape.assign(h.shape.rbegin(), h.shape.rend());
  at::ScalarType read_type = h.dtype == at::kBool ? at::kByte : h.dtype;
  at::Tensor t = at::empty(storage_shape, at::TensorOptions().dtype(read_type));
  if (h.nbytes > 0) {
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(h.nbytes));
    if (!in) fail(name, "read error in the array data (" + std::to_string(in.gcount()) + " of " +
                            std::to_string(h.nbytes) + " bytes read)");
  }
  if (h.dtype == at::kBool) t = t.ne(0);  // NumPy bools are bytes; anything nonzero is true
  if (h.fortran && h.shape.size() > 1) {
    std::vector<int64_t> perm(h.shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

std::string descr_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kShort: return "<i2";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kBool: return "|b1";
    default: return "";
  }
}

// The CPU, contiguous, plain-strided tensor to write; `path` only for messages.
at::Tensor prepare(const at::Tensor& tensor, const std::string& path) {
  if (!tensor.defined()) throw InputError("cannot write NumPy file '" + path + "': the tensor is undefined");
  if (tensor.is_quantized() || descr_of(tensor.scalar_type()).empty()) {
    throw InputError("cannot write NumPy file '" + path + "': dtype " + std::string(c10::toString(tensor.scalar_type())) +
                     " has no supported .npy equivalent (convert first, e.g. tensor.to(at::kFloat))");
  }
  at::Tensor t = tensor.detach();
  if (t.layout() != at::kStrided) t = t.to_dense();
  if (!t.device().is_cpu()) t = t.cpu();
  return t.resolve_conj().resolve_neg().contiguous();
}

std::string header_bytes(const at::Tensor& t) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  std::string dict = "{'descr': '" + descr_of(t.scalar_type()) + "', 'fortran_order': False, 'shape': " +
                     shape_str(shape) + ", }";
  // Version 1.0: magic(6) + version(2) + uint16 length; 2.0 when the header would not fit.
  size_t pre = 10;
  size_t padded = dict.size() + 1;  // + '\n'
  size_t total = ((pre + padded + kAlign - 1) / kAlign) * kAlign;
  int major = 1;
  if (total - pre > 65535) {
    pre = 12;
    total = ((pre + padded + kAlign - 1) / kAlign) * kAlign;
    major = 2;
  }
  size_t hlen = total - pre;
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < pre - 8; ++i) out += static_cast<char>((hlen >> (8 * i)) & 0xff);
  out += dict;
  out.append(hlen - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

}  // namespace

at::Tensor parse_npy(const std::string& bytes, const std::string& name) {
  std::istringstream in(bytes);
  Header h = read_header(in, bytes.size(), name);
  return read_body(in, h, name);
}

at::Tensor read_npy(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "it is a directory, not a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string(std::strerror(errno)) + " (check the path)");
  uint64_t size = fs::file_size(path, ec);
  if (ec) fail(path, ec.message());
  Header h = read_header(in, size, path);
  return read_body(in, h, path);
}

std::string encode_npy(const at::Tensor& tensor) {
  at::Tensor t = prepare(tensor, "<memory>");
  std::string out = header_bytes(t);
  if (t.numel() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  at::Tensor t = prepare(tensor, path);
  std::string head = header_bytes(t);
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    if (t.numel() > 0) {
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
  });
}

}  // namespace mc::data
