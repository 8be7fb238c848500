// GGUF block types (kernels/cpu/gguf_blocks.h): scalar reference decoders and encoders.
//
// Bit-exactness rests on doing each fp32 operation in the format's order with no fused multiply-add:
// src/CMakeLists.txt compiles this file with -ffp-contract=off (GCC contracts a*b+c by default in
// its GNU dialects once -march enables FMA). Rounding helpers: ggml rounds with "nearest_int" (a
// magic-number trick, round-half-to-even for |v| < 2^22), which is std::nearbyint in the default
// rounding mode; Q8_0 rounds half away from zero (roundf); the legacy encoders truncate v + 0.5.
#include "kernels/cpu/gguf_blocks.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "kernels/cpu/gguf_iq_grids.h"
#include "kernels/cpu/gguf_scales.h"

namespace sqz::kernels::gguf {

namespace {

constexpr int kSuper = 256;          // weights per k-quant / IQ super-block (ggml's QK_K)
constexpr float kGroupEps = 1e-15f;  // a group whose max |x| is below this is encoded as all zero

constexpr float kIq1Delta = 0.125f;  // IQ1_S/IQ1_M grid shift

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}
void put_half(uint8_t* p, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}
uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

int round_even(float v) { return (int)std::nearbyint(v); }

int64_t blocks_of(int64_t n, int64_t block_weights, const char* type) {
  SQZ_CHECK(n >= 0 && n % block_weights == 0, "gguf {}: {} weights is not a multiple of the {}-weight block", type,
            n, block_weights);
  return n / block_weights;
}

// Sign byte of the IQ2/IQ3 formats: 7 stored bits; the 8th makes the count of minus signs even.
uint8_t iq_sign_byte(uint32_t seven) { return (uint8_t)(seven | ((std::popcount(seven) & 1u) << 7)); }

// Value j (byte j) of grid entry e.
uint8_t grid_byte(uint64_t e, int j) { return (uint8_t)(e >> (8 * j)); }
// out[j] = +-scale * grid_byte(grid, j) for j < n, negative where bit j of signs is set (the IQ2/IQ3 types).
void put_signed_grid(float* out, float scale, uint64_t grid, unsigned signs, int n) {
  for (int j = 0; j < n; ++j) {
    const float v = scale * (float)grid_byte(grid, j);
    out[j] = (signs >> j) & 1 ? -v : v;
  }
}

// 2-bit packing shared by Q2_K and Q3_K: weight w's two bits sit in byte 32*(w/128) + w%32 at bit
// 2*((w%128)/32).
uint8_t two_bits(const uint8_t* qs, int w) { return (qs[32 * (w / 128) + w % 32] >> (2 * ((w % 128) / 32))) & 3; }
void pack_two_bits(const uint8_t* L, uint8_t* qs) {
  std::memset(qs, 0, kSuper / 4);
  for (int w = 0; w < kSuper; ++w) qs[32 * (w / 128) + w % 32] |= (uint8_t)(L[w] << (2 * ((w % 128) / 32)));
}

// Q3_K's scales: the layout of q3k_scale (gguf_scales.h).
void q3k_put_scale(uint8_t* s, int j, int biased /* 0..63 */) {
  if (j < 8)
    s[j] = (uint8_t)(biased & 0xF);
  else
    s[j - 8] |= (uint8_t)((biased & 0xF) << 4);
  s[8 + j % 4] |= (uint8_t)((biased >> 4) << (2 * (j / 4)));
}

// Writes all 12 bytes from 8 scales and 8 mins (each expected in 0..63; larger values are packed as
// ggml packs them, bits beyond 6 spilling into the neighbours, so a bad encoder stays bit-compatible).
void k4_put_scales(uint8_t* s, const uint8_t* ls, const uint8_t* lm) {
  for (int j = 0; j < 4; ++j) {
    s[j] = ls[j];
    s[j + 4] = lm[j];
  }
  for (int j = 4; j < 8; ++j) {
    s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
    s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
    s[j] |= (uint8_t)((lm[j] >> 4) << 6);
  }
}

// ---------------------------------------------------------------------------------------------------
// Scale searches of ggml's quantizers (same arithmetic, same order).

// Max-magnitude weight of a block, keeping its sign (first one on ties).
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Symmetric scale for signed levels -nmax..nmax-1 (stored +nmax in L): start from scale max/-nmax
// (so the largest-magnitude weight maps to -nmax), then try 18 nearby scales, keeping the one that
// maximises (sum w x l)^2 / sum w l^2 -- the weighted least-squares fit of x by scale * l. Weights
// default to x^2. Returns the least-squares scale for the chosen levels.
float fit_symmetric(int n, int nmax, const float* x, int8_t* L, const float* w_in) {
  const float max = signed_absmax(x, n);  // the weight of largest magnitude, sign kept
  if (std::fabs(max) < kGroupEps) {
    std::fill(L, L + n, (int8_t)0);
    return 0.0f;
  }
  auto weight = [&](int i) { return w_in ? w_in[i] : x[i] * x[i]; };
  auto level = [&](float iscale, int i) { return std::clamp(round_even(iscale * x[i]), -nmax, nmax - 1); };
  float iscale = (float)-nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, i);
    L[i] = (int8_t)(l + nmax);
    const float w = weight(i);
    sumlx += w * x[i] * (float)l;
    suml2 += w * (float)l * (float)l;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -((float)nmax + 0.1f * (float)step) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale, i);
      const float w = weight(i);
      sumlx += w * x[i] * (float)l;
      suml2 += w * (float)l * (float)l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = (int8_t)(level(iscale, i) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's reference search: levels -nmax..nmax-1 from scale max/-nmax, then up to 5 passes of
// coordinate descent moving one level at a time when that improves (sum w x l)^2 / sum w l^2, w = x^2.
// Returns the least-squares scale; L holds level + nmax.
float fit_symmetric_descent(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);  // the weight of largest magnitude, sign kept
  if (std::fabs(max) < kGroupEps) {
    std::fill(L, L + n, (int8_t)0);
    return 0.0f;
  }
  const float iscale = (float)-nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(round_even(iscale * x[i]), -nmax, nmax - 1);
    L[i] = (int8_t)l;
    const float w = x[i] * x[i];
    sumlx += w * x[i] * (float)l;
    suml2 += w * (float)l * (float)l;
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * (float)L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * (float)L[i] * (float)L[i];
        const int nl = std::clamp(round_even(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          slx += w * x[i] * (float)nl;
          sl2 += w * (float)nl * (float)nl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = (int8_t)nl;
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine fit x ~ scale * l + min with levels 0..nmax and min <= 0 (returned as *neg_min = -min >= 0).
// Starts from the range [min(x, 0), max x], then tries nsteps+1 level assignments from stretched ranges
// (nmax + rmin + rdelta * step levels over the range), solving weighted least squares for (scale,
// min) on each and keeping the lowest weighted error (|e| with use_mad, else e^2).
float fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                 float rdelta, int nsteps, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::fill(L, L + n, (uint8_t)0);
    *neg_min = -min;
    return 0.0f;
  }
  auto err = [&](float e) { return use_mad ? std::fabs(e) : e * e; };
  float iscale = (float)nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = (uint8_t)std::clamp(round_even(iscale * (x[i] - min)), 0, nmax);
    best_error += w[i] * err(scale * (float)L[i] + min - x[i]);
  }
  uint8_t Laux[32];
  for (int step = 0; step <= nsteps; ++step) {
    iscale = (rmin + rdelta * (float)step + (float)nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(round_even(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = (uint8_t)l;
      sum_l += w[i] * (float)l;
      sum_l2 += w[i] * (float)l * (float)l;
      sum_xl += w[i] * (float)l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) cur_error += w[i] * err(this_scale * (float)Laux[i] + this_min - x[i]);
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Scale for non-negative values x (the sub-block scales/mins of the weighted k-quant encoders) on
// levels 0..nmax: the best of 9 trial scales near max/nmax by weighted squared error, then up to 5
// passes of one-level coordinate descent on (sum w x l)^2 / sum w l^2. Levels are kept as uint8 the way
// ggml keeps them (a negative level, impossible for non-negative x, would wrap).
float fit_positive(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
  if (max < kGroupEps) {
    std::fill(L, L + n, (uint8_t)0);
    return 0.0f;
  }
  float iscale = (float)nmax / max;
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)round_even(iscale * x[i]);
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * (float)L[i];
    best_mse += w[i] * diff * diff;
  }
  for (int step = -4; step <= 4; ++step) {
    if (step == 0) continue;
    const float iscale_s = (0.1f * (float)step + (float)nmax) / max;
    const float scale_s = 1 / iscale_s;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, round_even(iscale_s * x[i]));
      const float diff = x[i] - scale_s * (float)l;
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_s;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, round_even(iscale * x[i]));
    L[i] = (uint8_t)l;
    sumlx += w[i] * x[i] * (float)l;
    suml2 += w[i] * (float)l * (float)l;
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      float slx = sumlx - w[i] * x[i] * (float)L[i];
      float sl2 = suml2 - w[i] * (float)L[i] * (float)L[i];
      if (slx > 0 && sl2 > 0) {
        const int nl = std::min(nmax, round_even(x[i] * sl2 / slx));
        if (nl != L[i]) {
          slx += w[i] * x[i] * (float)nl;
          sl2 += w[i] * (float)nl * (float)nl;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = (uint8_t)nl;
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Importance weights of the weighted encoders: imp * sqrt(sigma2 + x^2).
void importance_weights(int n, const float* x, const float* imp, float sigma2, float* w) {
  for (int i = 0; i < n; ++i) w[i] = imp[i] * std::sqrt(sigma2 + x[i] * x[i]);
}

float sum_squares(int64_t n, const float* x) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

// Index of the IQ4 grid value nearest to v (ties to the lower value only when strictly closer).
int iq4_nearest(float v) {
  if (v <= kIq4Values[0]) return 0;
  if (v >= kIq4Values[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < kIq4Values[mid])
      hi = mid;
    else
      lo = mid;
  }
  return v - kIq4Values[hi - 1] < kIq4Values[hi] - v ? hi - 1 : hi;
}

// Legacy 32-weight blocks store weights j and j + 16 in the low/high nibble of byte j.
void pack_nibbles_32(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = (uint8_t)((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
}
uint32_t fifth_bits_32(const uint8_t* L) {
  uint32_t qh = 0;
  for (int j = 0; j < 32; ++j) qh |= (uint32_t)((L[j] >> 4) & 1) << j;
  return qh;
}

}  // namespace

// ===================================================================================================
// Decoders

void dequant_q4_0(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q4_0"); i < nb; ++i, b += 18, out += 32) {
    const float d = half_at(b);
    for (int j = 0; j < 16; ++j) {
      out[j] = d * (float)((b[2 + j] & 0xF) - 8);
      out[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
    }
  }
}

void dequant_q4_1(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q4_1"); i < nb; ++i, b += 20, out += 32) {
    const float d = half_at(b), m = half_at(b + 2);
    for (int j = 0; j < 16; ++j) {
      out[j] = d * (float)(b[4 + j] & 0xF) + m;
      out[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
  }
}

void dequant_q5_0(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q5_0"); i < nb; ++i, b += 22, out += 32) {
    const float d = half_at(b);
    const uint32_t qh = u32_at(b + 2);
    for (int j = 0; j < 32; ++j) {
      const int lo = j < 16 ? b[6 + j] & 0xF : b[6 + j - 16] >> 4;
      out[j] = d * (float)((lo | (int)(((qh >> j) & 1) << 4)) - 16);
    }
  }
}

void dequant_q5_1(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q5_1"); i < nb; ++i, b += 24, out += 32) {
    const float d = half_at(b), m = half_at(b + 2);
    const uint32_t qh = u32_at(b + 4);
    for (int j = 0; j < 32; ++j) {
      const int lo = j < 16 ? b[8 + j] & 0xF : b[8 + j - 16] >> 4;
      out[j] = d * (float)(lo | (int)(((qh >> j) & 1) << 4)) + m;
    }
  }
}

void dequant_q8_0(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q8_0"); i < nb; ++i, b += 34, out += 32) {
    const float d = half_at(b);
    for (int j = 0; j < 32; ++j) out[j] = d * (float)(int8_t)b[2 + j];
  }
}

// Q2_K: scales[16] (low nibble: scale, high nibble: min, per 16 weights), qs[64], d, dmin.
void dequant_q2_k(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q2_k"); i < nb; ++i, b += 84, out += kSuper) {
    const uint8_t* qs = b + 16;
    const float d = half_at(b + 80), dmin = half_at(b + 82);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)(b[g] & 0xF), ml = dmin * (float)(b[g] >> 4);
      for (int w = 16 * g; w < 16 * g + 16; ++w) out[w] = dl * (float)two_bits(qs, w) - ml;
    }
  }
}

// Q3_K: hmask[32] (bit w/32 of byte w%32 set: level has no -4 offset), qs[64], scales[12], d.
void dequant_q3_k(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q3_k"); i < nb; ++i, b += 110, out += kSuper) {
    const uint8_t *hmask = b, *qs = b + 32, *scales = b + 96;
    const float d = half_at(b + 108);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)q3k_scale(scales, g);
      for (int w = 16 * g; w < 16 * g + 16; ++w) {
        const int high = (hmask[w % 32] >> (w / 32)) & 1;
        out[w] = dl * (float)(two_bits(qs, w) - (high ? 0 : 4));
      }
    }
  }
}

// Q4_K: d, dmin, scales[12] (8 x 6-bit scale/min), qs[128]: weight w in byte 32*(w/64) + w%32, low
// nibble for (w%64) < 32. Q5_K: the same with qh[32] before qs (bit w/32 of byte w%32: the fifth bit).
template <bool kFifth>
void dequant_k4_family(const uint8_t* b, float* out, int64_t n, const char* name) {
  constexpr int64_t block_bytes = kFifth ? 176 : 144;
  for (int64_t i = 0, nb = blocks_of(n, kSuper, name); i < nb; ++i, b += block_bytes, out += kSuper) {
    const float d = half_at(b), dmin = half_at(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = kFifth ? b + 48 : b + 16;
    for (int g = 0; g < 8; ++g) {
      int sc, m;
      k4_scale_min(scales, g, sc, m);
      const float dl = d * (float)sc, ml = dmin * (float)m;
      for (int w = 32 * g; w < 32 * g + 32; ++w) {
        const uint8_t byte = qs[32 * (w / 64) + w % 32];
        int level = (w % 64) < 32 ? byte & 0xF : byte >> 4;
        if constexpr (kFifth) level += 16 * ((qh[w % 32] >> (w / 32)) & 1);
        out[w] = dl * (float)level - ml;
      }
    }
  }
}
void dequant_q4_k(const uint8_t* b, float* out, int64_t n) { dequant_k4_family<false>(b, out, n, "q4_k"); }
void dequant_q5_k(const uint8_t* b, float* out, int64_t n) { dequant_k4_family<true>(b, out, n, "q5_k"); }

// Q6_K: ql[128] (low nibbles), qh[64] (high 2 bits), int8 scales[16], d. In each half of 128 weights,
// quarter q = (w%128)/32 takes ql byte 32*(q&1) + w%32 (low nibble for q < 2) and qh bits 2q..2q+1.
void dequant_q6_k(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q6_k"); i < nb; ++i, b += 210, out += kSuper) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    const float d = half_at(b + 208);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)scales[g];
      for (int w = 16 * g; w < 16 * g + 16; ++w) {
        const int half = w / 128, quarter = (w % 128) / 32, l = w % 32;
        const uint8_t lb = ql[64 * half + 32 * (quarter & 1) + l];
        const int lo = quarter < 2 ? lb & 0xF : lb >> 4;
        const int hi = (qh[32 * half + l] >> (2 * quarter)) & 3;
        out[w] = dl * (float)((lo | (hi << 4)) - 32);
      }
    }
  }
}

// Q8_K: fp32 d, int8 qs[256], int16 bsums[16] (sums of 16 levels, for dot products; not needed here).
void dequant_q8_k(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q8_k"); i < nb; ++i, b += 292, out += kSuper) {
    float d;
    std::memcpy(&d, b, 4);
    for (int j = 0; j < kSuper; ++j) out[j] = d * (float)(int8_t)b[4 + j];
  }
}

void dequant_iq4_nl(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "iq4_nl"); i < nb; ++i, b += 18, out += 32) {
    const float d = half_at(b);
    for (int j = 0; j < 16; ++j) {
      out[j] = d * (float)kIq4Values[b[2 + j] & 0xF];
      out[j + 16] = d * (float)kIq4Values[b[2 + j] >> 4];
    }
  }
}

// IQ4_XS: d, scales_h (2 high bits per 32-weight block), scales_l[4] (nibbles), qs[128] (IQ4_NL-style
// 32-weight blocks); block scale = d * (6-bit value - 32).
void dequant_iq4_xs(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq4_xs"); i < nb; ++i, b += 136, out += kSuper) {
    const float d = half_at(b);
    const uint8_t* qs = b + 8;
    for (int ib = 0; ib < 8; ++ib) {
      const float dl = d * (float)iq4xs_scale(b, ib);
      for (int j = 0; j < 16; ++j) {
        out[32 * ib + j] = dl * (float)kIq4Values[qs[16 * ib + j] & 0xF];
        out[32 * ib + 16 + j] = dl * (float)kIq4Values[qs[16 * ib + j] >> 4];
      }
    }
  }
}

// IQ2_XXS: d, then per 32 weights two uint32: four 8-bit grid indices; four 7-bit sign groups and a
// 4-bit scale (top bits). Block scale d * (0.5 + s) / 4.
void dequant_iq2_xxs(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq2_xxs"); i < nb; ++i, b += 66, out += kSuper) {
    const float d = half_at(b);
    for (int ib = 0; ib < 8; ++ib) {
      const uint32_t idx = u32_at(b + 2 + 8 * ib), aux = u32_at(b + 2 + 8 * ib + 4);
      const float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l) {
        const uint64_t g = kIq2xxsGrid[(idx >> (8 * l)) & 0xFF];
        const uint8_t signs = iq_sign_byte((aux >> (7 * l)) & 127);
        put_signed_grid(out + 32 * ib + 8 * l, db, g, signs, 8);
      }
    }
  }
}

// IQ2_XS: d, 32 uint16 (9-bit grid index, 7-bit sign group), scales[8] (two 4-bit scales per 32).
void dequant_iq2_xs(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq2_xs"); i < nb; ++i, b += 74, out += kSuper) {
    const float d = half_at(b);
    const uint8_t* scales = b + 66;
    for (int ib = 0; ib < 8; ++ib) {
      const float db[2] = {d * (0.5f + (float)(scales[ib] & 0xF)) * 0.25f,
                           d * (0.5f + (float)(scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        const uint16_t q = u16_at(b + 2 + 2 * (4 * ib + l));
        const uint64_t g = kIq2xsGrid[q & 511];
        const uint8_t signs = iq_sign_byte(q >> 9);
        put_signed_grid(out + 32 * ib + 8 * l, db[l / 2], g, signs, 8);
      }
    }
  }
}

// IQ2_S: d, qs[32] (low 8 index bits), signs[32] (explicit sign bytes), qh[8] (2 high index bits per
// group of 8), scales[8].
void dequant_iq2_s(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq2_s"); i < nb; ++i, b += 82, out += kSuper) {
    const float d = half_at(b);
    const uint8_t *qs = b + 2, *signs = b + 34, *qh = b + 66, *scales = b + 74;
    for (int ib = 0; ib < 8; ++ib) {
      const float db[2] = {d * (0.5f + (float)(scales[ib] & 0xF)) * 0.25f,
                           d * (0.5f + (float)(scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        const int index = qs[4 * ib + l] | (((qh[ib] >> (2 * l)) & 3) << 8);
        const uint64_t g = kIq2sGrid[index];
        const uint8_t s = signs[4 * ib + l];
        put_signed_grid(out + 32 * ib + 8 * l, db[l / 2], g, s, 8);
      }
    }
  }
}

// IQ3_XXS: d, qs[64] (8-bit indices into a 4-wide grid, two per 8 weights), then per 32 weights a
// uint32 of four 7-bit sign groups and a 4-bit scale: d * (0.5 + s) / 2.
void dequant_iq3_xxs(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq3_xxs"); i < nb; ++i, b += 98, out += kSuper) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    for (int ib = 0; ib < 8; ++ib) {
      const uint32_t aux = u32_at(b + 66 + 4 * ib);
      const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l) {
        const uint8_t signs = iq_sign_byte((aux >> (7 * l)) & 127);
        for (int half = 0; half < 2; ++half) {
          const uint32_t g = kIq3xxsGrid[qs[8 * ib + 2 * l + half]];
          put_signed_grid(out + 32 * ib + 8 * l + 4 * half, db, g, (unsigned)signs >> (4 * half), 4);
        }
      }
    }
  }
}

// IQ3_S: d, qs[64] (low 8 index bits), qh[8] (9th index bit, one per 4 weights), signs[32], scales[4]
// (4-bit per 32 weights: d * (1 + 2 s)).
void dequant_iq3_s(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq3_s"); i < nb; ++i, b += 110, out += kSuper) {
    const float d = half_at(b);
    const uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74, *scales = b + 106;
    for (int ib = 0; ib < 8; ++ib) {
      const float db = d * (float)(1 + 2 * ((scales[ib / 2] >> (4 * (ib % 2))) & 0xF));
      for (int k = 0; k < 8; ++k) {  // 8 groups of 4 weights
        const int index = qs[8 * ib + k] | (((qh[ib] >> k) & 1) << 8);
        const uint32_t g = kIq3sGrid[index];
        const uint8_t s = signs[4 * ib + k / 2];
        put_signed_grid(out + 32 * ib + 4 * k, db, g, (unsigned)s >> (4 * (k % 2)), 4);
      }
    }
  }
}

// IQ1_S: d, qs[32] (low 8 index bits), qh[8] uint16 per 32 weights: 4 x 3 high index bits, a 3-bit
// scale (d * (2 s + 1)) and the sign of the grid shift (+-1/8).
void dequant_iq1_s(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq1_s"); i < nb; ++i, b += 50, out += kSuper) {
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    for (int ib = 0; ib < 8; ++ib) {
      const uint16_t h = u16_at(b + 34 + 2 * ib);
      const float dl = d * (float)(2 * ((h >> 12) & 7) + 1);
      const float delta = h & 0x8000 ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l) {
        const uint64_t g = kIq1sGrid[qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8)];
        for (int j = 0; j < 8; ++j) out[32 * ib + 8 * l + j] = dl * ((float)(int8_t)grid_byte(g, j) + delta);
      }
    }
  }
}

// IQ1_M: qs[32], qh[16] (per 8 weights: 3 high index bits + shift sign), scales[8] read as 4 uint16:
// 3-bit scales (d * (2 s + 1), one per 16 weights) in bits 0-11, the fp16 d spread over bits 12-15.
void dequant_iq1_m(const uint8_t* b, float* out, int64_t n) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq1_m"); i < nb; ++i, b += 56, out += kSuper) {
    const uint8_t *qs = b, *qh = b + 32;
    uint16_t sc[4];
    for (int k = 0; k < 4; ++k) sc[k] = u16_at(b + 48 + 2 * k);
    const uint16_t dbits =
        (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    const float d = fp16_to_f32(dbits);
    for (int ib = 0; ib < 8; ++ib) {
      for (int l = 0; l < 4; ++l) {  // 4 groups of 8 weights
        const int s = (sc[ib / 2] >> (6 * (ib % 2) + 3 * (l / 2))) & 7;
        const float dl = d * (float)(2 * s + 1);
        const uint8_t h = (uint8_t)(qh[2 * ib + l / 2] >> (4 * (l % 2)));  // this group's nibble
        const float delta = h & 0x08 ? -kIq1Delta : kIq1Delta;
        const uint64_t g = kIq1sGrid[qs[4 * ib + l] | ((h & 7) << 8)];
        for (int j = 0; j < 8; ++j) out[32 * ib + 8 * l + j] = dl * ((float)(int8_t)grid_byte(g, j) + delta);
      }
    }
  }
}

// ===================================================================================================
// Encoders

namespace {

// Legacy symmetric types (Q4_0: nmax 8, Q5_0: nmax 16), reference rule: d = max / -nmax, level =
// trunc(x / d + nmax + 0.5), at most 2 nmax - 1.
void legacy_symmetric_ref(const float* x, int nmax, uint8_t* L, float& d_out) {
  const float max = signed_absmax(x, 32);
  const float d = max / (float)-nmax;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) L[j] = (uint8_t)std::min(2 * nmax - 1, (int)(x[j] * id + ((float)nmax + 0.5f)));
  d_out = d;
}

// Legacy affine types (Q4_1: 15 steps, Q5_1: 31), reference rule: d = (max - min) / steps, level =
// trunc((x - min) / d + 0.5).
void legacy_affine_ref(const float* x, int steps, uint8_t* L, float& d_out, float& min_out) {
  float min = x[0], max = x[0];  // ggml starts from +-FLT_MAX; the same for finite x
  for (int j = 1; j < 32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / (float)steps;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) L[j] = (uint8_t)std::min(steps, (int)((x[j] - min) * id + 0.5f));
  d_out = d;
  min_out = min;
}

// Mean square of the row, the sigma^2 of the legacy types' importance weights.
float row_sigma2(const float* x, int64_t n) { return sum_squares(n, x) / (float)n; }

void legacy_symmetric_weighted(const float* x, const float* imp, float sigma2, int nmax, uint8_t* L, float& d) {
  float w[32];
  int8_t sl[32];
  importance_weights(32, x, imp, sigma2, w);
  d = fit_symmetric(32, nmax, x, sl, w);
  for (int j = 0; j < 32; ++j) L[j] = (uint8_t)sl[j];
}

void legacy_affine_weighted(const float* x, const float* imp, float sigma2, int nmax, uint8_t* L, float& d,
                            float& m) {
  float w[32], neg_min;
  importance_weights(32, x, imp, sigma2, w);
  d = fit_affine(32, nmax, x, w, L, &neg_min, -0.9f, 0.05f, 36, false);
  m = -neg_min;
}

}  // namespace

namespace {

// The legacy 32-weight blocks: Q4_0 / Q5_0 (d; codes - 8 or - 16) and Q4_1 / Q5_1 (d, m; codes + m/d),
// 4 low bits packed as nibbles after the scale(s) and, for the 5-bit types, the fifth bits before them.
template <int kBits, bool kAffine>
void quantize_legacy(const float* x, uint8_t* b, int64_t n, const float* imp, const char* name) {
  constexpr int nmax = kAffine ? (1 << kBits) - 1 : 1 << (kBits - 1);
  constexpr int head = kAffine ? 4 : 2, block_bytes = head + (kBits == 5 ? 4 : 0) + 16;
  const int64_t nb = blocks_of(n, 32, name);
  const float sigma2 = imp ? row_sigma2(x, n) : 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += 32, b += block_bytes) {
    uint8_t L[32];
    float d, m = 0;
    if constexpr (kAffine) {
      if (imp) legacy_affine_weighted(x, imp + 32 * i, sigma2, nmax, L, d, m);
      else legacy_affine_ref(x, nmax, L, d, m);
    } else {
      if (imp) legacy_symmetric_weighted(x, imp + 32 * i, sigma2, nmax, L, d);
      else legacy_symmetric_ref(x, nmax, L, d);
    }
    put_half(b, d);
    if constexpr (kAffine) put_half(b + 2, m);
    if constexpr (kBits == 5) {
      const uint32_t qh = fifth_bits_32(L);
      std::memcpy(b + head, &qh, 4);
    }
    pack_nibbles_32(L, b + block_bytes - 16);
  }
}

}  // namespace

void quantize_q4_0(const float* x, uint8_t* b, int64_t n, const float* imp) { quantize_legacy<4, false>(x, b, n, imp, "q4_0"); }
void quantize_q5_0(const float* x, uint8_t* b, int64_t n, const float* imp) { quantize_legacy<5, false>(x, b, n, imp, "q5_0"); }
void quantize_q4_1(const float* x, uint8_t* b, int64_t n, const float* imp) { quantize_legacy<4, true>(x, b, n, imp, "q4_1"); }
void quantize_q5_1(const float* x, uint8_t* b, int64_t n, const float* imp) { quantize_legacy<5, true>(x, b, n, imp, "q5_1"); }

// d = amax / 127, level = round(x / d) half away from zero. No weighted variant (ggml has none).
void quantize_q8_0(const float* x, uint8_t* b, int64_t n, const float*) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "q8_0"); i < nb; ++i, x += 32, b += 34) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(b, d);
    for (int j = 0; j < 32; ++j) b[2 + j] = (uint8_t)(int8_t)std::round(x[j] * id);
  }
}

// Q2_K. Reference: per 16 weights an affine fit (levels 0..3, weights |x|, error |e|); the 16 scales
// and 16 mins are each quantized to 4 bits against their maximum. Weighted: affine fits under
// importance weights, then the scales and mins themselves fitted with fit_positive under the summed
// weights. Both finish by re-deriving every level from the stored (rounded) scales.
void quantize_q2_k(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q2_k"); i < nb; ++i, x += kSuper, b += 84) {
    uint8_t L[kSuper];
    float scales[16], mins[16], w[16];
    uint8_t* sc = b;
    if (!imp) {
      float max_scale = 0, max_min = 0;
      for (int g = 0; g < 16; ++g) {
        for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * g + l]);
        scales[g] = fit_affine(16, 3, x + 16 * g, w, L + 16 * g, &mins[g], -0.5f, 0.1f, 15, true);
        if (scales[g] > max_scale) max_scale = scales[g];
        if (mins[g] > max_min) max_min = mins[g];
      }
      if (max_scale > 0) {
        const float iscale = 15.0f / max_scale;
        for (int g = 0; g < 16; ++g) sc[g] = (uint8_t)round_even(iscale * scales[g]);
        put_half(b + 80, max_scale / 15.0f);
      } else {
        std::fill(sc, sc + 16, (uint8_t)0);
        put_half(b + 80, 0.0f);
      }
      if (max_min > 0) {
        const float iscale = 15.0f / max_min;
        for (int g = 0; g < 16; ++g) sc[g] |= (uint8_t)(round_even(iscale * mins[g]) << 4);
        put_half(b + 82, max_min / 15.0f);
      } else {
        put_half(b + 82, 0.0f);
      }
    } else {
      const float sigma2 = sum_squares(kSuper, x) / (float)kSuper;
      float sw[16];
      for (int g = 0; g < 16; ++g) {
        importance_weights(16, x + 16 * g, imp + kSuper * i + 16 * g, sigma2, w);
        sw[g] = 0;
        for (int l = 0; l < 16; ++l) sw[g] += w[l];
        scales[g] = fit_affine(16, 3, x + 16 * g, w, L + 16 * g, &mins[g], -0.9f, 0.05f, 36, false);
      }
      uint8_t Ls[16], Lm[16];
      const float dm = fit_positive(16, 15, scales, Ls, sw);
      const float mm = fit_positive(16, 15, mins, Lm, sw);
      put_half(b + 80, dm);
      put_half(b + 82, mm);
      for (int g = 0; g < 16; ++g) sc[g] = (uint8_t)(Ls[g] | (Lm[g] << 4));
    }
    const float d = half_at(b + 80), dmin = half_at(b + 82);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)(sc[g] & 0xF);
      if (dl == 0.0f) continue;
      const float ml = dmin * (float)(sc[g] >> 4);
      for (int l = 0; l < 16; ++l) L[16 * g + l] = (uint8_t)std::clamp(round_even((x[16 * g + l] + ml) / dl), 0, 3);
    }
    pack_two_bits(L, b + 16);
  }
}

// Q3_K. Reference: per 16 weights a symmetric fit on levels -4..3 (coordinate descent, weights x^2);
// the 16 scales quantized to 6 bits against the largest-magnitude one. Weighted: fit_symmetric under
// importance weights, then the scales fitted the same way (levels -32..31, summed weights). Both
// re-derive the levels from the stored scales.
void quantize_q3_k(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q3_k"); i < nb; ++i, x += kSuper, b += 110) {
    int8_t L[kSuper];
    float scales[16];
    uint8_t *hmask = b, *qs = b + 32, *sc = b + 96;
    std::memset(sc, 0, 12);
    if (!imp) {
      float max_scale = 0, amax = 0;
      for (int g = 0; g < 16; ++g) {
        scales[g] = fit_symmetric_descent(16, 4, x + 16 * g, L + 16 * g);
        if (std::fabs(scales[g]) > amax) {
          amax = std::fabs(scales[g]);
          max_scale = scales[g];
        }
      }
      if (max_scale != 0.0f) {
        const float iscale = -32.0f / max_scale;
        for (int g = 0; g < 16; ++g) {
          const int8_t l = (int8_t)round_even(iscale * scales[g]);
          q3k_put_scale(sc, g, std::clamp((int)l, -32, 31) + 32);
        }
        put_half(b + 108, 1 / iscale);
      } else {
        put_half(b + 108, 0.0f);
      }
    } else {
      const float sigma2 = 2 * sum_squares(kSuper, x) / (float)kSuper;
      float w[16], sw[16];
      for (int g = 0; g < 16; ++g) {
        importance_weights(16, x + 16 * g, imp + kSuper * i + 16 * g, sigma2, w);
        sw[g] = 0;
        for (int l = 0; l < 16; ++l) sw[g] += w[l];
        scales[g] = fit_symmetric(16, 4, x + 16 * g, L + 16 * g, w);
      }
      int8_t Ls[16];
      const float d_block = fit_symmetric(16, 32, scales, Ls, sw);
      for (int g = 0; g < 16; ++g) q3k_put_scale(sc, g, Ls[g]);
      put_half(b + 108, d_block);
    }
    const float d = half_at(b + 108);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)q3k_scale(sc, g);
      if (dl == 0.0f) continue;
      for (int l = 0; l < 16; ++l) L[16 * g + l] = (int8_t)(std::clamp(round_even(x[16 * g + l] / dl), -4, 3) + 4);
    }
    // Levels 0..7: bit 2 goes to hmask (set = level >= 4), bits 0-1 to qs.
    std::memset(hmask, 0, 32);
    uint8_t low[kSuper];
    for (int w = 0; w < kSuper; ++w) {
      if (L[w] > 3) hmask[w % 32] |= (uint8_t)(1 << (w / 32));
      low[w] = (uint8_t)(L[w] > 3 ? L[w] - 4 : L[w]);
    }
    pack_two_bits(low, qs);
  }
}

namespace {

// Q4_K/Q5_K share everything but the level count (15 or 31) and the reference search's parameters.
void quantize_k4_scales(const float* x, const float* imp, int nmax, float ref_rmin, int ref_steps,
                        bool clamp_weighted, uint8_t* b /* d, dmin, scales[12] */, uint8_t* L) {
  float scales[8], mins[8], w[32];
  uint8_t ls[8], lm[8];
  if (!imp) {
    float max_scale = 0, max_min = 0;
    for (int g = 0; g < 8; ++g) {
      const float* xg = x + 32 * g;
      const float av_x = std::sqrt(sum_squares(32, xg) / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xg[l]);
      scales[g] = fit_affine(32, nmax, xg, w, L + 32 * g, &mins[g], ref_rmin, 0.1f, ref_steps, false);
      if (scales[g] > max_scale) max_scale = scales[g];
      if (mins[g] > max_min) max_min = mins[g];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int g = 0; g < 8; ++g) {
      ls[g] = std::min<uint8_t>(63, (uint8_t)round_even(inv_scale * scales[g]));
      lm[g] = std::min<uint8_t>(63, (uint8_t)round_even(inv_min * mins[g]));
    }
    put_half(b, max_scale / 63.0f);
    put_half(b + 2, max_min / 63.0f);
  } else {
    const float sigma2 = 2 * sum_squares(kSuper, x) / (float)kSuper;
    float sw[8];
    for (int g = 0; g < 8; ++g) {
      const float* xg = x + 32 * g;
      importance_weights(32, xg, imp + 32 * g, sigma2, w);
      sw[g] = 0;
      for (int l = 0; l < 32; ++l) sw[g] += w[l];
      scales[g] = fit_affine(32, nmax, xg, w, L + 32 * g, &mins[g], -0.9f, 0.05f, 36, false);
    }
    const float d_block = fit_positive(8, 63, scales, ls, sw);
    const float m_block = fit_positive(8, 63, mins, lm, sw);
    if (clamp_weighted) {  // ggml clamps here for Q5_K only; fit_positive never exceeds 63 anyway
      for (int g = 0; g < 8; ++g) {
        ls[g] = std::min<uint8_t>(63, ls[g]);
        lm[g] = std::min<uint8_t>(63, lm[g]);
      }
    }
    put_half(b, d_block);
    put_half(b + 2, m_block);
  }
  k4_put_scales(b + 4, ls, lm);
  const float d = half_at(b), dmin = half_at(b + 2);
  for (int g = 0; g < 8; ++g) {
    int sc, m;
    k4_scale_min(b + 4, g, sc, m);
    const float dl = d * (float)sc;
    if (dl == 0.0f) continue;
    const float ml = dmin * (float)m;
    for (int l = 0; l < 32; ++l) L[32 * g + l] = (uint8_t)std::clamp(round_even((x[32 * g + l] + ml) / dl), 0, nmax);
  }
}

}  // namespace

// Q4_K. Reference: per 32 weights an affine fit on levels 0..15 with weights rms(x) + |x|; the 8
// scales and 8 mins quantized to 6 bits against their maxima. Weighted: as Q2_K's weighted path.
void quantize_q4_k(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q4_k"); i < nb; ++i, x += kSuper, b += 144) {
    uint8_t L[kSuper];
    quantize_k4_scales(x, imp ? imp + kSuper * i : nullptr, 15, -1.0f, 20, false, b, L);
    uint8_t* qs = b + 16;
    for (int w = 0; w < kSuper; ++w) {
      uint8_t& byte = qs[32 * (w / 64) + w % 32];
      if ((w % 64) < 32)
        byte = L[w];
      else
        byte |= (uint8_t)(L[w] << 4);
    }
  }
}

void quantize_q5_k(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q5_k"); i < nb; ++i, x += kSuper, b += 176) {
    uint8_t L[kSuper];
    quantize_k4_scales(x, imp ? imp + kSuper * i : nullptr, 31, -0.5f, 15, true, b, L);
    uint8_t *qh = b + 16, *qs = b + 48;
    std::memset(qh, 0, 32);
    for (int w = 0; w < kSuper; ++w) {
      if (L[w] > 15) qh[w % 32] |= (uint8_t)(1 << (w / 32));
      const uint8_t lo = L[w] & 0xF;
      uint8_t& byte = qs[32 * (w / 64) + w % 32];
      if ((w % 64) < 32)
        byte = lo;
      else
        byte |= (uint8_t)(lo << 4);
    }
  }
}

// Q6_K. Per 16 weights a symmetric fit on levels -32..31 (weights x^2, or the importance itself --
// ggml uses the raw importance here, without the sigma term); int8 scales against the largest-magnitude
// one (-128 maps to it); levels re-derived from the stored scales.
void quantize_q6_k(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q6_k"); i < nb; ++i, x += kSuper, b += 210) {
    int8_t L[kSuper];
    float scales[16];
    float max_scale = 0, max_abs = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_symmetric(16, 32, x + 16 * g, L + 16 * g, imp ? imp + kSuper * i + 16 * g : nullptr);
      if (std::fabs(scales[g]) > max_abs) {
        max_abs = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    if (max_abs < kGroupEps) {
      std::memset(b, 0, 210);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    put_half(b + 208, 1 / iscale);
    int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
    for (int g = 0; g < 16; ++g) sc[g] = (int8_t)std::min(127, round_even(iscale * scales[g]));
    const float d = half_at(b + 208);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (float)sc[g];
      if (dl == 0.0f) continue;
      for (int l = 0; l < 16; ++l) L[16 * g + l] = (int8_t)(std::clamp(round_even(x[16 * g + l] / dl), -32, 31) + 32);
    }
    uint8_t *ql = b, *qh = b + 128;
    std::memset(ql, 0, 192);
    for (int w = 0; w < kSuper; ++w) {
      const int half = w / 128, quarter = (w % 128) / 32, l = w % 32;
      ql[64 * half + 32 * (quarter & 1) + l] |= (uint8_t)((L[w] & 0xF) << (quarter < 2 ? 0 : 4));
      qh[32 * half + l] |= (uint8_t)((L[w] >> 4) << (2 * quarter));
    }
  }
}

// Q8_K (the activation format of ggml's k-quant dot products): fp32 d = max / -127, levels
// round-half-even(x / d) capped at 127, bsums = sums of 16 levels.
void quantize_q8_k(const float* x, uint8_t* b, int64_t n, const float*) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "q8_k"); i < nb; ++i, x += kSuper, b += 292) {
    std::memset(b, 0, 292);
    float amax = 0, max = 0;
    for (int j = 0; j < kSuper; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) continue;
    const float iscale = -127.0f / max;
    int8_t* qs = reinterpret_cast<int8_t*>(b + 4);
    for (int j = 0; j < kSuper; ++j) qs[j] = (int8_t)std::min(127, round_even(iscale * x[j]));
    for (int g = 0; g < 16; ++g) {
      int16_t sum = 0;
      for (int l = 0; l < 16; ++l) sum = (int16_t)(sum + qs[16 * g + l]);
      std::memcpy(b + 260 + 2 * g, &sum, 2);
    }
    const float d = 1 / iscale;
    std::memcpy(b, &d, 4);
  }
}

namespace {

// IQ4_NL / IQ4_XS (ggml_quantize_chunk's search, 7 trial scales each side). For each 32-weight block:
// levels from scale max/-127, the least-squares scale for them, then the best of 15 scales
// (-127+t)/max by (sum w q x)^2 / sum w q^2; weights x^2 or importance * sqrt(sigma2 + x^2). IQ4_NL
// stores that scale as fp16 and re-picks levels with it; IQ4_XS quantizes the 8 block scales to 6
// bits against d = max/-32 and re-picks levels with each block's d * l.
void quantize_iq4(const float* x, const float* imp, int super, uint8_t* dh, uint16_t* scales_h, uint8_t* scales_l,
                  uint8_t* q4) {
  constexpr int kTries = 7;
  float sigma2 = sum_squares(super, x);
  sigma2 *= 2.0f / (float)super;
  const int nblk = super / 32;
  float scales[8], w[32];
  uint8_t L[kSuper];
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < nblk; ++ib) {
    const float* xb = x + 32 * ib;
    uint8_t* Lb = L + 32 * ib;
    if (imp)
      importance_weights(32, xb, imp + 32 * ib, sigma2, w);
    else
      for (int j = 0; j < 32; ++j) w[j] = xb[j] * xb[j];
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    if (amax < kGroupEps) {
      scales[ib] = 0;
      std::fill(Lb, Lb + 32, (uint8_t)iq4_nearest(0.0f));  // what re-picking with a zero scale gives
      continue;
    }
    float d = -max / (float)kIq4Values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const int l = iq4_nearest(id * xb[j]);
      Lb[j] = (uint8_t)l;
      const float q = (float)kIq4Values[l];
      sumqx += w[j] * q * xb[j];
      sumq2 += w[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int t = -kTries; t <= kTries; ++t) {
      id = (float)(t + kIq4Values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const float q = (float)kIq4Values[iq4_nearest(id * xb[j])];
        sumqx += w[j] * q * xb[j];
        sumq2 += w[j] * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    if (std::fabs(d) > amax_scale) {
      amax_scale = std::fabs(d);
      max_scale = d;
    }
  }
  if (nblk > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    put_half(dh, d);
    const float id = d != 0.0f ? 1 / d : 0.0f;
    for (int ib = 0; ib < nblk; ++ib) {
      const int l = std::clamp(round_even(id * scales[ib]), -32, 31);
      const float dl = d * (float)l;
      const float idl = dl != 0.0f ? 1 / dl : 0.0f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = (uint8_t)iq4_nearest(idl * x[32 * ib + j]);
      const int biased = l + 32;
      if (ib % 2 == 0)
        scales_l[ib / 2] = (uint8_t)(biased & 0xF);
      else
        scales_l[ib / 2] |= (uint8_t)((biased & 0xF) << 4);
      *scales_h |= (uint16_t)((biased >> 4) << (2 * ib));
    }
  } else {
    put_half(dh, scales[0]);
    const float id = scales[0] != 0.0f ? 1 / scales[0] : 0.0f;
    for (int j = 0; j < 32; ++j) L[j] = (uint8_t)iq4_nearest(id * x[j]);
  }
  for (int ib = 0; ib < nblk; ++ib) pack_nibbles_32(L + 32 * ib, q4 + 16 * ib);
}

}  // namespace

void quantize_iq4_nl(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, 32, "iq4_nl"); i < nb; ++i, x += 32, b += 18)
    quantize_iq4(x, imp ? imp + 32 * i : nullptr, 32, b, nullptr, nullptr, b + 2);
}

void quantize_iq4_xs(const float* x, uint8_t* b, int64_t n, const float* imp) {
  for (int64_t i = 0, nb = blocks_of(n, kSuper, "iq4_xs"); i < nb; ++i, x += kSuper, b += 136) {
    uint16_t sh;
    quantize_iq4(x, imp ? imp + kSuper * i : nullptr, kSuper, b, &sh, b + 4, b + 8);
    std::memcpy(b + 2, &sh, 2);
  }
}

// ===================================================================================================
// Table

namespace {

constexpr BlockType kTypes[] = {
    {"q4_0", "Q4_0", kQ4_0, 32, 18, dequant_q4_0, quantize_q4_0},
    {"q4_1", "Q4_1", kQ4_1, 32, 20, dequant_q4_1, quantize_q4_1},
    {"q5_0", "Q5_0", kQ5_0, 32, 22, dequant_q5_0, quantize_q5_0},
    {"q5_1", "Q5_1", kQ5_1, 32, 24, dequant_q5_1, quantize_q5_1},
    {"q8_0", "Q8_0", kQ8_0, 32, 34, dequant_q8_0, quantize_q8_0},
    {"q2_k", "Q2_K", kQ2_K, 256, 84, dequant_q2_k, quantize_q2_k},
    {"q3_k", "Q3_K", kQ3_K, 256, 110, dequant_q3_k, quantize_q3_k},
    {"q4_k", "Q4_K", kQ4_K, 256, 144, dequant_q4_k, quantize_q4_k},
    {"q5_k", "Q5_K", kQ5_K, 256, 176, dequant_q5_k, quantize_q5_k},
    {"q6_k", "Q6_K", kQ6_K, 256, 210, dequant_q6_k, quantize_q6_k},
    {"q8_k", "Q8_K", kQ8_K, 256, 292, dequant_q8_k, quantize_q8_k},
    {"iq2_xxs", "IQ2_XXS", kIQ2_XXS, 256, 66, dequant_iq2_xxs, nullptr},
    {"iq2_xs", "IQ2_XS", kIQ2_XS, 256, 74, dequant_iq2_xs, nullptr},
    {"iq3_xxs", "IQ3_XXS", kIQ3_XXS, 256, 98, dequant_iq3_xxs, nullptr},
    {"iq1_s", "IQ1_S", kIQ1_S, 256, 50, dequant_iq1_s, nullptr},
    {"iq4_nl", "IQ4_NL", kIQ4_NL, 32, 18, dequant_iq4_nl, quantize_iq4_nl},
    {"iq3_s", "IQ3_S", kIQ3_S, 256, 110, dequant_iq3_s, nullptr},
    {"iq2_s", "IQ2_S", kIQ2_S, 256, 82, dequant_iq2_s, nullptr},
    {"iq4_xs", "IQ4_XS", kIQ4_XS, 256, 136, dequant_iq4_xs, quantize_iq4_xs},
    {"iq1_m", "IQ1_M", kIQ1_M, 256, 56, dequant_iq1_m, nullptr},
};

}  // namespace

std::span<const BlockType> block_types() { return kTypes; }

const BlockType* find_block_type(uint32_t ggml_type) {
  for (const BlockType& t : kTypes)
    if (t.ggml_type == ggml_type) return &t;
  return nullptr;
}

const BlockType* find_block_type(std::string_view name) {
  for (const BlockType& t : kTypes)
    if (name == t.name || name == t.ggml_name) return &t;
  return nullptr;
}

int64_t row_bytes(const BlockType& t, int64_t n) { return blocks_of(n, t.block_weights, t.name) * t.block_bytes; }

}  // namespace sqz::kernels::gguf
