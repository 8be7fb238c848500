#include "core/threads.h"

#include <omp.h>

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace sqz {

namespace {
int g_threads = 0;
}

void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  g_threads = n;
  omp_set_num_threads(n);
  if (openblas_set_num_threads) openblas_set_num_threads(n);
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

}  // namespace sqz
