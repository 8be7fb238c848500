#include "quant/algo/squeezellm.h"

#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "quant/algo/error_feedback.h"
#include "quant/algo/kmeans1d.h"
#include "quant/algo/parallel.h"

namespace sqz::quant {

namespace {

void check_inputs(int64_t rows, int64_t cols, const SparseSplit* split, const SqueezeLlmOptions& opt) {
  SQZ_CHECK(rows >= 0 && cols >= 0, "squeezellm: bad shape [{}, {}]", rows, cols);
  SQZ_CHECK(opt.bits >= 1 && opt.bits <= 8, "squeezellm: bits = {} not in [1, 8]", opt.bits);
  if (split)
    SQZ_CHECK(split->rows == rows && split->cols == cols && (int64_t)split->row_ptr.size() == rows + 1,
              "squeezellm: sparse split is for [{}, {}], the matrix is [{}, {}]", split->rows, split->cols, rows, cols);
}

// Calls fn(c0, c1) for each run [c0, c1) of row r's columns between the sparse split's, in increasing
// order (empty runs included).
template <typename Fn>
void for_each_dense_run(const SparseSplit* split, int64_t r, int64_t cols, Fn&& fn) {
  int64_t c = 0;
  if (split)
    for (int64_t p = split->row_ptr[r]; p < split->row_ptr[r + 1]; ++p) {
      fn(c, (int64_t)split->col_idx[p]);
      c = split->col_idx[p] + 1;
    }
  fn(c, cols);
}

// Per-row codebooks from the dense positions of the original weights; fills lut and kmeans_objective.
void build_codebooks(const float* W, const float* F, const SparseSplit* split, const SqueezeLlmOptions& opt,
                     SqueezeLlmResult& res) {
  const int64_t rows = res.rows, cols = res.cols;
  const int K = 1 << opt.bits;
  res.lut.assign((size_t)(rows * K), 0.0f);
  std::vector<double> obj((size_t)rows, 0.0);
  parallel_for_rethrow(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> xv, wv;
    xv.reserve(cols), wv.reserve(cols);
    for (int64_t r = r0; r < r1; ++r) {
      // The row without its sparse columns, copied as the runs between them.
      xv.clear(), wv.clear();
      const float* Wr = W + r * cols;
      const float* Fr = F ? F + r * cols : nullptr;
      for_each_dense_run(split, r, cols, [&](int64_t c0, int64_t c1) {
        xv.insert(xv.end(), Wr + c0, Wr + c1);
        if (Fr) wv.insert(wv.end(), Fr + c0, Fr + c1);
      });
      const int64_t m = (int64_t)xv.size();
      const Codebook cb = opt.method == KMeansMethod::Exact
                              ? kmeans1d_exact(xv.data(), F ? wv.data() : nullptr, m, K)
                              : kmeans1d_lloyd(xv.data(), F ? wv.data() : nullptr, m, K, opt.seed + (uint64_t)r,
                                               opt.max_iter);
      obj[r] = cb.objective;
      for (int t = 0; t < K; ++t) res.lut[r * K + t] = round_fp16(cb.centroids[t]);
    }
  });
  res.kmeans_objective = 0;
  for (double o : obj) res.kmeans_objective += o;
}

// Dense-position error statistics of lut[idx] against the original W.
void compute_stats(const float* W, const float* F, const SparseSplit* split, SqueezeLlmResult& res) {
  const int64_t rows = res.rows, cols = res.cols;
  std::vector<double> we((size_t)rows, 0.0), se((size_t)rows, 0.0);
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for_each_dense_run(split, r, cols, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const double d = (double)W[r * cols + c] - (double)res.dense_value(r, c);
          we[r] += (F ? (double)F[r * cols + c] : 1.0) * d * d;
          se[r] += d * d;
        }
      });
  });
  res.weighted_error = 0;
  double sq = 0;
  for (int64_t r = 0; r < rows; ++r) res.weighted_error += we[r], sq += se[r];
  res.n_dense = rows * cols - (split ? split->nnz() : 0);
  res.mse = res.n_dense ? sq / (double)res.n_dense : 0;
}

SqueezeLlmResult make_result(int64_t rows, int64_t cols, const SparseSplit* split, const SqueezeLlmOptions& opt) {
  SqueezeLlmResult res;
  res.bits = opt.bits, res.rows = rows, res.cols = cols;
  res.idx.assign((size_t)(rows * cols), 0);
  if (split) res.sparse_values.assign((size_t)split->nnz(), 0);
  return res;
}

class LutColumns : public ColumnQuantizer {
 public:
  LutColumns(SqueezeLlmResult& res, const SparseSplit* split) : res_(res), split_(split), K_(1 << res.bits) {
    if (split) cursor_.assign(split->row_ptr.begin(), split->row_ptr.end() - 1);
  }
  double quantize(int64_t row, int64_t col, double w) override {
    const float* L = res_.lut.data() + row * K_;
    const uint8_t k = assign_nearest(L, K_, (float)w);
    res_.idx[row * res_.cols + col] = k;
    if (split_) {
      int64_t& p = cursor_[row];  // this row's next CSR entry; columns arrive in increasing order
      if (p < split_->row_ptr[row + 1] && split_->col_idx[p] == col) {
        const uint16_t h = f32_to_fp16((float)(w - (double)L[k]));
        res_.sparse_values[p++] = h;
        return (double)L[k] + (double)fp16_to_f32(h);
      }
    }
    return (double)L[k];
  }

 private:
  SqueezeLlmResult& res_;
  const SparseSplit* split_;
  int K_;
  std::vector<int64_t> cursor_;
};

}  // namespace

std::vector<float> SqueezeLlmResult::dequantize(const SparseSplit* split) const {
  std::vector<float> out((size_t)(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = dense_value(r, c);
  if (split)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t p = split->row_ptr[r]; p < split->row_ptr[r + 1]; ++p)
        out[r * cols + split->col_idx[p]] += fp16_to_f32(sparse_values[p]);
  return out;
}

SqueezeLlmResult squeezellm_quantize(const float* W, const float* F, int64_t rows, int64_t cols,
                                     const SparseSplit* split, const SqueezeLlmOptions& opt) {
  check_inputs(rows, cols, split, opt);
  SqueezeLlmResult res = make_result(rows, cols, split, opt);
  build_codebooks(W, F, split, opt, res);
  const int K = 1 << opt.bits;
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* L = res.lut.data() + r * K;
      assign_nearest(L, K, W + r * cols, cols, res.idx.data() + r * cols);
      if (split)
        for (int64_t p = split->row_ptr[r]; p < split->row_ptr[r + 1]; ++p) {
          const int64_t c = split->col_idx[p];
          res.sparse_values[p] = f32_to_fp16(W[r * cols + c] - L[res.idx[r * cols + c]]);
        }
    }
  });
  compute_stats(W, F, split, res);
  return res;
}

SqueezeLlmResult squeezellm_quantize_ef(const float* W, const float* F, int64_t rows, int64_t cols,
                                        const SparseSplit* split, const double* U, const SqueezeLlmOptions& opt,
                                        int64_t block) {
  check_inputs(rows, cols, split, opt);
  SqueezeLlmResult res = make_result(rows, cols, split, opt);
  build_codebooks(W, F, split, opt, res);
  std::vector<double> Wd(W, W + rows * cols);
  LutColumns q(res, split);
  res.ef_loss = error_feedback_quantize(Wd.data(), rows, cols, U, cols, q, block);
  compute_stats(W, F, split, res);
  return res;
}

}  // namespace sqz::quant
