// Threading: OpenMP underneath; sqz sets the thread count once (--threads) and every parallel loop and
// OpenBLAS follow it.
#pragma once
#include <omp.h>

#include <cstdint>

namespace sqz {

void set_num_threads(int n);  // n <= 0: all cores
int num_threads();

// Calls fn(begin, end) on contiguous chunks of [0, n) across the threads; serial when n < min_chunk*2.
template <typename Fn>
void parallel_for(int64_t n, int64_t min_chunk, Fn&& fn) {
  if (n <= 0) return;
  const int nt = num_threads();
  if (nt <= 1 || n < 2 * min_chunk) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t b = n * t / T, e = n * (t + 1) / T;
    if (b < e) fn(b, e);
  }
}

}  // namespace sqz
