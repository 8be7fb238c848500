// The fused products of the packed formats for 1-16 tokens: LUT (SqueezeLLM, 2/3/4-bit, with its CSR part),
// uniform groups (RTN / GPTQ / AWQ, 2/3/4/8-bit, g_idx) and NF4 in fp16 tensor-core tiles, W8A8 in int8 ones.
//
// Work split: a block of 4 warps owns 8 output rows (the mma's n = 8) and walks the columns in steps of 512;
// warp w takes steps w, w + 4, ... and the block sums the 4 warps' partial tiles in a fixed order. (4 warps,
// not 8: at 80 registers six such blocks fit on an SM, so the 512 row groups of a 4096-row matrix run in one
// wave on 132 SMs instead of one and a third.) In a step,
// lane (g, q) = (lane / 4, lane % 4) reads 128 consecutive columns of row g (four 32-column units: 48 bytes
// at 3 bits, as three 16-byte loads), so the 4 lanes of a row read 512 contiguous bits per load and the
// weights are read exactly once. Because a dot product does not care about the order of k, the k-slots
// (2q, 2q+1, 2q+8, 2q+9) of k-tile j of a unit are its columns 4j..4j+3: the weight fragment b0 is the
// pair of columns (4j, 4j+1), b1 (4j+2, 4j+3), and the activation fragment of token g is 8 consecutive
// bytes of its fp16 row, read through L1.
//
// Decoding a pair of indices is one table lookup: a pair table in shared memory maps the 2b index bits of
// two columns to their two fp16 values (LUT: the row's codebook; group / NF4: the integer codes or NF4
// values, then scaled per group or block in half2 arithmetic). Each table is stored once per lane of the
// row's quad (copies = 4), so the 32 lanes of a lookup hit 32 different banks; a 4-bit LUT table is
// 256 entries x 8 rows x 4 copies = 32 KB per block, and cuda_tuning().lut4_table_copies = 1 trades bank
// conflicts for a quarter of the table building. Tables that do not depend on the row are built once per
// block, and blocks stay resident (a persistent grid) over the row groups.
#include "kernels/cpu/formats.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/device_args.h"
#include "kernels/cuda/pair_decode.h"

namespace sqz::kernels::cuda::detail {
namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32;
constexpr int kMaxTok = 16;

__constant__ float c_nf4[16];

// One pair-table entry: word e * 8C + (row * C + copy).
template <int C>
__device__ __forceinline__ uint32_t lookup(const char* tlane, uint32_t e) {
  return *reinterpret_cast<const uint32_t*>(tlane + (e << (5 + (C == 4 ? 2 : C == 2 ? 1 : 0))));
}

// ---- decoders: the 16 fp16 pairs of one lane's 32-column unit ----

struct NoUnit {};

template <int BITS>
struct LutDec {
  using Acc = float;
  static constexpr int kWPU = words_per_unit<BITS>(), kEntries = 1 << (2 * BITS);
  static constexpr bool kRowTables = true, kCsr = true;
  using Unit = NoUnit;
  static constexpr int stage_halves() { return kRows << BITS; }
  // Pair tables of rows row0..row0+7: entry e = (lut[e & (K-1)], lut[e >> BITS]).
  template <int C>
  __device__ static void build_row_tables(uint32_t* tbl, const MatArgs& m, int64_t row0, uint16_t* stage) {
    constexpr int K = 1 << BITS;
    const uint16_t* lut = static_cast<const uint16_t*>(m.t[1]);
    for (int i = threadIdx.x; i < kRows * K; i += kThreads) {
      const int64_t r = row0 + i / K;
      stage[i] = r < m.rows ? lut[r * K + (i % K)] : (uint16_t)0;
    }
    __syncthreads();
    constexpr int total = kEntries * kRows * C;
    for (int i = threadIdx.x; i < total; i += kThreads) {
      const int e = i / (kRows * C), r = (i % (kRows * C)) / C;
      tbl[i] = (uint32_t)stage[r * K + (e & (K - 1))] | ((uint32_t)stage[r * K + (e >> BITS)] << 16);
    }
  }
  __device__ static Unit unit(const MatArgs&, int64_t, int64_t, bool) { return {}; }
  template <int C>
  __device__ static uint32_t pair(const char* tlane, const uint32_t* w, int p, const Unit&, const MatArgs&, int64_t,
                                  int64_t) {
    return lookup<C>(tlane, pair_field<BITS>(w, p));
  }
};

// Uniform groups: w = (q - zero) * scale. PerCol: every column looks up its own group (g_idx, or a group
// size that is not a multiple of 32); else one group per 32-column unit.
template <int BITS, bool PerCol>
struct GroupDec {
  using Acc = float;
  static constexpr int kWPU = words_per_unit<BITS>(), kEntries = BITS == 8 ? 0 : 1 << (2 * BITS);
  static constexpr bool kRowTables = false, kCsr = true;
  static constexpr int stage_halves() { return 0; }
  struct Unit {
    __half2 s2, z2;
  };
  // Entry e = the integer codes (e & (K-1), e >> BITS) as fp16.
  template <int C>
  __device__ static void build_const_table(uint32_t* tbl) {
    if constexpr (kEntries > 0) {
      constexpr int total = kEntries * kRows * C, K = 1 << BITS;
      for (int i = threadIdx.x; i < total; i += kThreads) {
        const int e = i / (kRows * C);
        tbl[i] = h2_bits(__halves2half2(__int2half_rn(e & (K - 1)), __int2half_rn(e >> BITS)));
      }
    }
  }
  __device__ static Unit unit(const MatArgs& m, int64_t row, int64_t unit, bool ok) {
    Unit u;
    if constexpr (PerCol) {
      return u;
    } else {
      if (!ok) {
        u.s2 = u.z2 = __float2half2_rn(0.f);
        return u;
      }
      const int64_t gi = (unit * 32) / m.group, i = row * m.n_groups + gi;
      const __half s = __ushort_as_half(__ldg(static_cast<const unsigned short*>(m.t[1]) + i));
      const __half z = __ushort_as_half(__ldg(static_cast<const unsigned short*>(m.t[2]) + i));
      u.s2 = __halves2half2(s, s);
      u.z2 = __halves2half2(z, z);
      return u;
    }
  }
  // The codes of the pair as fp16 integers.
  template <int C>
  __device__ static __half2 codes(const char* tlane, const uint32_t* w, int p) {
    if constexpr (BITS == 8) {
      // 0x64XX is 1024 + XX in fp16.
      const uint32_t h = __byte_perm(w[p >> 1], 0x64646464u, (p & 1) ? 0x4342u : 0x4140u);
      return __hsub2(bits_h2(h), __float2half2_rn(1024.f));
    } else {
      return bits_h2(lookup<C>(tlane, pair_field<BITS>(w, p)));
    }
  }
  template <int C>
  __device__ static uint32_t pair(const char* tlane, const uint32_t* w, int p, const Unit& u, const MatArgs& m,
                                  int64_t row, int64_t unit) {
    const __half2 q = codes<C>(tlane, w, p);
    if constexpr (!PerCol) {
      return h2_bits(__hmul2(__hsub2(q, u.z2), u.s2));
    } else {
      const int32_t* gidx = static_cast<const int32_t*>(m.t[3]);
      const unsigned short* sc = static_cast<const unsigned short*>(m.t[1]);
      const unsigned short* zr = static_cast<const unsigned short*>(m.t[2]);
      __half v[2];
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int64_t c = unit * 32 + 2 * p + k;
        v[k] = __float2half_rn(0.f);
        if (c < m.cols && row < m.rows) {
          const int64_t gi = gidx ? (int64_t)__ldg(gidx + c) : c / m.group, i = row * m.n_groups + gi;
          const __half s = __ushort_as_half(__ldg(sc + i)), z = __ushort_as_half(__ldg(zr + i));
          v[k] = __hmul(__hsub(k ? __high2half(q) : __low2half(q), z), s);
        }
      }
      return h2_bits(__halves2half2(v[0], v[1]));
    }
  }
};

// NF4: w = NF4[q] * absmax[(row * cols + c) / block]; PerCol unless every 32-column unit lies in one block.
template <bool PerCol>
struct Nf4Dec {
  using Acc = float;
  static constexpr int kWPU = 4, kEntries = 256;
  static constexpr bool kRowTables = false, kCsr = true;
  static constexpr int stage_halves() { return 0; }
  struct Unit {
    __half2 a2;
  };
  template <int C>
  __device__ static void build_const_table(uint32_t* tbl) {
    constexpr int total = kEntries * kRows * C;
    for (int i = threadIdx.x; i < total; i += kThreads) {
      const int e = i / (kRows * C);
      tbl[i] = h2_bits(__floats2half2_rn(c_nf4[e & 15], c_nf4[e >> 4]));
    }
  }
  __device__ static Unit unit(const MatArgs& m, int64_t row, int64_t unit, bool ok) {
    Unit u;
    u.a2 = __float2half2_rn(0.f);
    if constexpr (!PerCol) {
      if (ok) u.a2 = __float2half2_rn(__ldg(static_cast<const float*>(m.t[1]) + (row * m.cols + unit * 32) / m.group));
    }
    return u;
  }
  template <int C>
  __device__ static uint32_t pair(const char* tlane, const uint32_t* w, int p, const Unit& u, const MatArgs& m,
                                  int64_t row, int64_t unit) {
    const __half2 v = bits_h2(lookup<C>(tlane, pair_field<4>(w, p)));
    if constexpr (!PerCol) {
      return h2_bits(__hmul2(v, u.a2));
    } else {
      const float* am = static_cast<const float*>(m.t[1]);
      float a[2];
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int64_t c = unit * 32 + 2 * p + k;
        a[k] = (c < m.cols && row < m.rows) ? __ldg(am + (row * m.cols + c) / m.group) : 0.f;
      }
      return h2_bits(__hmul2(v, __floats2half2_rn(a[0], a[1])));
    }
  }
};

// W words of one lane's chunk of row `row` (words [word0, word0 + W) of its row_words), zero past the row.
template <int W>
__device__ __forceinline__ void load_words(uint32_t (&w)[W], const uint32_t* row_base, int64_t word0, int64_t row_words,
                                           bool ok, bool vec) {
  if (ok && vec && word0 + W <= row_words) {
#pragma unroll
    for (int k = 0; k < W / 4; ++k) {
      const uint4 v = ld_stream_v4(row_base + word0 + 4 * k);
      w[4 * k] = v.x, w[4 * k + 1] = v.y, w[4 * k + 2] = v.z, w[4 * k + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) w[k] = (ok && word0 + k < row_words) ? ld_stream_u32(row_base + word0 + k) : 0u;
  }
}

// One step of one lane: its 4 units of row `row`, 32 mma tiles.
template <class Dec, int C>
__device__ __forceinline__ void fp16_step(float (&acc)[4], const MatArgs& m, bool row_ok, int64_t row, int64_t s, int g,
                                          int q, const char* tlane, const uint16_t* x, int64_t ldx, int n, int vec) {
  constexpr int WPU = Dec::kWPU, W = kUnitsPerLane * WPU;
  const int64_t unit0 = lane_unit0(s, q);
  uint32_t w[W];
  load_words<W>(w, static_cast<const uint32_t*>(m.t[0]) + row * m.row_words, unit0 * WPU, m.row_words, row_ok, vec);
  const int64_t nunits = (m.cols + 31) >> 5;
  const uint16_t* x0 = x + (int64_t)g * ldx;
  const uint16_t* x1 = x + (int64_t)(g + 8) * ldx;
#pragma unroll
  for (int i = 0; i < kUnitsPerLane; ++i) {
    const int64_t unit = unit0 + i;
    const typename Dec::Unit us = Dec::unit(m, row, unit, row_ok && unit < nunits);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint32_t b0 = Dec::template pair<C>(tlane, w + i * WPU, 2 * j, us, m, row, unit);
      const uint32_t b1 = Dec::template pair<C>(tlane, w + i * WPU, 2 * j + 1, us, m, row, unit);
      const int64_t col = tile_col(unit, j);
      uint2 xa = make_uint2(0u, 0u), xb = make_uint2(0u, 0u);
      if (g < n) xa = ld_act_v2(x0 + col);
      if (g + 8 < n) xb = ld_act_v2(x1 + col);
      mma_f16(acc, xa.x, xb.x, xa.y, xb.y, b0, b1);
    }
  }
}

// W8A8: 128 int8 weights per lane per step, 16 tiles of k = 32.
struct W8a8Dec {
  using Acc = int;
  static constexpr int kEntries = 0;
  static constexpr bool kRowTables = false, kCsr = false;
  static constexpr int stage_halves() { return 0; }
  template <int C>
  __device__ static void build_const_table(uint32_t*) {}
};

__device__ __forceinline__ void w8a8_step(int (&acc)[4], const MatArgs& m, bool row_ok, int64_t row, int64_t s, int g,
                                          int q, const int8_t* x, int64_t ldx, int n, int vec) {
  uint32_t w[32];
  const int64_t byte0 = i8_lane_col(s, q);
  const int8_t* rowp = static_cast<const int8_t*>(m.t[0]) + row * m.cols;
  if ((m.cols & 3) == 0) {
    load_words<32>(w, reinterpret_cast<const uint32_t*>(rowp), byte0 >> 2, m.cols >> 2, row_ok, vec);
  } else {
    const unsigned char* rb = reinterpret_cast<const unsigned char*>(rowp);
#pragma unroll
    for (int k = 0; k < 32; ++k) {
      uint32_t v = 0;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int64_t c = byte0 + 4 * k + b;
        if (row_ok && c < m.cols) v |= (uint32_t)__ldg(rb + c) << (8 * b);
      }
      w[k] = v;
    }
  }
  const int8_t* x0 = x + (int64_t)g * ldx;
  const int8_t* x1 = x + (int64_t)(g + 8) * ldx;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int64_t col = byte0 + 8 * j;
    uint2 xa = make_uint2(0u, 0u), xb = make_uint2(0u, 0u);
    if (g < n) xa = ld_act_v2(x0 + col);
    if (g + 8 < n) xb = ld_act_v2(x1 + col);
    mma_s8(acc, xa.x, xb.x, xa.y, xb.y, w[2 * j], w[2 * j + 1]);
  }
}

template <class Dec, int C>
constexpr int table_words() {
  return Dec::kEntries * kRows * C;
}
template <class Dec, int C>
constexpr size_t smem_bytes() {
  return (size_t)table_words<Dec, C>() * 4 + 2 * kWarps * 32 * 4 * 4 + 2 * kRows * kMaxTok * 4 +
         (size_t)Dec::stage_halves() * 2;
}

// The kernel: persistent over row groups; see the file comment.
template <class Dec, int C>
__global__ void __launch_bounds__(kThreads) fused_kernel(const __grid_constant__ GemvArgs a) {
  extern __shared__ __align__(16) uint32_t smem[];
  using Acc = typename Dec::Acc;
  uint32_t* tbl = smem;
  Acc* red = reinterpret_cast<Acc*>(smem + table_words<Dec, C>());             // [2][kWarps][32][4]
  float* csr_s = reinterpret_cast<float*>(red + 2 * kWarps * 32 * 4);          // [2][kRows][kMaxTok]
  uint16_t* stage = reinterpret_cast<uint16_t*>(csr_s + 2 * kRows * kMaxTok);  // LUT rows

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const char* tlane = reinterpret_cast<const char*>(tbl) + (g * C + (q & (C - 1))) * 4;
  if constexpr (!Dec::kRowTables) {
    Dec::template build_const_table<C>(tbl);
    __syncthreads();
  }
  const bool swiglu = a.epi == kSwiGLU;
  const int64_t total = swiglu ? (a.m[0].rows + kRows - 1) / kRows : a.row_group_begin[a.nmat];
  bool waited = false;
  for (int64_t rg = blockIdx.x; rg < total; rg += gridDim.x) {
    int mi = 0;
    if (!swiglu)
      while (mi + 1 < a.nmat && rg >= a.row_group_begin[mi + 1]) ++mi;
    const int64_t row0 = (rg - (swiglu ? 0 : a.row_group_begin[mi])) * kRows;
    const int passes = swiglu ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      const MatArgs& m = a.m[swiglu ? pass : mi];
      if constexpr (Dec::kRowTables) {
        __syncthreads();  // the previous pass's lookups are done
        Dec::template build_row_tables<C>(tbl, m, row0, stage);
        __syncthreads();
      }
      if (!waited) {
        pdl_wait();  // tables and weights are ours; the activations are the previous kernel's
        waited = true;
      }
      Acc acc[4] = {0, 0, 0, 0};
      const int64_t row = row0 + g;
      const bool row_ok = row < m.rows;
      const int64_t nsteps = (m.cols + kStepCols - 1) / kStepCols;
      for (int64_t s = warp; s < nsteps; s += kWarps) {
        if constexpr (Dec::kCsr)
          fp16_step<Dec, C>(acc, m, row_ok, row, s, g, q, tlane, static_cast<const uint16_t*>(a.x), a.ldx, a.n, a.vec);
        else
          w8a8_step(acc, m, row_ok, row, s, g, q, static_cast<const int8_t*>(a.x), a.ldx, a.n, a.vec);
      }
      Acc* r = red + ((pass * kWarps + warp) * 32 + lane) * 4;
      r[0] = acc[0], r[1] = acc[1], r[2] = acc[2], r[3] = acc[3];
      // The sparse part: warp w adds rows row0 + w, row0 + w + kWarps, ... for every token, each row's
      // entries spread over the lanes.
      if constexpr (Dec::kCsr) {
        const uint16_t* x = static_cast<const uint16_t*>(a.x);
        for (int rr = warp; rr < kRows; rr += kWarps) {
          const int64_t crow = row0 + rr;
          float cs[kMaxTok];
#pragma unroll
          for (int t = 0; t < kMaxTok; ++t) cs[t] = 0.f;
          if (m.csr_row_ptr && crow < m.rows) {
            const int32_t b = m.csr_row_ptr[crow], e = m.csr_row_ptr[crow + 1];
            for (int32_t i = b + lane; i < e; i += 32) {
              const int64_t c = m.csr_col[i];
              const float v = h_to_f(m.csr_val[i]);
#pragma unroll
              for (int t = 0; t < kMaxTok; ++t)
                if (t < a.n) cs[t] += v * h_to_f(x[t * a.ldx + c]);
            }
          }
#pragma unroll
          for (int t = 0; t < kMaxTok; ++t)
            if (t < a.n) {
              const float v = warp_sum(cs[t]);
              if (lane == 0) csr_s[(pass * kRows + rr) * kMaxTok + t] = v;
            }
        }
      }
    }
    if (rg + gridDim.x >= total) pdl_trigger();
    __syncthreads();
    if (threadIdx.x < 128) {
      const int l = threadIdx.x >> 2, i = threadIdx.x & 3;
      const int tok = acc_token(l, i), rr = acc_row(l, i);
      const int64_t orow = row0 + rr;
      float v[2] = {0.f, 0.f};
      for (int pass = 0; pass < passes; ++pass) {
        const MatArgs& m = a.m[swiglu ? pass : mi];
        Acc sum = 0;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += red[((pass * kWarps + w) * 32 + l) * 4 + i];
        float f;
        if constexpr (Dec::kCsr) {
          f = sum + (tok < a.n ? csr_s[(pass * kRows + rr) * kMaxTok + tok] : 0.f);
        } else {
          // The reference's order: (float)acc * x_scale * w_scale.
          f = (tok < a.n && orow < m.rows) ? (float)sum * a.xs[tok] * static_cast<const float*>(m.t[1])[orow] : 0.f;
        }
        if (m.bias && orow < m.rows) f += m.bias[orow];
        v[pass] = f;
      }
      const MatArgs& m0 = a.m[swiglu ? 0 : mi];
      if (tok < a.n && orow < m0.rows) {
        if (swiglu) {
          a.out_h[tok * a.ldo + orow] = f_to_h(v[0] / (1.0f + expf(-v[0])) * v[1]);
        } else {
          float* yp = m0.y + tok * m0.ldy + orow;
          *yp = a.epi == kAccumulate ? *yp + v[0] : v[0];
        }
      }
    }
    __syncthreads();  // red and csr_s are rewritten by the next row group
  }
}

template <class Dec, int C>
int launch_fused(const GemvArgs& a, cudaStream_t s, bool pdl) {
  auto k = fused_kernel<Dec, C>;
  constexpr size_t smem = smem_bytes<Dec, C>();
  static_assert(smem <= 48 * 1024, "fused kernel shared memory over the default 48 KB");
  const int64_t total = a.epi == kSwiGLU ? (a.m[0].rows + kRows - 1) / kRows : a.row_group_begin[a.nmat];
  const int grid = persistent_blocks(k, kThreads, smem, total);
  return launch(k, dim3(grid), dim3(kThreads), smem, s, pdl, a);
}

// ---- dequantize to fp16 (the prefill path's weights) ----

template <class Dec, int C>
__global__ void __launch_bounds__(kThreads) dequant_kernel(const __grid_constant__ MatArgs m, uint16_t* out) {
  extern __shared__ __align__(16) uint32_t smem[];
  uint32_t* tbl = smem;
  uint16_t* stage = reinterpret_cast<uint16_t*>(smem + table_words<Dec, C>());
  const int64_t row0 = (int64_t)blockIdx.x * kRows;
  if constexpr (Dec::kRowTables) Dec::template build_row_tables<C>(tbl, m, row0, stage);
  else Dec::template build_const_table<C>(tbl);
  __syncthreads();
  constexpr int WPU = Dec::kWPU;
  const int64_t nunits = (m.cols + 31) >> 5;
  for (int64_t it = threadIdx.x; it < kRows * nunits; it += kThreads) {
    const int r = (int)(it / nunits);
    const int64_t unit = it % nunits, row = row0 + r;
    if (row >= m.rows) continue;
    const char* tlane = reinterpret_cast<const char*>(tbl) + (r * C) * 4;
    uint32_t w[WPU];
    const uint32_t* src = static_cast<const uint32_t*>(m.t[0]) + row * m.row_words + unit * WPU;
#pragma unroll
    for (int k = 0; k < WPU; ++k) w[k] = __ldg(src + k);
    const typename Dec::Unit us = Dec::unit(m, row, unit, true);
    uint16_t* o = out + row * m.cols;
#pragma unroll
    for (int p = 0; p < 16; ++p) {
      const uint32_t h = Dec::template pair<C>(tlane, w, p, us, m, row, unit);
      const int64_t c = unit * 32 + 2 * p;
      if (c < m.cols) o[c] = (uint16_t)(h & 0xFFFFu);
      if (c + 1 < m.cols) o[c + 1] = (uint16_t)(h >> 16);
    }
  }
}

__global__ void w8a8_dequant_kernel(const __grid_constant__ MatArgs m, uint16_t* out) {
  const int8_t* q = static_cast<const int8_t*>(m.t[0]);
  const float* sc = static_cast<const float*>(m.t[1]);
  const int64_t total = m.rows * m.cols;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = f_to_h((float)q[i] * sc[i / m.cols]);
}

// Adds the CSR part in fp32 and rounds once (one thread per row, in entry order like csr_add_rows).
__global__ void csr_scatter_kernel(const __grid_constant__ MatArgs m, uint16_t* out) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= m.rows) return;
  for (int32_t i = m.csr_row_ptr[r]; i < m.csr_row_ptr[r + 1]; ++i) {
    uint16_t* o = out + r * m.cols + m.csr_col[i];
    *o = f_to_h(h_to_f(*o) + h_to_f(m.csr_val[i]));
  }
}

template <class Dec, int C>
int launch_dq(const MatArgs& m, uint16_t* out, cudaStream_t s) {
  const size_t smem = (size_t)table_words<Dec, C>() * 4 + (size_t)Dec::stage_halves() * 2;
  const unsigned grid = (unsigned)((m.rows + kRows - 1) / kRows);
  dequant_kernel<Dec, C><<<grid, kThreads, smem, s>>>(m, out);
  return (int)cudaGetLastError();
}

}  // namespace

int launch_lut_gemv(const GemvArgs& a, CUstream_st* s, bool pdl) {
  switch (a.m[0].bits) {
    case 2: return launch_fused<LutDec<2>, 4>(a, s, pdl);
    case 3: return launch_fused<LutDec<3>, 4>(a, s, pdl);
    case 4: return a.copies == 1 ? launch_fused<LutDec<4>, 1>(a, s, pdl) : launch_fused<LutDec<4>, 4>(a, s, pdl);
    default: return (int)cudaErrorInvalidValue;
  }
}

int launch_group_gemv(const GemvArgs& a, bool per_col, CUstream_st* s, bool pdl) {
  switch (a.m[0].bits) {
    case 2: return per_col ? launch_fused<GroupDec<2, true>, 4>(a, s, pdl) : launch_fused<GroupDec<2, false>, 4>(a, s, pdl);
    case 3: return per_col ? launch_fused<GroupDec<3, true>, 4>(a, s, pdl) : launch_fused<GroupDec<3, false>, 4>(a, s, pdl);
    case 4: return per_col ? launch_fused<GroupDec<4, true>, 4>(a, s, pdl) : launch_fused<GroupDec<4, false>, 4>(a, s, pdl);
    case 8: return per_col ? launch_fused<GroupDec<8, true>, 4>(a, s, pdl) : launch_fused<GroupDec<8, false>, 4>(a, s, pdl);
    default: return (int)cudaErrorInvalidValue;
  }
}

namespace {
int upload_nf4_codebook() {
  static const int err = (int)cudaMemcpyToSymbol(c_nf4, kNf4Codebook, sizeof(float) * 16);
  return err;
}
}  // namespace

int init_device_constants() { return upload_nf4_codebook(); }

int launch_nf4_gemv(const GemvArgs& a, bool per_col, CUstream_st* s, bool pdl) {
  if (const int e = upload_nf4_codebook()) return e;
  return per_col ? launch_fused<Nf4Dec<true>, 4>(a, s, pdl) : launch_fused<Nf4Dec<false>, 4>(a, s, pdl);
}

int launch_w8a8_gemv(const GemvArgs& a, CUstream_st* s, bool pdl) { return launch_fused<W8a8Dec, 1>(a, s, pdl); }

int launch_dequant(const MatArgs& m, int kind, uint16_t* out, CUstream_st* s) {
  int e = 0;
  switch (kind) {
    case kDqLut:
      e = m.bits == 2   ? launch_dq<LutDec<2>, 1>(m, out, s)
          : m.bits == 3 ? launch_dq<LutDec<3>, 1>(m, out, s)
                        : launch_dq<LutDec<4>, 1>(m, out, s);
      break;
    case kDqGroup:
    case kDqGroupPerColumn: {
      const bool pc = kind == kDqGroupPerColumn;
      switch (m.bits) {
        case 2: e = pc ? launch_dq<GroupDec<2, true>, 1>(m, out, s) : launch_dq<GroupDec<2, false>, 1>(m, out, s); break;
        case 3: e = pc ? launch_dq<GroupDec<3, true>, 1>(m, out, s) : launch_dq<GroupDec<3, false>, 1>(m, out, s); break;
        case 4: e = pc ? launch_dq<GroupDec<4, true>, 1>(m, out, s) : launch_dq<GroupDec<4, false>, 1>(m, out, s); break;
        default: e = pc ? launch_dq<GroupDec<8, true>, 1>(m, out, s) : launch_dq<GroupDec<8, false>, 1>(m, out, s); break;
      }
      break;
    }
    case kDqNf4:
    case kDqNf4PerColumn:
      if ((e = upload_nf4_codebook())) return e;
      e = kind == kDqNf4PerColumn ? launch_dq<Nf4Dec<true>, 1>(m, out, s) : launch_dq<Nf4Dec<false>, 1>(m, out, s);
      break;
    case kDqW8a8:
      w8a8_dequant_kernel<<<1024, 256, 0, s>>>(m, out);
      e = (int)cudaGetLastError();
      break;
    default: return (int)cudaErrorInvalidValue;
  }
  if (e) return e;
  if (m.csr_row_ptr) {
    csr_scatter_kernel<<<(unsigned)((m.rows + 255) / 256), 256, 0, s>>>(m, out);
    e = (int)cudaGetLastError();
  }
  return e;
}

}  // namespace sqz::kernels::cuda::detail
