// parallel_for (core/threads.h) for loops whose body may throw: an exception must not leave an OpenMP
// region, so each chunk catches, and the first exception is rethrown on the calling thread afterwards.
#pragma once
#include <exception>
#include <mutex>

#include "core/threads.h"

namespace sqz::quant {

template <typename Fn>
void parallel_for_rethrow(int64_t n, int64_t min_chunk, Fn&& fn) {
  std::exception_ptr err;
  std::mutex mu;
  parallel_for(n, min_chunk, [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!err) err = std::current_exception();
    }
  });
  if (err) std::rethrow_exception(err);
}

}  // namespace sqz::quant
