// Internal: the scalar pieces of the GGUF block layouts that the reference decoders (gguf_blocks.cpp) and
// the SIMD kernels (gguf_kernels-inl.h) share: packed sub-block scales and the IQ4 grid. Internal linkage
// (anonymous namespace): the SIMD files compile these with their own instruction sets, and one shared
// inline copy could hand AVX-512 code to the scalar decoders (as in sparse_row.h).
#pragma once
#include <cstdint>
#include <cstring>

namespace sqz::kernels::gguf {
namespace {

// IQ4_NL/IQ4_XS code values (the format's 16-entry non-uniform grid).
constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// The packed sub-block scales are unpacked eight at a time, one value per byte of a uint64_t (value j in
// byte j), with 32-bit word operations: the SIMD kernels widen such a word to eight lanes at once, and the
// one-value accessors below read a byte of it, so each layout is written down once.

// Q4_K/Q5_K's eight 6-bit (scale, min) pairs in 12 bytes: pairs 0-3 in the low 6 bits of bytes 0-3
// (scale) and 4-7 (min); pairs 4-7 keep their low nibbles in bytes 8-11 (scale low, min high) and their
// two high bits in the top bits of bytes 0-3 (scale) and 4-7 (min).
inline void k4_scales_mins(const uint8_t* s, uint64_t& sc, uint64_t& m) {
  uint32_t a, b, c;
  std::memcpy(&a, s, 4);
  std::memcpy(&b, s + 4, 4);
  std::memcpy(&c, s + 8, 4);
  sc = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
  m = (b & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
}
inline void k4_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  uint64_t a, b;
  k4_scales_mins(s, a, b);
  sc = (int)((a >> (8 * j)) & 0xFF);
  m = (int)((b >> (8 * j)) & 0xFF);
}

// Q3_K's sixteen 6-bit scales in 12 bytes, stored +32: low nibbles of scale j in byte j % 8 (j < 8: low
// half, else high half), the two high bits in byte 8 + j % 4 at bit 2 * (j / 4). lo: scales 0-7, hi: 8-15,
// still biased by 32.
inline void q3k_scales(const uint8_t* s, uint64_t& lo, uint64_t& hi) {
  uint64_t nib;
  uint32_t h;
  std::memcpy(&nib, s, 8);
  std::memcpy(&h, s + 8, 4);
  const uint64_t h0 = (h & 0x03030303u) | (uint64_t)((h >> 2) & 0x03030303u) << 32;  // scales 0-7
  const uint64_t h1 = ((h >> 4) & 0x03030303u) | (uint64_t)((h >> 6) & 0x03030303u) << 32;  // 8-15
  lo = (nib & 0x0f0f0f0f0f0f0f0full) | h0 << 4;
  hi = ((nib >> 4) & 0x0f0f0f0f0f0f0f0full) | h1 << 4;
}
inline int q3k_scale(const uint8_t* s, int j) {
  uint64_t lo, hi;
  q3k_scales(s, lo, hi);
  return (int)(((j < 8 ? lo : hi) >> (8 * (j % 8))) & 0xFF) - 32;
}

// IQ4_XS's eight 6-bit block scales of a super-block b (d, scales_h, scales_l[4], qs), stored +32: the low
// nibble of block ib at bits 4 ib of scales_l, the two high bits at bits 2 ib of scales_h.
inline uint64_t iq4xs_scales(const uint8_t* b) {
  uint16_t sh;
  uint32_t sl;
  std::memcpy(&sh, b + 2, 2);
  std::memcpy(&sl, b + 4, 4);
  uint64_t v = 0;
  for (int ib = 0; ib < 8; ++ib) v |= (uint64_t)(((sl >> (4 * ib)) & 0xF) | (((uint32_t)sh >> (2 * ib)) & 3) << 4) << (8 * ib);
  return v;
}
inline int iq4xs_scale(const uint8_t* b, int ib) { return (int)((iq4xs_scales(b) >> (8 * ib)) & 0xFF) - 32; }

}  // namespace
}  // namespace sqz::kernels::gguf
