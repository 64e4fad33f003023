// Tests of our .npy reader/writer: round trips, cross-checks against real NumPy (Debian's
// /usr/bin/python3), and malformed input.
#include "data/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "support/test_env.h"

namespace {

using mc::data::encode_npy;
using mc::data::parse_npy;
using mc::data::read_npy;
using mc::data::write_npy;
using mc::test::run_command;
using mc::test::TempDir;

const std::vector<at::ScalarType> kAllTypes = {at::kFloat, at::kDouble, at::kHalf, at::kLong, at::kInt,
                                               at::kShort, at::kChar,   at::kByte, at::kBool};

std::string descr(at::ScalarType t) {
  static const std::map<at::ScalarType, std::string> m = {
      {at::kFloat, "<f4"}, {at::kDouble, "<f8"}, {at::kHalf, "<f2"}, {at::kLong, "<i8"}, {at::kInt, "<i4"},
      {at::kShort, "<i2"}, {at::kChar, "|i1"},   {at::kByte, "|u1"}, {at::kBool, "|b1"}};
  return m.at(t);
}

std::vector<int64_t> shape_of_rank(int rank) {
  static const std::vector<int64_t> dims = {3, 4, 2, 5};
  return std::vector<int64_t>(dims.begin(), dims.begin() + rank);
}

at::Tensor sample(at::ScalarType t, const std::vector<int64_t>& shape) {
  at::Tensor x;
  switch (t) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf: x = at::randn(shape, at::kDouble) * 3; break;
    case at::kByte: x = at::randint(0, 256, shape, at::kLong); break;
    case at::kChar: x = at::randint(-128, 128, shape, at::kLong); break;
    case at::kBool: x = at::randint(0, 2, shape, at::kLong); break;
    case at::kShort: x = at::randint(-30000, 30000, shape, at::kLong); break;
    case at::kInt: x = at::randint(-2000000000LL, 2000000000LL, shape, at::kLong); break;
    default: x = at::randint(-(1LL << 62), 1LL << 62, shape, at::kLong); break;
  }
  return x.to(t);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A hand-made .npy: preamble for `major`.0, the given header text (padded, '\n'), then data.
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict;
  size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = std::string("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < pre - 8; ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
  return out + h + data;
}

// Runs fn, expects mc::InputError whose message contains every string in `needles`.
template <class F>
void expect_input_error(F fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected mc::InputError mentioning '" << needles.front() << "'";
  } catch (const mc::InputError& e) {
    std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    EXPECT_EQ(e.exit_code(), 2);
  }
}

// Writes `code` to DIR/<name> and runs it with Debian's python3 and DIR as argv[1].
mc::test::RunResult run_python(const TempDir& dir, const std::string& name, const std::string& code) {
  std::string script = dir.file(name);
  write_bytes(script, code);
  return run_command("/usr/bin/python3 " + script + " " + dir.path());
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(Npy, RoundTripEveryDtypeAndRank) {
  TempDir dir;
  for (at::ScalarType t : kAllTypes) {
    for (int rank = 0; rank <= 4; ++rank) {
      SCOPED_TRACE(descr(t) + " rank " + std::to_string(rank));
      at::Tensor x = sample(t, shape_of_rank(rank));
      std::string path = dir.file("rt.npy");
      write_npy(path, x);
      at::Tensor y = read_npy(path);
      EXPECT_EQ(y.scalar_type(), t);
      EXPECT_EQ(y.sizes(), x.sizes());
      EXPECT_TRUE(y.is_contiguous());
      EXPECT_TRUE(at::equal(x, y));
      // In-memory variants agree with the file.
      EXPECT_EQ(encode_npy(x), mc::read_file(path));
      EXPECT_TRUE(at::equal(parse_npy(encode_npy(x), "mem"), x));
    }
  }
}

TEST(Npy, RoundTripEmptyAndNonContiguous) {
  TempDir dir;
  at::Tensor empty = at::zeros({0, 3}, at::kFloat);
  write_npy(dir.file("e.npy"), empty);
  at::Tensor e = read_npy(dir.file("e.npy"));
  EXPECT_EQ(e.sizes(), empty.sizes());

  at::Tensor base = at::arange(24, at::kFloat).reshape({2, 3, 4});
  at::Tensor view = base.permute({2, 0, 1});  // not contiguous
  write_npy(dir.file("v.npy"), view);
  at::Tensor v = read_npy(dir.file("v.npy"));
  EXPECT_EQ(v.sizes(), view.sizes());
  EXPECT_TRUE(at::equal(v, view.contiguous()));

  at::Tensor sliced = base.select(2, 1);
  write_npy(dir.file("s.npy"), sliced);
  EXPECT_TRUE(at::equal(read_npy(dir.file("s.npy")), sliced.contiguous()));

  // requires_grad tensors are detached, not rejected.
  at::Tensor g = at::ones({2}, at::kFloat).set_requires_grad(true);
  write_npy(dir.file("g.npy"), g);
  EXPECT_TRUE(at::equal(read_npy(dir.file("g.npy")), at::ones({2}, at::kFloat)));
}

TEST(Npy, HeaderIsVersion1AlignedAndCOrder) {
  std::string bytes = encode_npy(at::zeros({2, 3}, at::kFloat));
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY", 6));
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  size_t hlen = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + hlen + 6 * 4);
  std::string header = bytes.substr(10, hlen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos) << header;
  EXPECT_EQ(header.back(), '\n');

  EXPECT_NE(encode_npy(at::zeros({7}, at::kLong)).find("'descr': '<i8'"), std::string::npos);
  EXPECT_NE(encode_npy(at::zeros({7}, at::kLong)).find("'shape': (7,)"), std::string::npos);
  EXPECT_NE(encode_npy(at::zeros({}, at::kBool)).find("'shape': ()"), std::string::npos);
}

TEST(Npy, ToleratesHeaderVariants) {
  // Double quotes, no trailing comma, key order, Python 2 'L' suffixes, list shape, version 3.0.
  std::string data(6 * 4, '\0');
  for (const std::string& dict :
       {std::string("{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"),
        std::string("{'descr':'<f4','fortran_order':False,'shape':[2,3]}")}) {
    SCOPED_TRACE(dict);
    at::Tensor t = parse_npy(make_npy(dict, data), "variant.npy");
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  }
  at::Tensor t3 = parse_npy(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", data, 3), "v3.npy");
  EXPECT_EQ(t3.scalar_type(), at::kInt);
  // Bools stored as nonzero bytes other than 1 are still true.
  at::Tensor b = parse_npy(make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\0\x01\x05", 3)),
                           "b.npy");
  EXPECT_TRUE(at::equal(b, at::tensor({0, 1, 1}).to(at::kBool)));
}

// ---------------------------------------------------------------------------------------------
// Cross-checks with real NumPy

// NumPy writes C-order and Fortran-order files, versions 1.0/2.0/3.0; we read them.
TEST(NpyNumpy, ReadsFilesWrittenByNumpy) {
  ASSERT_TRUE(mc::test::python_oracle("numpy"));
  TempDir dir;
  auto r = run_python(dir, "w.py", R"PY(
import sys, numpy as np
d = sys.argv[1]
def values(dt, n):
    if dt == '|b1': return np.arange(n) % 3 == 0
    if dt == '|u1': return (np.arange(n) * 7 % 256).astype(dt)
    if dt[1] == 'f': return ((np.arange(n) - 5) / 4).astype(dt)
    return (np.arange(n) % 11 - 3).astype(dt)
for dt in ['<f4', '<f8', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '|b1']:
    tag = dt[1:]
    a = values(dt, 120).reshape(2, 3, 4, 5)
    np.save('%s/c_%s.npy' % (d, tag), a)
    f = np.asfortranarray(a)
    assert f.flags.f_contiguous and not f.flags.c_contiguous
    np.save('%s/f_%s.npy' % (d, tag), f)
    np.save('%s/f2d_%s.npy' % (d, tag), np.asfortranarray(values(dt, 12).reshape(3, 4)))
    np.save('%s/s_%s.npy' % (d, tag), values(dt, 1).reshape(()))
    for v in [(2, 0), (3, 0)]:
        with open('%s/v%d_%s.npy' % (d, v[0], tag), 'wb') as fh:
            np.lib.format.write_array(fh, a, version=v)
    with open('%s/v2f_%s.npy' % (d, tag), 'wb') as fh:
        np.lib.format.write_array(fh, f, version=(2, 0))
np.save(d + '/empty.npy', np.zeros((0, 3), '<f4'))
np.save(d + '/scalar.npy', np.float32(3.5))
print('ok')
)PY");
  ASSERT_EQ(r.exit_code, 0) << r.out;

  auto expected = [](at::ScalarType t, int64_t n) {
    at::Tensor i = at::arange(n, at::kLong);
    if (t == at::kBool) return i.remainder(3).eq(0);
    if (t == at::kByte) return (i * 7).remainder(256).to(t);
    if (at::isFloatingType(t)) return ((i.to(at::kDouble) - 5) / 4).to(t);
    return (i.remainder(11) - 3).to(t);
  };
  for (at::ScalarType t : kAllTypes) {
    std::string tag = descr(t).substr(1);
    SCOPED_TRACE(tag);
    at::Tensor want = expected(t, 120).reshape({2, 3, 4, 5});
    for (const std::string& prefix : {"c_", "f_", "v2_", "v3_", "v2f_"}) {
      SCOPED_TRACE(prefix);
      at::Tensor got = read_npy(dir.file(prefix + tag + ".npy"));
      EXPECT_EQ(got.scalar_type(), t);
      EXPECT_TRUE(got.is_contiguous());
      EXPECT_TRUE(at::equal(got, want));
    }
    EXPECT_TRUE(at::equal(read_npy(dir.file("f2d_" + tag + ".npy")), expected(t, 12).reshape({3, 4})));
    at::Tensor s = read_npy(dir.file("s_" + tag + ".npy"));
    EXPECT_EQ(s.dim(), 0);
    EXPECT_TRUE(at::equal(s, expected(t, 1).reshape({})));
  }
  EXPECT_EQ(read_npy(dir.file("empty.npy")).sizes(), (std::vector<int64_t>{0, 3}));
  at::Tensor sc = read_npy(dir.file("scalar.npy"));
  EXPECT_EQ(sc.dim(), 0);
  EXPECT_EQ(sc.item<float>(), 3.5f);
}

// We write; NumPy reads and prints dtype, shape and two checksums, which we compare.
TEST(NpyNumpy, NumpyReadsFilesWeWrite) {
  ASSERT_TRUE(mc::test::python_oracle("numpy"));
  TempDir dir;
  struct Case { std::string file; at::Tensor t; };
  std::vector<Case> cases;
  for (at::ScalarType t : kAllTypes) {
    for (int rank = 0; rank <= 4; ++rank) {
      std::string file = "w_" + descr(t).substr(1) + "_r" + std::to_string(rank) + ".npy";
      cases.push_back({file, sample(t, shape_of_rank(rank))});
    }
  }
  cases.push_back({"w_empty.npy", at::zeros({2, 0, 3}, at::kFloat)});
  cases.push_back({"w_perm.npy", at::arange(60, at::kFloat).reshape({3, 4, 5}).permute({2, 0, 1})});
  for (const auto& c : cases) write_npy(dir.file(c.file), c.t);

  auto r = run_python(dir, "r.py", R"PY(
import sys, os, numpy as np
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not name.endswith('.npy'): continue
    a = np.load(os.path.join(d, name), allow_pickle=False)
    v = a.astype(np.float64).ravel()
    w = (np.arange(v.size) % 7 + 1).astype(np.float64)
    print(name, a.dtype.str, 'C' if a.flags.c_contiguous else 'F',
          'x'.join(str(s) for s in a.shape) or '-', repr(float(v.sum())), repr(float((v * w).sum())))
)PY");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::map<std::string, std::vector<std::string>> lines;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, dt, order, shape, s1, s2;
    ls >> name >> dt >> order >> shape >> s1 >> s2;
    lines[name] = {dt, order, shape, s1, s2};
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    ASSERT_TRUE(lines.count(c.file)) << r.out;
    const auto& f = lines[c.file];
    EXPECT_EQ(f[0], descr(c.t.scalar_type()));
    EXPECT_EQ(f[1], "C");
    std::string shape;
    for (int64_t s : c.t.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(s);
    EXPECT_EQ(f[2], shape.empty() ? "-" : shape);
    at::Tensor v = c.t.contiguous().to(at::kDouble).flatten();
    at::Tensor w = at::arange(v.numel(), at::kLong).remainder(7).add(1).to(at::kDouble);
    double s1 = v.sum().item<double>(), s2 = (v * w).sum().item<double>();
    double scale = v.abs().sum().item<double>() * 8 + 1;
    EXPECT_NEAR(std::stod(f[3]), s1, scale * 1e-12);
    EXPECT_NEAR(std::stod(f[4]), s2, scale * 1e-12);
  }
}

// NumPy-written files we do not support give InputError with a useful message.
TEST(NpyNumpy, UnsupportedNumpyDtypes) {
  ASSERT_TRUE(mc::test::python_oracle("numpy"));
  TempDir dir;
  auto r = run_python(dir, "u.py", R"PY(
import sys, numpy as np
d = sys.argv[1]
np.save(d + '/big.npy', np.arange(6, dtype='>f4'))
np.save(d + '/obj.npy', np.array([1, 'a', None], dtype=object), allow_pickle=True)
np.save(d + '/rec.npy', np.zeros(3, dtype=[('x', '<f4'), ('y', '<i4')]))
np.save(d + '/u16.npy', np.zeros(3, dtype='<u2'))
np.save(d + '/c64.npy', np.zeros(3, dtype='<c8'))
np.save(d + '/str.npy', np.array(['ab', 'c']))
)PY");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_input_error([&] { read_npy(dir.file("big.npy")); }, {dir.file("big.npy"), "big-endian", "'>f4'", "astype('<f4')"});
  expect_input_error([&] { read_npy(dir.file("obj.npy")); }, {dir.file("obj.npy"), "object arrays"});
  expect_input_error([&] { read_npy(dir.file("rec.npy")); }, {dir.file("rec.npy"), "structured"});
  expect_input_error([&] { read_npy(dir.file("u16.npy")); }, {dir.file("u16.npy"), "'<u2'", "unsigned"});
  expect_input_error([&] { read_npy(dir.file("c64.npy")); }, {dir.file("c64.npy"), "complex"});
  expect_input_error([&] { read_npy(dir.file("str.npy")); }, {dir.file("str.npy"), "string"});
}

// ---------------------------------------------------------------------------------------------
// Malformed input

TEST(NpyErrors, MissingFileAndDirectory) {
  TempDir dir;
  expect_input_error([&] { read_npy(dir.file("nope.npy")); }, {dir.file("nope.npy"), "No such file"});
  expect_input_error([&] { read_npy(dir.path()); }, {dir.path(), "directory"});
}

TEST(NpyErrors, BadMagicAndVersion) {
  TempDir dir;
  std::string p = dir.file("bad.npy");
  write_bytes(p, "PK\x03\x04 this is a zip file, not npy at all.......");
  expect_input_error([&] { read_npy(p); }, {p, "not a NumPy .npy file", "numpy.save"});
  std::string v = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
  v[6] = 4;
  write_bytes(p, v);
  expect_input_error([&] { read_npy(p); }, {p, "version 4.0"});
}

TEST(NpyErrors, TruncatedHeaderAndData) {
  TempDir dir;
  std::string good = encode_npy(at::arange(12, at::kFloat).reshape({3, 4}));
  std::string p = dir.file("t.npy");
  write_bytes(p, good.substr(0, 5));
  expect_input_error([&] { read_npy(p); }, {p, "truncated header"});
  write_bytes(p, good.substr(0, 40));
  expect_input_error([&] { read_npy(p); }, {p, "truncated header"});
  write_bytes(p, good.substr(0, good.size() - 5));
  expect_input_error([&] { read_npy(p); }, {p, "truncated data", "(3, 4)", "48 bytes", "43"});
  write_bytes(p, good + "junk");
  expect_input_error([&] { read_npy(p); }, {p, "4 unexpected bytes"});
  write_bytes(p, std::string());
  expect_input_error([&] { read_npy(p); }, {p, "truncated header", "0 bytes"});
}

TEST(NpyErrors, MalformedHeaders) {
  struct Case { std::string dict; std::string data; std::string needle; };
  std::vector<Case> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", "", "negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "", "non-negative integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 6, }", "", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, }", "", "lacks 'shape'"},
      {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }", "", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "", "unexpected key 'extra'"},
      {"not a dict", "", "malformed header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "", "expected ',' or '}'"},
      {"{'descr': 'zz', 'fortran_order': False, 'shape': (1,), }", "", "unsupported dtype 'zz'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", "",
       "too"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dict);
    expect_input_error([&] { parse_npy(make_npy(c.dict, c.data), "m.npy"); }, {"'m.npy'", c.needle});
  }
}

TEST(NpyErrors, WriteErrors) {
  TempDir dir;
  std::string p = dir.file("no/such/dir/x.npy");
  expect_input_error([&] { write_npy(p, at::zeros({2})); }, {p, "does not exist"});
  std::string q = dir.file("bf16.npy");
  expect_input_error([&] { write_npy(q, at::zeros({2}, at::kBFloat16)); }, {q, "BFloat16", "at::kFloat"});
  expect_input_error([&] { write_npy(q, at::Tensor()); }, {q, "undefined"});
  // A failed write leaves nothing behind.
  EXPECT_FALSE(std::ifstream(q).good());
}

}  // namespace
