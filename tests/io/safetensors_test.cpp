#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "io_test_util.h"

namespace sqz {
namespace {

using testing_io::read_bytes;
using testing_io::ScratchDir;
using testing_io::write_bytes;

// A safetensors file with a hand-written header and `data_bytes` bytes of data.
std::string raw_file(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(s.data(), &n, 8);
  return s + header + std::string(data_bytes, '\x01');
}

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  ScratchDir dir;
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 0.125f, -7.0f};  // exact in fp16 and bf16
  std::vector<uint16_t> f16, bf16;
  for (float x : f32) f16.push_back(f32_to_fp16(x)), bf16.push_back(f32_to_bf16(x));
  const std::vector<int32_t> i32 = {-1, 2, 1 << 30};
  const std::vector<uint8_t> u8 = {0, 7, 255, 3, 9, 1, 2, 8};

  SafetensorsWriter w;
  w.add_f32("w.f32", {2, 3}, f32);
  w.add("w.u8", DType::U8, {2, 4}, u8.data(), u8.size());
  w.add("w.f16", DType::F16, {3, 2}, f16.data(), f16.size() * 2);
  w.add("w.bf16", DType::BF16, {6}, bf16.data(), bf16.size() * 2);
  w.add("w.i32", DType::I32, {1, 3}, i32.data(), i32.size() * 4);
  w.add("empty", DType::F32, {0, 4}, nullptr, 0);
  w.set_metadata("format", "pt");
  w.set_metadata("sqz", "test");
  EXPECT_EQ(w.data_bytes(), 24u + 8 + 12 + 12 + 12);
  const std::string path = dir.file("t.safetensors");
  w.write(path);

  // Data starts 8-aligned, and tensors are laid out by decreasing element size so each is aligned to
  // its own element size.
  const std::string bytes = read_bytes(path);
  uint64_t hlen;
  std::memcpy(&hlen, bytes.data(), 8);
  EXPECT_EQ((8 + hlen) % 8, 0u);
  const std::string header = bytes.substr(8, hlen);
  EXPECT_LT(header.find("w.i32"), header.find("w.f16"));
  EXPECT_LT(header.find("w.f16"), header.find("w.u8"));
  EXPECT_LT(header.find("w.bf16"), header.find("w.u8"));
  EXPECT_EQ(bytes.size(), 8 + hlen + w.data_bytes());

  SafetensorsFile f(path);
  EXPECT_EQ(f.tensors().size(), 6u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("sqz"), "test");
  auto check = [&](const char* name, DType dt, Shape shape, const void* data, size_t n) {
    const TensorView* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, dt) << name;
    EXPECT_EQ(t->shape, shape) << name;
    ASSERT_EQ(t->nbytes, n) << name;
    EXPECT_EQ(std::memcmp(t->data, data, n), 0) << name;
    EXPECT_EQ(t->source, path);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % std::max<size_t>(dtype_size(dt), 1), 0u) << name;
  };
  check("w.f32", DType::F32, {2, 3}, f32.data(), 24);
  check("w.u8", DType::U8, {2, 4}, u8.data(), 8);
  check("w.f16", DType::F16, {3, 2}, f16.data(), 12);
  check("w.bf16", DType::BF16, {6}, bf16.data(), 12);
  check("w.i32", DType::I32, {1, 3}, i32.data(), 12);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(to_f32(*f.find("w.f16")), f32);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.file_size(), bytes.size());
}

TEST(Safetensors, WriterRejectsWrongSizeAndDuplicates) {
  SafetensorsWriter w;
  std::vector<float> v(4);
  EXPECT_ERROR_CONTAINS(w.add("a", DType::F32, {5}, v.data(), 16), "a", "20");
  w.add_f32("a", {4}, v);
  EXPECT_ERROR_CONTAINS(w.add_f32("a", {4}, v), "twice");
}

struct BadCase {
  const char* what;
  std::string file;
  std::vector<std::string> expect;  // substrings of the message besides the path
};

TEST(Safetensors, BadInputsNameFileAndProblem) {
  ScratchDir dir;
  std::string huge_len(8, '\0');
  const uint64_t big = 1000;
  std::memcpy(huge_len.data(), &big, 8);
  const std::vector<BadCase> cases = {
      {"empty", "", {"too short"}},
      {"seven_bytes", std::string(7, '\0'), {"too short"}},
      {"len_past_eof", huge_len + "{}", {"header length 1000", "past the end"}},
      {"bad_json", raw_file("{\"a\": [1, 2", 0), {"not valid JSON"}},
      {"not_object", raw_file("[1, 2]", 0), {"not a JSON object"}},
      {"unknown_dtype", raw_file(R"({"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
       {"unknown dtype \"F8_E4M3\"", "(tensor x)"}},
      {"offsets_one_int", raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       {"data_offsets", "two integers", "(tensor x)"}},
      {"offsets_not_int", raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}})", 4),
       {"data_offsets", "(tensor x)"}},
      {"offsets_reversed", raw_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
       {"end before they begin", "(tensor x)"}},
      {"offsets_past_eof", raw_file(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       {"past the end", "(tensor x)"}},
      {"size_mismatch", raw_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       {"needs 12", "(tensor x)"}},
      {"negative_dim", raw_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       {"shape", "(tensor x)"}},
      {"overlap",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
       {"overlap", "(tensor b)"}},
      {"bad_metadata", raw_file(R"({"__metadata__":{"k":1}})", 0), {"__metadata__"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file(std::string(c.what) + ".safetensors");
    write_bytes(path, c.file);
    std::vector<std::string> expect = c.expect;
    expect.push_back(path);
    const std::string msg = testing_io::error_of([&] { SafetensorsFile f(path); });
    for (const auto& s : expect) EXPECT_NE(msg.find(s), std::string::npos) << msg << " lacks " << s;
  }
}

TEST(Safetensors, EmptyTensorsDoNotHideOverlaps) {
  ScratchDir dir;
  const std::string path = dir.file("o.safetensors");
  write_bytes(path, raw_file(R"({"a":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},)"
                             R"("z":{"dtype":"U8","shape":[0],"data_offsets":[5,5]},)"
                             R"("b":{"dtype":"U8","shape":[6],"data_offsets":[6,12]}})",
                             12));
  EXPECT_ERROR_CONTAINS(SafetensorsFile f(path), path, "overlap");
}

TEST(Safetensors, MissingFileNamesPath) {
  EXPECT_ERROR_CONTAINS(SafetensorsFile f("/nonexistent/x.safetensors"), "/nonexistent/x.safetensors");
}

}  // namespace
}  // namespace sqz
