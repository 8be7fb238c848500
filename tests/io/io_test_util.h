// Helpers shared by the io tests: a scratch directory per test and small file utilities.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace sqz::testing_io {

// A fresh directory for the running test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    // Outside a test (a suite's SetUpTestSuite) there is no test info: the suite's name alone.
    const auto* unit = ::testing::UnitTest::GetInstance();
    const auto* info = unit->current_test_info();
    const auto* suite = unit->current_test_suite();
    const std::string who = info ? std::string(info->test_suite_name()) + "_" + info->name()
                                 : std::string(suite ? suite->name() : "suite") + "_setup";
    path_ = std::filesystem::temp_directory_path() / ("sqz_test_" + std::to_string(::getpid()) + "_" + who);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;  // a destructor must not throw
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), (std::streamsize)bytes.size());
  ASSERT_TRUE(out.good()) << path;
}

// Runs fn, which must throw sqz::Error; returns the message ("" and a test failure otherwise).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected sqz::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected sqz::Error, nothing was thrown";
  return "";
}

}  // namespace sqz::testing_io

// Asserts that `stmt` throws sqz::Error whose message contains every listed substring.
#define EXPECT_ERROR_CONTAINS(stmt, ...)                                                    \
  do {                                                                                      \
    const std::string msg_ = ::sqz::testing_io::error_of([&] { stmt; });                    \
    for (const std::string& s_ : std::vector<std::string>{__VA_ARGS__})                     \
      EXPECT_NE(msg_.find(s_), std::string::npos) << "message: \"" << msg_ << "\" lacks \"" << s_ << "\""; \
  } while (0)
