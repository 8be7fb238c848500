// The GPU engine's host side: buffers, the per-layer sequence of kernels and products, prefill in chunks,
// and the captured decode step.
#include "kernels/cuda/llama_engine.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cuda/cuda_host.h"
#include "kernels/cuda/engine_ops.h"

namespace sqz::kernels::cuda {

using namespace detail;

namespace {

// Prefill runs in chunks of at most this many tokens (bounds the activation buffers; attention over the
// cache makes chunks exact).
constexpr int64_t kChunk = 512;

bool same_kind(const DeviceMatrix& a, const DeviceMatrix& b) {
  return a.format == b.format && a.p.bits == b.p.bits && a.p.group == b.p.group && a.p.act == b.p.act &&
         a.cols == b.cols && (a.t[3].get() != nullptr) == (b.t[3].get() != nullptr) && !a.dense() && !b.dense();
}

void check_matrix(const DeviceMatrix& m, int64_t rows, int64_t cols, const char* what) {
  SQZ_CHECK(m.rows == rows && m.cols == cols, "GPU engine: {} is [{}, {}], expected [{}, {}]", what, m.rows, m.cols, rows,
            cols);
}

}  // namespace

LlamaEngine::LlamaEngine(const EngineConfig& c, EngineWeights w) : c_(c), w_(std::move(w)) {
  SQZ_CHECK(c.dim > 0 && c.hidden > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.vocab > 0 &&
                c.max_len > 0,
            "GPU engine: incomplete model dimensions");
  SQZ_CHECK(c.head_dim >= 2 && c.head_dim <= 256 && c.head_dim % 2 == 0,
            "GPU engine: head_dim {} is not supported (even, 2 to 256)", c.head_dim);
  SQZ_CHECK(c.n_heads % c.n_kv_heads == 0, "GPU engine: {} heads are not a multiple of {} kv heads", c.n_heads,
            c.n_kv_heads);
  SQZ_CHECK((int64_t)w_.layers.size() == c.n_layers, "GPU engine: {} layers given for {}", w_.layers.size(), c.n_layers);
  const int64_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim;
  for (const EngineLayer& L : w_.layers) {
    check_matrix(L.q, qd, c.dim, "q_proj");
    check_matrix(L.k, kvd, c.dim, "k_proj");
    check_matrix(L.v, kvd, c.dim, "v_proj");
    check_matrix(L.o, c.dim, qd, "o_proj");
    check_matrix(L.gate, c.hidden, c.dim, "gate_proj");
    check_matrix(L.up, c.hidden, c.dim, "up_proj");
    check_matrix(L.down, c.dim, c.hidden, "down_proj");
  }
  check_matrix(w_.head, c.vocab, c.dim, "lm_head");
  ctx_ = std::make_unique<Context>();
  chunk_ = std::min(kChunk, c.max_len);
  ld_dim_ = padded_cols(c.dim), ld_q_ = padded_cols(qd), ld_hid_ = padded_cols(c.hidden);
  const int64_t T = chunk_;
  auto zeroed = [](size_t bytes) {
    DeviceBuffer b(bytes);
    b.zero();
    return b;
  };
  x_ = zeroed((size_t)(T * c.dim) * 4);
  xn_ = zeroed((size_t)(T * ld_dim_) * 2);
  q_ = zeroed((size_t)(T * qd) * 4);
  knew_ = zeroed((size_t)(T * kvd) * 4);
  vnew_ = zeroed((size_t)(T * kvd) * 4);
  att_ = zeroed((size_t)(T * ld_q_) * 2);
  g_ = zeroed((size_t)(T * ld_hid_) * 2);
  logits_ = zeroed((size_t)(T * c.vocab) * 4);
  tok_ = zeroed((size_t)T * 4);
  pos_ = zeroed(4);
  hist_ = zeroed((size_t)c.max_len * 4);
  kcache_ = zeroed((size_t)(c.n_layers * c.max_len * kvd) * 4);
  vcache_ = zeroed((size_t)(c.n_layers * c.max_len * kvd) * 4);
  std::vector<float> freq((size_t)(c.head_dim / 2));
  for (int64_t i = 0; i < c.head_dim / 2; ++i)
    freq[(size_t)i] = (float)(1.0 / std::pow((double)c.rope_theta, (double)(2 * i) / (double)c.head_dim));
  freq_ = to_device(freq);
  const EngineLayer& L0 = w_.layers[0];
  qkv_fused_ = same_kind(L0.q, L0.k) && same_kind(L0.q, L0.v);
  gate_up_fused_ = same_kind(L0.gate, L0.up);
  for (const EngineLayer& L : w_.layers) {
    qkv_fused_ = qkv_fused_ && same_kind(L.q, L0.q) && same_kind(L.k, L0.q) && same_kind(L.v, L0.q);
    gate_up_fused_ = gate_up_fused_ && same_kind(L.gate, L.up);
  }
  if (!gate_up_fused_) {
    g32_ = zeroed((size_t)(T * c.hidden) * 4);
    u32_ = zeroed((size_t)(T * c.hidden) * 4);
  }
  // Workspaces for the largest product of any chunk, so nothing is allocated during graph capture.
  for (const EngineLayer& L : w_.layers)
    for (const DeviceMatrix* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) ctx_->reserve_for(*m, T);
  ctx_->reserve_for(w_.head, T);
  ctx_->sync();
}

LlamaEngine::~LlamaEngine() = default;

size_t LlamaEngine::weight_bytes() const {
  size_t b = w_.embed.bytes() + w_.final_norm.bytes() + w_.head.bytes();
  for (const EngineLayer& L : w_.layers) {
    b += L.attn_norm.bytes() + L.ffn_norm.bytes();
    for (const DeviceMatrix* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) b += m->bytes();
  }
  return b;
}

size_t LlamaEngine::decode_bytes_per_token() const {
  return weight_bytes() - w_.embed.bytes() + (size_t)c_.dim * 4;
}

void LlamaEngine::linear(const DeviceMatrix& m, const uint16_t* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
                         bool accumulate) {
  Product p;
  p.m = {&m, nullptr, nullptr};
  p.nmat = 1;
  p.x = x, p.ldx = ldx, p.n = n;
  p.y = {y, nullptr, nullptr};
  p.ldy = {ldy, 0, 0};
  p.epi = accumulate ? Epilogue::Accumulate : Epilogue::Store;
  run(*ctx_, p);
}

void LlamaEngine::layers_forward(int64_t n) {
  const bool pdl = cuda_tuning().pdl;
  CUstream_st* s = ctx_->stream();
  const int64_t qd = c_.n_heads * c_.head_dim, kvd = c_.n_kv_heads * c_.head_dim;
  float* x = x_.as<float>();
  uint16_t* xn = xn_.as<uint16_t>();
  float* q = q_.as<float>();
  check_cuda(launch_embed(tok_.as<int>(), n, w_.embed.as<float>(), c_.dim, x, s, pdl), "embedding");
  for (int64_t l = 0; l < c_.n_layers; ++l) {
    const EngineLayer& L = w_.layers[(size_t)l];
    float* kc = kcache_.as<float>() + (size_t)(l * c_.max_len * kvd);
    float* vc = vcache_.as<float>() + (size_t)(l * c_.max_len * kvd);
    check_cuda(launch_rmsnorm(x, L.attn_norm.as<float>(), n, c_.dim, c_.norm_eps, xn, ld_dim_, s, pdl), "RMSNorm");
    if (qkv_fused_) {
      Product p;
      p.m = {&L.q, &L.k, &L.v};
      p.nmat = 3;
      p.x = xn, p.ldx = ld_dim_, p.n = n;
      p.y = {q, knew_.as<float>(), vnew_.as<float>()};
      p.ldy = {qd, kvd, kvd};
      run(*ctx_, p);
    } else {
      linear(L.q, xn, ld_dim_, n, q, qd, false);
      linear(L.k, xn, ld_dim_, n, knew_.as<float>(), kvd, false);
      linear(L.v, xn, ld_dim_, n, vnew_.as<float>(), kvd, false);
    }
    check_cuda(launch_rope_append(q, knew_.as<float>(), vnew_.as<float>(), pos_.as<int>(), n, c_.n_heads, c_.n_kv_heads,
                                  c_.head_dim, freq_.as<float>(), c_.rope_interleaved, kc, vc, s, pdl),
               "RoPE");
    check_cuda(launch_attention(q, kc, vc, pos_.as<int>(), n, c_.n_heads, c_.n_kv_heads, c_.head_dim, att_.as<uint16_t>(),
                                ld_q_, s, pdl),
               "attention");
    linear(L.o, att_.as<uint16_t>(), ld_q_, n, x, c_.dim, true);
    check_cuda(launch_rmsnorm(x, L.ffn_norm.as<float>(), n, c_.dim, c_.norm_eps, xn, ld_dim_, s, pdl), "RMSNorm");
    if (gate_up_fused_) {
      Product p;
      p.m = {&L.gate, &L.up, nullptr};
      p.nmat = 2;
      p.x = xn, p.ldx = ld_dim_, p.n = n;
      p.epi = Epilogue::SwiGLU;
      p.out_h = g_.as<uint16_t>(), p.ldo = ld_hid_;
      run(*ctx_, p);
    } else {
      linear(L.gate, xn, ld_dim_, n, g32_.as<float>(), c_.hidden, false);
      linear(L.up, xn, ld_dim_, n, u32_.as<float>(), c_.hidden, false);
      check_cuda(launch_swiglu_f32(g32_.as<float>(), u32_.as<float>(), c_.hidden, nullptr, nullptr, n, c_.hidden,
                                   g_.as<uint16_t>(), ld_hid_, s, pdl),
                 "SwiGLU");
    }
    linear(L.down, g_.as<uint16_t>(), ld_hid_, n, x, c_.dim, true);
  }
}

void LlamaEngine::head_forward(int64_t n, bool all) {
  const bool pdl = cuda_tuning().pdl;
  const int64_t rows = all ? n : 1;
  const float* x = x_.as<float>() + (all ? 0 : (n - 1) * c_.dim);
  check_cuda(launch_rmsnorm(x, w_.final_norm.as<float>(), rows, c_.dim, c_.norm_eps, xn_.as<uint16_t>(), ld_dim_,
                            ctx_->stream(), pdl),
             "RMSNorm");
  linear(w_.head, xn_.as<uint16_t>(), ld_dim_, rows, logits_.as<float>(), c_.vocab, false);
}

void LlamaEngine::forward(const int* tokens, int64_t n, float* logits, bool all_logits) {
  SQZ_CHECK(n >= 1, "GPU engine: forward of {} tokens", n);
  SQZ_CHECK(len_ + n <= c_.max_len, "sequence of {} tokens exceeds the KV cache ({} positions)", len_ + n, c_.max_len);
  for (int64_t i = 0; i < n; ++i)
    SQZ_CHECK(tokens[i] >= 0 && tokens[i] < c_.vocab, "token id {} outside the vocabulary [0, {})", tokens[i], c_.vocab);
  CUstream_st* s = ctx_->stream();
  for (int64_t t0 = 0; t0 < n; t0 += chunk_) {
    const int64_t m = std::min(chunk_, n - t0);
    const int pos = (int)len_;
    check_cuda(cudaMemcpyAsync(tok_.get(), tokens + t0, (size_t)m * 4, cudaMemcpyHostToDevice, s), "token upload");
    check_cuda(cudaMemcpyAsync(pos_.get(), &pos, 4, cudaMemcpyHostToDevice, s), "position upload");
    layers_forward(m);
    const bool last = t0 + m == n;
    if (all_logits || last) {
      head_forward(m, all_logits);
      float* dst = all_logits ? logits + t0 * c_.vocab : logits;
      check_cuda(cudaMemcpyAsync(dst, logits_.get(), (size_t)((all_logits ? m : 1) * c_.vocab) * 4,
                                 cudaMemcpyDeviceToHost, s),
                 "logits download");
    }
    ctx_->sync();  // the host's token and position are read before they go out of scope
    len_ += m;
  }
}

LlamaEngine::Decode LlamaEngine::greedy_decode(int first, int64_t steps, bool graph) {
  SQZ_CHECK(steps >= 1 && len_ + steps <= c_.max_len, "greedy decode of {} steps from position {} exceeds the cache ({})",
            steps, len_, c_.max_len);
  SQZ_CHECK(first >= 0 && first < c_.vocab, "token id {} outside the vocabulary [0, {})", first, c_.vocab);
  CUstream_st* s = ctx_->stream();
  const int pos = (int)len_;
  check_cuda(cudaMemcpy(tok_.get(), &first, 4, cudaMemcpyHostToDevice), "token upload");
  check_cuda(cudaMemcpy(pos_.get(), &pos, 4, cudaMemcpyHostToDevice), "position upload");
  auto step = [&] {
    layers_forward(1);
    head_forward(1, false);
    check_cuda(launch_argmax(logits_.as<float>(), c_.vocab, tok_.as<int>(), pos_.as<int>(), hist_.as<int>(), s,
                             cuda_tuning().pdl),
               "argmax");
  };
  cudaGraphExec_t exec = nullptr;
  cudaGraph_t g = nullptr;
  if (graph) {
    check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    try {
      step();
    } catch (...) {
      cudaStreamEndCapture(s, &g);
      if (g) cudaGraphDestroy(g);
      throw;
    }
    check_cuda(cudaStreamEndCapture(s, &g), "cudaStreamEndCapture");
    check_cuda(cudaGraphInstantiate(&exec, g, 0), "cudaGraphInstantiate");
    check_cuda(cudaGraphUpload(exec, s), "cudaGraphUpload");
  }
  cudaEvent_t e0, e1;
  check_cuda(cudaEventCreate(&e0), "cudaEventCreate");
  check_cuda(cudaEventCreate(&e1), "cudaEventCreate");
  check_cuda(cudaEventRecord(e0, s), "cudaEventRecord");
  for (int64_t i = 0; i < steps; ++i) {
    if (graph) check_cuda(cudaGraphLaunch(exec, s), "cudaGraphLaunch");
    else step();
  }
  check_cuda(cudaEventRecord(e1, s), "cudaEventRecord");
  ctx_->sync();
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (exec) cudaGraphExecDestroy(exec);
  if (g) cudaGraphDestroy(g);
  Decode d;
  d.seconds = ms * 1e-3;
  d.tokens.resize((size_t)steps);
  hist_.download(d.tokens.data(), (size_t)steps * 4, (size_t)pos * 4);
  len_ += steps;
  return d;
}

}  // namespace sqz::kernels::cuda
