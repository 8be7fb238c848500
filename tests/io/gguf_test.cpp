#include "kernels/format.h"
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/half.h"
#include "support/tiny_checkpoint.h"
#include "io_test_util.h"

namespace sqz {
namespace {

using testing_io::read_bytes;
using testing_io::ScratchDir;
using testing_io::write_bytes;

// Hand-built GGUF bytes, for inputs the writer refuses to produce.
struct RawGguf {
  std::string s;
  template <typename T>
  RawGguf& put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  RawGguf& str(const std::string& v) {
    put<uint64_t>(v.size());
    s += v;
    return *this;
  }
  RawGguf& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return put<uint32_t>(0x46554747).put(version).put(n_tensors).put(n_kv);
  }
};

std::vector<float> iota_f32(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * (float)i - 1.0f;
  return v;
}

TEST(Gguf, RoundTripMetadataAndTensors) {
  ScratchDir dir;
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.set_u32("llama.block_count", 7);
  w.set_f32("llama.rope.freq_base", 500000.0f);
  w.set("i64", GgufValue{int64_t{-5}});
  w.set("u64", GgufValue{uint64_t{1} << 40});
  w.set("f64", GgufValue{0.125});
  w.set("flag", GgufValue{true});
  w.set_arr_str("tokens", {"<unk>", "hello", ""});
  w.set_arr_f32("scores", {0.5f, -1.0f});
  w.set_arr_i32("types", {1, 2, 3});
  w.set("nested", GgufValue{GgufValue::Array{GgufValue{GgufValue::Array{GgufValue{int64_t{1}}}},
                                             GgufValue{GgufValue::Array{}}}});
  w.set_u32("llama.block_count", 8);  // replaces the earlier value

  const std::vector<float> a = iota_f32(6, 0.5f);
  std::vector<uint16_t> b;
  for (float x : iota_f32(12, 0.25f)) b.push_back(f32_to_fp16(x));
  const kernels::Format& q8 = kernels::format("q8_0");
  const std::vector<float> qv = iota_f32(64, 0.01f);
  const std::vector<uint8_t> q = q8.encode(qv.data(), 2, 32, {}, nullptr)[0].bytes;
  const std::vector<uint8_t> bf = encode_f32(iota_f32(32, 0.5f), DType::BF16);
  const std::vector<float> last = iota_f32(32, 1.0f);  // 128 bytes: the file ends exactly at its end
  w.add_tensor("a", DType::F32, {2, 3}, a.data(), a.size() * 4);
  w.add_tensor("b", DType::F16, {4, 3}, b.data(), b.size() * 2);
  w.add_packed_tensor("q", q8, {2, 32}, q.data(), q.size());
  w.add_tensor("bf", DType::BF16, {32}, bf.data(), bf.size());
  w.add_tensor("last", DType::F32, {2, 4, 4}, last.data(), last.size() * 4);
  const std::string path = dir.file("t.gguf");
  w.write(path);

  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.find_meta("general.architecture")->as_string(), "llama");
  EXPECT_EQ(f.find_meta("llama.block_count")->as_int(), 8);
  EXPECT_TRUE(std::holds_alternative<uint64_t>(f.find_meta("llama.block_count")->v));
  EXPECT_EQ(f.find_meta("llama.rope.freq_base")->as_float(), 500000.0);
  EXPECT_EQ(f.find_meta("i64")->as_int(), -5);
  EXPECT_EQ(f.find_meta("u64")->as_int(), int64_t{1} << 40);
  EXPECT_EQ(f.find_meta("f64")->as_float(), 0.125);
  EXPECT_EQ(std::get<bool>(f.find_meta("flag")->v), true);
  const auto& toks = f.find_meta("tokens")->as_array();
  ASSERT_EQ(toks.size(), 3u);
  EXPECT_EQ(toks[1].as_string(), "hello");
  EXPECT_EQ(toks[2].as_string(), "");
  EXPECT_EQ(f.find_meta("scores")->as_array()[1].as_float(), -1.0);
  EXPECT_EQ(f.find_meta("types")->as_array()[2].as_int(), 3);
  const auto& nested = f.find_meta("nested")->as_array();
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].as_array()[0].as_int(), 1);
  EXPECT_TRUE(nested[1].as_array().empty());
  EXPECT_EQ(f.find_meta("missing"), nullptr);
  EXPECT_ERROR_CONTAINS(f.find_meta("tokens")->as_int(), "not an integer");

  ASSERT_EQ(f.tensors().size(), 5u);
  const TensorView& ta = f.tensors().at("a");
  EXPECT_EQ(ta.shape, (Shape{2, 3}));
  EXPECT_EQ(to_f32(ta), a);
  EXPECT_EQ((reinterpret_cast<uintptr_t>(ta.data) - reinterpret_cast<uintptr_t>(f.tensors().at("b").data)) % 32, 0u);
  const TensorView& tb = f.tensors().at("b");
  EXPECT_EQ(tb.dtype, DType::F16);
  EXPECT_EQ(tb.shape, (Shape{4, 3}));
  EXPECT_EQ(std::memcmp(tb.data, b.data(), 24), 0);
  const TensorView& tq = f.tensors().at("q");
  EXPECT_EQ(tq.packed_format, "q8_0");
  EXPECT_EQ(tq.shape, (Shape{2, 32}));
  EXPECT_EQ(tq.nbytes, 68u);
  EXPECT_EQ(std::memcmp(tq.data, q.data(), q.size()), 0);
  EXPECT_NEAR(kernels::tensor_to_f32(tq)[40], qv[40], 0.01f);
  EXPECT_EQ(f.tensors().at("bf").dtype, DType::BF16);
  EXPECT_EQ(to_f32(f.tensors().at("last")), last);
  EXPECT_EQ(f.tensors().at("last").shape, (Shape{2, 4, 4}));
  EXPECT_TRUE(f.unsupported_tensors().empty());

  // Dimensions are stored innermost first: "a" [2, 3] is ne = {3, 2}.
  const std::string bytes = read_bytes(path);
  const size_t at = bytes.find(std::string("\x01\0\0\0\0\0\0\0a", 9));
  ASSERT_NE(at, std::string::npos);
  uint64_t ne0, ne1;
  std::memcpy(&ne0, bytes.data() + at + 9 + 4, 8);
  std::memcpy(&ne1, bytes.data() + at + 9 + 12, 8);
  EXPECT_EQ(ne0, 3u);
  EXPECT_EQ(ne1, 2u);

  // Every truncation is an Error naming the file, never a crash.
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string cut = dir.file("cut.gguf");
    write_bytes(cut, bytes.substr(0, n));
    const std::string msg = testing_io::error_of([&] { GgufFile g(cut); });
    EXPECT_NE(msg.find(cut), std::string::npos) << "length " << n << ": " << msg;
  }
}

TEST(Gguf, ReadsVersion2BlockTypesAndKeepsUnknownTypesAside) {
  ScratchDir dir;
  RawGguf r;
  r.header(2, 3, 2);
  r.str("general.alignment").put<uint32_t>(kGgufU32).put<uint32_t>(64);
  r.str("small").put<uint32_t>(kGgufI8).put<int8_t>(-3);
  r.str("w").put<uint32_t>(1).put<uint64_t>(4).put<uint32_t>(kGgmlF32).put<uint64_t>(0);
  r.str("k4").put<uint32_t>(2).put<uint64_t>(256).put<uint64_t>(2).put<uint32_t>(12).put<uint64_t>(64);
  r.str("odd").put<uint32_t>(1).put<uint64_t>(32).put<uint32_t>(99).put<uint64_t>(384);
  r.s.append((64 - r.s.size() % 64) % 64, '\0');
  const float w[4] = {1, 2, 3, 4};
  r.s.append(reinterpret_cast<const char*>(w), 16);
  r.s.append(48 + 288 + 32, '\0');  // padding, then bytes standing in for the Q4_K data, padding, "odd"
  const std::string path = dir.file("v2.gguf");
  write_bytes(path, r.s);
  GgufFile f(path);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.find_meta("small")->as_int(), -3);
  EXPECT_EQ(to_f32(f.tensors().at("w")), (std::vector<float>{1, 2, 3, 4}));
  const TensorView& k4 = f.tensors().at("k4");
  EXPECT_EQ(k4.packed_format, "q4_k");
  EXPECT_EQ(k4.shape, (Shape{2, 256}));
  EXPECT_EQ(k4.nbytes, 288u);  // 2 rows of one 144-byte block
  EXPECT_EQ(f.tensors().count("odd"), 0u);
  EXPECT_EQ(f.unsupported_tensors().at("odd"), 99u);
}

TEST(Gguf, BadInputsNameTheFile) {
  ScratchDir dir;
  struct Case {
    const char* what;
    std::string bytes;
    const char* expect;
  };
  std::vector<Case> cases;
  cases.push_back({"magic", "GGML\3\0\0\0", "not a GGUF file"});
  cases.push_back({"version1", RawGguf().header(1, 0, 0).s, "version 1"});
  cases.push_back({"bad_type", RawGguf().header(3, 0, 1).str("k").put<uint32_t>(99).s, "unknown metadata value type 99"});
  cases.push_back({"bad_bool", RawGguf().header(3, 0, 1).str("k").put<uint32_t>(kGgufBool).put<uint8_t>(5).s, "not 0 or 1"});
  cases.push_back({"huge_array",
                   RawGguf().header(3, 0, 1).str("k").put<uint32_t>(kGgufArray).put<uint32_t>(kGgufU32).put<uint64_t>(1ull << 60).s,
                   "does not fit"});
  cases.push_back({"huge_string", RawGguf().header(3, 0, 1).str("k").put<uint32_t>(kGgufString).put<uint64_t>(1ull << 62).s,
                   "file ends inside"});
  RawGguf deep;
  deep.header(3, 0, 1).str("k").put<uint32_t>(kGgufArray);
  for (int i = 0; i < 20; ++i) deep.put<uint32_t>(kGgufArray).put<uint64_t>(1);
  cases.push_back({"deep", deep.s, "nested"});
  cases.push_back({"dup_key",
                   RawGguf().header(3, 0, 2).str("k").put<uint32_t>(kGgufU8).put<uint8_t>(1).str("k").put<uint32_t>(kGgufU8).put<uint8_t>(1).s,
                   "appears twice"});
  cases.push_back({"dims", RawGguf().header(3, 1, 0).str("t").put<uint32_t>(5).s, "dimensions"});
  RawGguf past;
  past.header(3, 1, 0).str("t").put<uint32_t>(1).put<uint64_t>(1000).put<uint32_t>(kGgmlF32).put<uint64_t>(0);
  past.s.append((32 - past.s.size() % 32) % 32, '\0');
  past.s.append(100, '\0');
  cases.push_back({"tensor_past_eof", past.s, "goes past the end"});
  RawGguf misaligned;
  misaligned.header(3, 1, 0).str("t").put<uint32_t>(1).put<uint64_t>(1).put<uint32_t>(kGgmlF32).put<uint64_t>(4);
  misaligned.s.append(64, '\0');
  cases.push_back({"misaligned", misaligned.s, "alignment"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file(std::string(c.what) + ".gguf");
    write_bytes(path, c.bytes);
    EXPECT_ERROR_CONTAINS(GgufFile f(path), path, c.expect);
  }
}

TEST(Gguf, WriterRejectsBadInput) {
  GgufWriter w;
  std::vector<int32_t> v(4);
  EXPECT_ERROR_CONTAINS(w.add_tensor("x", DType::I32, {4}, v.data(), 16), "x", "I32");
  EXPECT_ERROR_CONTAINS(w.add_tensor("x", DType::F32, {5}, v.data(), 16), "x", "20");
  w.set("k", GgufValue{int64_t{1}});
  w.set("k", GgufValue{int64_t{2}});
  ScratchDir dir;
  EXPECT_ERROR_CONTAINS(w.write(dir.file("x.gguf")), "k", "twice");
  GgufWriter w2;
  w2.set_typed("small", GgufValue{int64_t{300}}, kGgufU8);
  EXPECT_ERROR_CONTAINS(w2.write(dir.file("y.gguf")), "small", "does not fit");
}

}  // namespace
}  // namespace sqz
