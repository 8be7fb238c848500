// Helpers for the tokenizer tests: file writers (the scratch directory is io_test_util.h's) and the shared/ checkout.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/io_test_util.h"

namespace sqz::test {

// The io tests' scratch directory and file writer serve the tokenizer tests too.
using testing_io::ScratchDir;
using testing_io::write_bytes;

template <typename T>
void put_pod(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// The shared/ checkout beside the project, or "" when absent (integration tests skip then).
inline std::string shared_dir() {
  const std::string d = std::string(SQZ_SOURCE_DIR) + "/../shared";
  return std::filesystem::exists(d + "/models") ? d : "";
}

}  // namespace sqz::test
