#include "quant/algo/error_feedback.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/error.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

double error_feedback_quantize(double* W, int64_t rows, int64_t cols, const double* U, int64_t group,
                               ColumnQuantizer& q, int64_t block) {
  SQZ_CHECK(rows >= 0 && cols >= 0, "error_feedback_quantize: bad shape [{}, {}]", rows, cols);
  SQZ_CHECK(block >= 1, "error_feedback_quantize: block = {} must be >= 1", block);
  if (rows == 0 || cols == 0) return 0;
  for (int64_t i = 0; i < cols; ++i)
    SQZ_CHECK(U[i * cols + i] > 0 && std::isfinite(U[i * cols + i]),
              "error_feedback_quantize: inverse-Hessian factor has diagonal {} at {}", U[i * cols + i], i);
  const int64_t g = (group <= 0 || group >= cols) ? cols : group;

  // Block boundaries aligned to groups (see header).
  std::vector<std::pair<int64_t, int64_t>> blocks;
  if (g < block) {
    const int64_t B = (block / g) * g;
    for (int64_t i1 = 0; i1 < cols; i1 += B) blocks.emplace_back(i1, std::min(cols, i1 + B));
  } else {
    for (int64_t gs = 0; gs < cols; gs += g)
      for (int64_t i1 = gs; i1 < std::min(cols, gs + g); i1 += block)
        blocks.emplace_back(i1, std::min({cols, gs + g, i1 + block}));
  }
  int64_t maxb = 0;
  for (auto [a, b] : blocks) maxb = std::max(maxb, b - a);

  std::vector<double> err((size_t)(rows * maxb));
  std::vector<double> row_loss((size_t)rows, 0.0);
  for (auto [i1, i2] : blocks) {
    const int64_t nb = i2 - i1;
    parallel_for_rethrow(rows, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double* w = W + r * cols;
        double* e = err.data() + r * nb;
        double loss = 0;
        for (int64_t i = i1; i < i2; ++i) {
          if (i % g == 0) q.begin_group(r, i, w + i, std::min(g, cols - i));
          const double d = U[i * cols + i];
          const double qi = q.quantize(r, i, w[i]);
          const double diff = w[i] - qi;
          loss += diff * diff / (d * d) / 2;
          const double ei = diff / d;
          e[i - i1] = ei;
          w[i] = qi;
          const double* u = U + i * cols;
          for (int64_t j = i + 1; j < i2; ++j) w[j] -= ei * u[j];
        }
        row_loss[r] += loss;
      }
    });
    if (i2 < cols)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)(cols - i2), (int)nb, -1.0,
                  err.data(), (int)nb, U + i1 * cols + i2, (int)cols, 1.0, W + i2, (int)cols);
  }
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

}  // namespace sqz::quant
