// SafetensorsMappedWriter (preallocated, filled in place, renamed on commit) against SafetensorsWriter:
// the same tensors and metadata give the same bytes, released pages keep their contents, and an
// uncommitted writer leaves nothing behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace sqz {
namespace {

using testing_io::ScratchDir;

TEST(SafetensorsMapped, SameBytesAsWriterAndReleaseKeepsData) {
  ScratchDir dir;
  // Big enough (3 MB) that release() really drops whole pages in the middle of a tensor.
  const int64_t rows = 768, cols = 1024;
  std::vector<float> big((size_t)(rows * cols)), small = {1.f, -2.f, 3.5f};
  for (size_t i = 0; i < big.size(); ++i) big[i] = (float)i * 0.25f - 7.f;
  const std::map<std::string, std::string> meta = {{"a", "1"}, {"b", "two"}};

  SafetensorsWriter ref;
  ref.add_f32("w.big", {rows, cols}, big);
  ref.add_f32("w.small", {3}, small);
  for (const auto& [k, v] : meta) ref.set_metadata(k, v);
  const std::string ref_path = dir.file("ref.safetensors"), got_path = dir.file("got.safetensors");
  ref.write(ref_path);

  {
    SafetensorsMappedWriter w(got_path, {{"w.big", DType::F32, {rows, cols}}, {"w.small", DType::F32, {3}}}, meta);
    float* b = w.f32("w.big");
    for (size_t i = 0; i < big.size(); ++i) b[i] += big[i];  // starts zeroed: accumulate as calibration does
    w.release(b, big.size() * sizeof(float));
    for (size_t i = 0; i < big.size(); ++i) EXPECT_EQ(b[i], big[i]) << i;  // faulted back in from the page cache
    std::copy(small.begin(), small.end(), w.f32("w.small"));
    EXPECT_FALSE(std::filesystem::exists(got_path));  // only the temporary exists until commit
    EXPECT_THROW(w.data("nope"), Error);
    w.commit();
  }
  EXPECT_EQ(testing_io::read_bytes(got_path), testing_io::read_bytes(ref_path));
  SafetensorsFile f(got_path);
  EXPECT_EQ(f.metadata().at("b"), "two");
}

TEST(SafetensorsMapped, UncommittedLeavesNoFile) {
  ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  { SafetensorsMappedWriter w(path, {{"t", DType::F32, {4}}}, {}); }
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) ADD_FAILURE() << "left behind: " << e.path();
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace sqz
