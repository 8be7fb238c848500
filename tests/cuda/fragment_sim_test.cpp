// Runs without a GPU: the fused kernels' mapping of packed weights and activations onto mma tiles
// (kernels/cuda/pair_decode.h, the functions the kernels call) simulated on the host, lane by lane, with
// the tiles' products computed from the PTX ISA's fragment layouts (written out below independently of
// the kernels), against the format's reference (packed_gemm_ref). A wrong bit field, column assignment
// or register order fails here before any device time is spent.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "core/half.h"
#include "kernels/cpu/formats.h"
#include "kernels/cuda/pair_decode.h"
#include "kernels/format.h"

namespace {

using namespace sqz;
using namespace sqz::kernels;
using namespace sqz::kernels::cuda::detail;

// One warp's registers for one mma: A (16 x K) as 4 registers per lane, B (K x 8) as 2, D (16 x 8) as 4.
// The element each register holds, per the PTX ISA (mma.m16n8k16 .f16 and mma.m16n8k32 .s8; lane = 4g + q):
//   f16 A reg r, half h: row g + 8 (r & 1), k = 2q + h + 8 (r >> 1);  B reg r, half h: k = 2q + h + 8r, col g
//   s8  A reg r, byte b: row g + 8 (r & 1), k = 4q + b + 16 (r >> 1); B reg r, byte b: k = 4q + b + 16r, col g
//   D reg i: row g + 8 (i >> 1), col 2q + (i & 1)
struct Tile {
  double a[32][4][4];  // [lane][reg][element]
  double b[32][2][4];
};

// D[16][8] += A B for a tile whose elements per register are `per` (2: f16, 4: s8).
void mma(const Tile& t, int per, double (&D)[16][8]) {
  const int K = per == 2 ? 16 : 32;
  double A[16][32] = {}, B[32][8] = {};
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, q = lane % 4;
    for (int r = 0; r < 4; ++r)
      for (int e = 0; e < per; ++e) A[g + 8 * (r & 1)][per * q + e + (K / 2) * (r >> 1)] = t.a[lane][r][e];
    for (int r = 0; r < 2; ++r)
      for (int e = 0; e < per; ++e) B[per * q + e + (K / 2) * r][g] = t.b[lane][r][e];
  }
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n)
      for (int k = 0; k < K; ++k) D[m][n] += A[m][k] * B[k][n];
}

// The output Y[t, row] of the block's D, read back through the kernels' accumulator mapping.
void store(const double (&D)[16][8], int64_t row0, int64_t rows, int n, std::vector<double>& Y) {
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      // The kernel's lane l, accumulator i holds D[g + 8 (i >> 1)][2q + (i & 1)].
      const double v = D[l / 4 + 8 * (i >> 1)][2 * (l % 4) + (i & 1)];
      const int t = acc_token(l, i);
      const int64_t r = row0 + acc_row(l, i);
      if (t < n && r < rows) Y[(size_t)(t * rows + r)] = v;
    }
}

template <int BITS>
void simulate_lut(int64_t rows, int64_t cols, int n, uint64_t seed) {
  const Format& f = format("lut");
  FormatParams p;
  p.bits = BITS;
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> W((size_t)(rows * cols)), X((size_t)(n * cols));
  for (auto& v : W) v = d(g);
  for (auto& v : X) v = d(g);
  std::vector<OwnedTensor> ts = f.encode(W.data(), rows, cols, p, nullptr);
  PackedMatrix m;
  m.format = &f, m.p = p, m.rows = rows, m.cols = cols;
  m.t[0] = ts[0].bytes.data(), m.t[1] = ts[1].bytes.data();
  const uint32_t* packed = m.at<uint32_t>(0);
  const uint16_t* lut = m.at<uint16_t>(1);
  const int64_t row_words = packed_words_per_row(BITS, cols), nunits = (cols + 31) / 32;
  const int64_t ldx = (cols + kStepCols - 1) / kStepCols * kStepCols;  // zero tail, as padded_cols
  std::vector<double> Xp((size_t)(n * ldx), 0.0);
  for (int t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) Xp[(size_t)(t * ldx + c)] = X[(size_t)(t * cols + c)];
  constexpr int WPU = words_per_unit<BITS>(), K = 1 << BITS;
  std::vector<double> Y((size_t)(n * rows), NAN);
  const int64_t nsteps = (cols + kStepCols - 1) / kStepCols;
  for (int64_t row0 = 0; row0 < rows; row0 += kRows) {
    double D[16][8] = {};
    for (int64_t s = 0; s < nsteps; ++s)
      for (int i = 0; i < kUnitsPerLane; ++i)
        for (int j = 0; j < 8; ++j) {
          Tile t{};
          for (int lane = 0; lane < 32; ++lane) {
            const int gl = lane / 4, q = lane % 4;
            const int64_t row = row0 + gl, unit = lane_unit0(s, q) + i;
            // The lane's words of this unit, zero past the row (as load_words).
            uint32_t w[WPU] = {};
            for (int k = 0; k < WPU; ++k) {
              const int64_t wi = unit * WPU + k;
              if (row < rows && wi < row_words) w[k] = packed[row * row_words + wi];
            }
            for (int r = 0; r < 2; ++r) {
              const uint32_t e = pair_field<BITS>(w, 2 * j + r);
              for (int h = 0; h < 2; ++h) {
                const uint32_t idx = h ? e >> BITS : e & (K - 1);  // the pair table's entry
                t.b[lane][r][h] = row < rows ? fp16_to_f32(lut[row * K + idx]) : 0.0;
              }
            }
            const int64_t col = tile_col(unit, j);
            for (int r = 0; r < 4; ++r) {
              const int tok = gl + 8 * (r & 1);
              for (int h = 0; h < 2; ++h)
                t.a[lane][r][h] = tok < n ? Xp[(size_t)(tok * ldx + col + 2 * (r >> 1) + h)] : 0.0;
            }
          }
          (void)nunits;
          mma(t, 2, D);
        }
    store(D, row0, rows, n, Y);
  }
  std::vector<float> ref((size_t)(n * rows));
  packed_gemm_ref(m, nullptr, X.data(), n, ref.data());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(Y[i], ref[i], 1e-4 * (1 + std::fabs(ref[i]))) << "lut" << BITS << " " << rows << "x" << cols << " n=" << n
                                                             << " output " << i;
}

TEST(CudaFragmentSim, LutMappingMatchesReference) {
  for (int n : {1, 5, 16}) {
    simulate_lut<2>(13, 100, n, 1);
    simulate_lut<3>(13, 100, n, 2);
    simulate_lut<4>(13, 100, n, 3);
    simulate_lut<3>(9, 1100, n, 4);
    simulate_lut<4>(17, 611, n, 5);
  }
}

TEST(CudaFragmentSim, PairFieldMatchesUnpackRow) {
  std::mt19937 g(7);
  for (int bits : {2, 3, 4}) {
    const int64_t cols = 32 * 5;
    std::vector<uint8_t> idx((size_t)cols), back((size_t)cols);
    for (auto& v : idx) v = (uint8_t)(g() % (1u << bits));
    std::vector<uint32_t> w((size_t)packed_words_per_row(bits, cols));
    pack_row(bits, idx.data(), cols, w.data());
    const int wpu = bits == 3 ? 3 : bits;
    for (int64_t u = 0; u < 5; ++u)
      for (int p2 = 0; p2 < 16; ++p2) {
        const uint32_t* uw = w.data() + u * wpu;
        const uint32_t e = bits == 2 ? pair_field<2>(uw, p2) : bits == 3 ? pair_field<3>(uw, p2) : pair_field<4>(uw, p2);
        EXPECT_EQ(e & ((1u << bits) - 1), idx[(size_t)(u * 32 + 2 * p2)]) << bits << " unit " << u << " pair " << p2;
        EXPECT_EQ(e >> bits, idx[(size_t)(u * 32 + 2 * p2 + 1)]) << bits << " unit " << u << " pair " << p2;
      }
  }
}

// W8A8: int8 tiles of k = 32, the lane's bytes as stored, exact integer sums.
TEST(CudaFragmentSim, Int8MappingMatchesReference) {
  const Format& f = format("w8a8");
  for (int64_t cols : {100, 611, 1024})
    for (int n : {1, 3, 16}) {
      const int64_t rows = 19;
      std::mt19937_64 g(cols + n);
      std::normal_distribution<float> d(0.f, 1.f);
      std::vector<float> W((size_t)(rows * cols)), X((size_t)(n * cols));
      for (auto& v : W) v = d(g);
      for (auto& v : X) v = d(g);
      FormatParams p;
      p.bits = 8;
      std::vector<OwnedTensor> ts = f.encode(W.data(), rows, cols, p, nullptr);
      const int8_t* q8 = reinterpret_cast<const int8_t*>(ts[0].bytes.data());
      const float* ws = reinterpret_cast<const float*>(ts[1].bytes.data());
      std::vector<int8_t> xq((size_t)(n * cols));
      std::vector<float> xs((size_t)n);
      quantize_activations(X.data(), n, cols, ActQuant::PerToken, 0.f, xq.data(), xs.data());
      const int64_t ldx = (cols + 511) / 512 * 512;
      std::vector<int8_t> xp((size_t)(n * ldx), 0);
      for (int t = 0; t < n; ++t)
        for (int64_t c = 0; c < cols; ++c) xp[(size_t)(t * ldx + c)] = xq[(size_t)(t * cols + c)];
      std::vector<double> Y((size_t)(n * rows), NAN);
      const int64_t nsteps = (cols + 511) / 512;
      for (int64_t row0 = 0; row0 < rows; row0 += kRows) {
        double D[16][8] = {};
        for (int64_t s = 0; s < nsteps; ++s)
          for (int j = 0; j < 16; ++j) {
            Tile t{};
            for (int lane = 0; lane < 32; ++lane) {
              const int gl = lane / 4, q = lane % 4;
              const int64_t row = row0 + gl, col = i8_lane_col(s, q) + 8 * j;
              for (int r = 0; r < 2; ++r)
                for (int b = 0; b < 4; ++b) {
                  const int64_t c = col + 4 * r + b;
                  t.b[lane][r][b] = row < rows && c < cols ? q8[row * cols + c] : 0;
                }
              for (int r = 0; r < 4; ++r) {
                const int tok = gl + 8 * (r & 1);
                for (int b = 0; b < 4; ++b) t.a[lane][r][b] = tok < n ? xp[(size_t)(tok * ldx + col + 4 * (r >> 1) + b)] : 0;
              }
            }
            mma(t, 4, D);
          }
        store(D, row0, rows, n, Y);
      }
      std::vector<float> ref((size_t)(n * rows));
      Int8Matrix im{rows, cols, q8, ws};
      w8a8_gemm_ref(im, xq.data(), xs.data(), n, ref.data());
      for (int t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          const float got = (float)Y[(size_t)(t * rows + r)] * xs[(size_t)t] * ws[r];
          ASSERT_EQ(got, ref[(size_t)(t * rows + r)]) << cols << " n=" << n << " t=" << t << " r=" << r;
        }
    }
}

}  // namespace
