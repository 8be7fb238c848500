// Errors: every failure sqz reports to a user is an sqz::Error whose message names the file and the
// problem. The CLI maps Error to exit code 1 and UsageError to exit code 2.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace sqz {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad command-line use (unknown option value, missing argument): exit code 2.
struct UsageError : Error {
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void usage_fail(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

#define SQZ_CHECK(cond, ...)         \
  do {                               \
    if (!(cond)) ::sqz::fail(__VA_ARGS__); \
  } while (0)

}  // namespace sqz
