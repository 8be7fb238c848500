#include "model/backward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/format.h"

namespace sqz {

namespace {

// ---- dense products (OpenBLAS) ----

// Y[n, out] = X[n, in] W^T
void matmul(const float* X, const float* W, int n, int in, int out, float* Y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
}
void matmul(const double* X, const double* W, int n, int in, int out, double* Y) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0, X, in, W, in, 0.0, Y, out);
}
// dX[n, in] (+)= dY[n, out] W[out, in]
void matmul_dx(const float* dY, const float* W, int n, int in, int out, float* dX, bool acc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dY, out, W, in, acc ? 1.0f : 0.0f, dX, in);
}
void matmul_dx(const double* dY, const double* W, int n, int in, int out, double* dX, bool acc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0, dY, out, W, in, acc ? 1.0 : 0.0, dX, in);
}
// dW[out, in] = dY[n, out]^T X[n, in]
void matmul_dw(const float* dY, const float* X, int n, int in, int out, float* dW) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dY, out, X, in, 0.0f, dW, in);
}
void matmul_dw(const double* dY, const double* X, int n, int in, int out, double* dW) {
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0, dY, out, X, in, 0.0, dW, in);
}

template <typename T>
void linear_fwd(const std::vector<T>& X, const std::vector<T>& W, const std::vector<T>& b, int n, int in, int out,
                std::vector<T>& Y) {
  Y.resize((size_t)n * out);
  matmul(X.data(), W.data(), n, in, out, Y.data());
  if (!b.empty())
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) Y[(size_t)t * out + o] += b[(size_t)o];
}

// ---- element-wise pieces ----

template <typename T>
void rmsnorm_fwd(const std::vector<T>& x, const std::vector<T>& w, int n, int d, double eps, std::vector<T>& y,
                 std::vector<T>& inv) {
  y.resize(x.size());
  inv.resize((size_t)n);
  for (int t = 0; t < n; ++t) {
    const T* xt = &x[(size_t)t * d];
    double ss = 0;
    for (int i = 0; i < d; ++i) ss += (double)xt[i] * xt[i];
    const T r = (T)(1.0 / std::sqrt(ss / d + eps));
    inv[(size_t)t] = r;
    for (int i = 0; i < d; ++i) y[(size_t)t * d + i] = xt[i] * r * w[(size_t)i];
  }
}

// y = x * r * w with r = (mean(x^2) + eps)^-1/2:
//   dw_i += sum_t dy_i x_i r;   dx_i = r w_i dy_i - x_i r^3 / d * sum_j dy_j w_j x_j
template <typename T>
void rmsnorm_bwd(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& inv, const std::vector<T>& dy,
                 int n, int d, std::vector<T>& dx_acc, std::vector<T>& dw) {
  for (int t = 0; t < n; ++t) {
    const T* xt = &x[(size_t)t * d];
    const T* dyt = &dy[(size_t)t * d];
    const T r = inv[(size_t)t];
    double dot = 0;
    for (int i = 0; i < d; ++i) {
      dot += (double)dyt[i] * w[(size_t)i] * xt[i];
      dw[(size_t)i] += dyt[i] * xt[i] * r;
    }
    const T c = (T)(dot * (double)r * r * r / d);
    for (int i = 0; i < d; ++i) dx_acc[(size_t)t * d + i] += r * w[(size_t)i] * dyt[i] - xt[i] * c;
  }
}

// Rotates pairs by +angle (forward) or -angle (backward: the transpose of a rotation is its inverse).
template <typename T>
void rope_apply(std::vector<T>& v, int n, int heads, int hd, double theta, RopeLayout layout, bool inverse) {
  const int half = hd / 2;
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < half; ++i) {
      // Same frequency rounding as the inference path (model/ops.cpp): theta^(-2i/d) in fp32.
      const float freq = (float)(1.0 / std::pow(theta, (double)(2 * i) / hd));
      const double ang = (double)t * (double)freq;
      const T c = (T)std::cos(ang), s = (T)(inverse ? -std::sin(ang) : std::sin(ang));
      for (int h = 0; h < heads; ++h) {
        T* p = &v[((size_t)t * heads + h) * hd];
        const int a = layout == RopeLayout::RotateHalf ? i : 2 * i;
        const int b = layout == RopeLayout::RotateHalf ? i + half : 2 * i + 1;
        const T x0 = p[a], x1 = p[b];
        p[a] = x0 * c - x1 * s;
        p[b] = x0 * s + x1 * c;
      }
    }
}

template <typename T>
T sigmoid(T x) {
  return (T)1 / ((T)1 + std::exp(-x));
}

// Saved activations of one block.
template <typename T>
struct BlockActs {
  std::vector<T> x_in, inv1, xn1, q, k, v, probs, att, x_mid, inv2, xn2, g, u, h;
};

}  // namespace

template <typename T>
BlockTensors<T> BlockTensors<T>::zeros_like(const BlockTensors& b) {
  BlockTensors z;
  z.attn_norm.assign(b.attn_norm.size(), 0);
  z.ffn_norm.assign(b.ffn_norm.size(), 0);
  for (int s = 0; s < kNumSlots; ++s) {
    z.W[s].assign(b.W[s].size(), 0);
    z.bias[s].assign(b.bias[s].size(), 0);
  }
  return z;
}

template <typename T>
void BlockTensors<T>::zero() {
  std::fill(attn_norm.begin(), attn_norm.end(), 0);
  std::fill(ffn_norm.begin(), ffn_norm.end(), 0);
  for (int s = 0; s < kNumSlots; ++s) {
    std::fill(W[s].begin(), W[s].end(), 0);
    std::fill(bias[s].begin(), bias[s].end(), 0);
  }
}

template <typename T>
DenseWeights<T> DenseWeights<T>::from_model(const LlamaModel& m) {
  DenseWeights<T> w;
  w.cfg = m.config();
  const ModelConfig& c = w.cfg;
  auto conv = [](const std::vector<float>& f) { return std::vector<T>(f.begin(), f.end()); };
  std::vector<float> e((size_t)c.vocab_size * c.dim);
  kernels::tensor_rows_to_f32(m.embedding(), 0, c.vocab_size, e.data());
  w.embed = conv(e);
  for (const LayerWeights& L : m.layers()) {
    Layer l;
    l.attn_norm = conv(L.attn_norm);
    l.ffn_norm = conv(L.ffn_norm);
    for (int s = 0; s < kNumSlots; ++s) {
      l.W[s] = conv(L.linear[s]->dequantize());
      l.bias[s] = conv(L.linear[s]->bias());
    }
    w.layers.push_back(std::move(l));
  }
  w.final_norm = conv(m.final_norm());
  w.lm_head = conv(m.lm_head().dequantize());
  return w;
}

template <typename T>
Gradients<T>::Gradients(const DenseWeights<T>& w) {
  for (const auto& L : w.layers) layers.push_back(Layer::zeros_like(L));
  final_norm.assign(w.final_norm.size(), 0);
  lm_head.assign(w.lm_head.size(), 0);
}

template <typename T>
void Gradients<T>::zero() {
  for (auto& L : layers) L.zero();
  std::fill(final_norm.begin(), final_norm.end(), 0);
  std::fill(lm_head.begin(), lm_head.end(), 0);
  std::fill(embed.begin(), embed.end(), 0);
}

// The forward and backward pass shared by every loss on the logits: `loss_head(logits, dlogits)` sees the
// [n, vocab] logits, writes dL/dlogits into the zeroed [n, vocab] dlogits and returns the loss. The
// gradients go to `grad` (whole model) or, when it is null, to `sink` one layer at a time (GradientSink).
template <typename T, typename LossHead>
static double forward_backward(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, Gradients<T>* grad,
                               LossHead&& loss_head, GradientSink<T>* sink = nullptr) {
  const ModelConfig& c = w.cfg;
  const int n = (int)n_tokens, D = c.dim, H = c.hidden_dim, V = c.vocab_size;
  const int nh = c.n_heads, nkv = c.n_kv_heads, hd = c.head_dim, qd = c.q_dim(), kvd = c.kv_dim();
  const int group = nh / nkv;
  const T scale = (T)(1.0 / std::sqrt((double)hd));
  const double eps = c.norm_eps;
  SQZ_CHECK(n >= 2, "a training sequence needs at least 2 tokens, got {}", n);

  // ---------------- forward ----------------
  std::vector<T> x((size_t)n * D);
  for (int t = 0; t < n; ++t) {
    SQZ_CHECK(tokens[t] >= 0 && tokens[t] < V, "token id {} outside the vocabulary [0, {})", tokens[t], V);
    std::copy_n(&w.embed[(size_t)tokens[t] * D], D, &x[(size_t)t * D]);
  }
  std::vector<BlockActs<T>> acts((size_t)c.n_layers);
  std::vector<T> tmp;
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& L = w.layers[(size_t)l];
    BlockActs<T>& a = acts[(size_t)l];
    a.x_in = x;
    rmsnorm_fwd(x, L.attn_norm, n, D, eps, a.xn1, a.inv1);
    linear_fwd(a.xn1, L.W[kQ], L.bias[kQ], n, D, qd, a.q);
    linear_fwd(a.xn1, L.W[kK], L.bias[kK], n, D, kvd, a.k);
    linear_fwd(a.xn1, L.W[kV], L.bias[kV], n, D, kvd, a.v);
    rope_apply(a.q, n, nh, hd, c.rope_theta, c.rope_layout, false);
    rope_apply(a.k, n, nkv, hd, c.rope_theta, c.rope_layout, false);
    // Causal attention; probs[h][t][j] saved for the backward pass.
    a.probs.assign((size_t)nh * n * n, 0);
    a.att.assign((size_t)n * qd, 0);
    parallel_for(nh, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const int g = (int)h / group;
        for (int t = 0; t < n; ++t) {
          T* p = &a.probs[((size_t)h * n + t) * n];
          const T* qt = &a.q[(size_t)t * qd + h * hd];
          T mx = -INFINITY;
          for (int j = 0; j <= t; ++j) {
            T s = 0;
            const T* kj = &a.k[(size_t)j * kvd + g * hd];
            for (int e = 0; e < hd; ++e) s += qt[e] * kj[e];
            p[j] = s * scale;
            mx = std::max(mx, p[j]);
          }
          T sum = 0;
          for (int j = 0; j <= t; ++j) sum += (p[j] = std::exp(p[j] - mx));
          for (int j = 0; j <= t; ++j) p[j] /= sum;
          T* o = &a.att[(size_t)t * qd + h * hd];
          for (int j = 0; j <= t; ++j) {
            const T* vj = &a.v[(size_t)j * kvd + g * hd];
            for (int e = 0; e < hd; ++e) o[e] += p[j] * vj[e];
          }
        }
      }
    });
    linear_fwd(a.att, L.W[kO], L.bias[kO], n, qd, D, tmp);
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    a.x_mid = x;
    rmsnorm_fwd(x, L.ffn_norm, n, D, eps, a.xn2, a.inv2);
    linear_fwd(a.xn2, L.W[kGate], L.bias[kGate], n, D, H, a.g);
    linear_fwd(a.xn2, L.W[kUp], L.bias[kUp], n, D, H, a.u);
    a.h.resize(a.g.size());
    for (size_t i = 0; i < a.h.size(); ++i) a.h[i] = a.g[i] * sigmoid(a.g[i]) * a.u[i];
    linear_fwd(a.h, L.W[kDown], L.bias[kDown], n, H, D, tmp);
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
  }
  std::vector<T> xnf, invf, logits;
  rmsnorm_fwd(x, w.final_norm, n, D, eps, xnf, invf);
  logits.resize((size_t)n * V);
  matmul(xnf.data(), w.lm_head.data(), n, D, V, logits.data());

  std::vector<T> dlogits((size_t)n * V, 0);
  const double loss = loss_head(logits, dlogits);
  if (!grad && !sink) return loss;

  // ---------------- backward ----------------
  // Streaming: one layer's buffers (every layer has the same shapes), zeroed before each layer so the
  // accumulating pieces (norms, biases) see exactly what a zeroed whole-model Gradients gives them.
  typename Gradients<T>::Layer stream_layer;
  std::vector<T> stream_lm_head, stream_final_norm;
  if (grad) {
    grad->zero();
  } else {
    stream_layer = Gradients<T>::Layer::zeros_like(w.layers[0]);
    stream_lm_head.assign(w.lm_head.size(), 0);
    stream_final_norm.assign(w.final_norm.size(), 0);
  }
  std::vector<T>& g_lm_head = grad ? grad->lm_head : stream_lm_head;
  std::vector<T>& g_final_norm = grad ? grad->final_norm : stream_final_norm;
  std::vector<T> dxnf((size_t)n * D);
  matmul_dw(dlogits.data(), xnf.data(), n, D, V, g_lm_head.data());
  matmul_dx(dlogits.data(), w.lm_head.data(), n, D, V, dxnf.data(), false);
  std::vector<T> dx((size_t)n * D, 0);
  rmsnorm_bwd(x, w.final_norm, invf, dxnf, n, D, dx, g_final_norm);
  if (sink) sink->head(g_lm_head, g_final_norm);

  std::vector<T> dh, dg, du, dxn, datt, dq, dk, dv;
  for (int l = c.n_layers - 1; l >= 0; --l) {
    const auto& L = w.layers[(size_t)l];
    auto& GL = grad ? grad->layers[(size_t)l] : stream_layer;
    if (!grad) GL.zero();
    const BlockActs<T>& a = acts[(size_t)l];
    auto bias_grad = [&](int s, const std::vector<T>& dy, int out) {
      if (GL.bias[s].empty()) return;
      for (int t = 0; t < n; ++t)
        for (int o = 0; o < out; ++o) GL.bias[s][(size_t)o] += dy[(size_t)t * out + o];
    };
    // MLP: x_out = x_mid + down(silu(gate(xn2)) * up(xn2))
    dh.resize((size_t)n * H);
    matmul_dw(dx.data(), a.h.data(), n, H, D, GL.W[kDown].data());
    bias_grad(kDown, dx, D);
    matmul_dx(dx.data(), L.W[kDown].data(), n, H, D, dh.data(), false);
    dg.resize(dh.size());
    du.resize(dh.size());
    for (size_t i = 0; i < dh.size(); ++i) {
      const T s = sigmoid(a.g[i]);
      du[i] = dh[i] * a.g[i] * s;
      dg[i] = dh[i] * a.u[i] * s * ((T)1 + a.g[i] * ((T)1 - s));
    }
    matmul_dw(dg.data(), a.xn2.data(), n, D, H, GL.W[kGate].data());
    matmul_dw(du.data(), a.xn2.data(), n, D, H, GL.W[kUp].data());
    bias_grad(kGate, dg, H);
    bias_grad(kUp, du, H);
    dxn.resize((size_t)n * D);
    matmul_dx(dg.data(), L.W[kGate].data(), n, D, H, dxn.data(), false);
    matmul_dx(du.data(), L.W[kUp].data(), n, D, H, dxn.data(), true);
    rmsnorm_bwd(a.x_mid, L.ffn_norm, a.inv2, dxn, n, D, dx, GL.ffn_norm);  // dx now d(x_mid)

    // Attention: x_mid = x_in + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1)))
    datt.resize((size_t)n * qd);
    matmul_dw(dx.data(), a.att.data(), n, qd, D, GL.W[kO].data());
    bias_grad(kO, dx, D);
    matmul_dx(dx.data(), L.W[kO].data(), n, qd, D, datt.data(), false);
    dq.assign((size_t)n * qd, 0);
    dk.assign((size_t)n * kvd, 0);
    dv.assign((size_t)n * kvd, 0);
    // Heads sharing a kv head add into the same dk/dv rows: parallelise over kv heads.
    parallel_for(nkv, 1, [&](int64_t g0, int64_t g1) {
      std::vector<T> dp((size_t)n);
      for (int64_t g = g0; g < g1; ++g)
        for (int h = (int)g * group; h < (int)(g + 1) * group; ++h)
          for (int t = 0; t < n; ++t) {
            const T* p = &a.probs[((size_t)h * n + t) * n];
            const T* dot = &datt[(size_t)t * qd + h * hd];
            T sum = 0;
            for (int j = 0; j <= t; ++j) {
              const T* vj = &a.v[(size_t)j * kvd + g * hd];
              T* dvj = &dv[(size_t)j * kvd + g * hd];
              T s = 0;
              for (int e = 0; e < hd; ++e) {
                s += dot[e] * vj[e];
                dvj[e] += p[j] * dot[e];
              }
              dp[(size_t)j] = s;
              sum += p[j] * s;
            }
            const T* qt = &a.q[(size_t)t * qd + h * hd];
            T* dqt = &dq[(size_t)t * qd + h * hd];
            for (int j = 0; j <= t; ++j) {
              const T ds = p[j] * (dp[(size_t)j] - sum) * scale;
              const T* kj = &a.k[(size_t)j * kvd + g * hd];
              T* dkj = &dk[(size_t)j * kvd + g * hd];
              for (int e = 0; e < hd; ++e) {
                dqt[e] += ds * kj[e];
                dkj[e] += ds * qt[e];
              }
            }
          }
    });
    rope_apply(dq, n, nh, hd, c.rope_theta, c.rope_layout, true);
    rope_apply(dk, n, nkv, hd, c.rope_theta, c.rope_layout, true);
    matmul_dw(dq.data(), a.xn1.data(), n, D, qd, GL.W[kQ].data());
    matmul_dw(dk.data(), a.xn1.data(), n, D, kvd, GL.W[kK].data());
    matmul_dw(dv.data(), a.xn1.data(), n, D, kvd, GL.W[kV].data());
    bias_grad(kQ, dq, qd);
    bias_grad(kK, dk, kvd);
    bias_grad(kV, dv, kvd);
    matmul_dx(dq.data(), L.W[kQ].data(), n, D, qd, dxn.data(), false);
    matmul_dx(dk.data(), L.W[kK].data(), n, D, kvd, dxn.data(), true);
    matmul_dx(dv.data(), L.W[kV].data(), n, D, kvd, dxn.data(), true);
    rmsnorm_bwd(a.x_in, L.attn_norm, a.inv1, dxn, n, D, dx, GL.attn_norm);  // dx now d(x_in)
    if (sink) sink->layer(l, GL);
  }
  // dx is now dL/d(embedding rows): scatter-add it into the table when the caller asked for it.
  if (grad && !grad->embed.empty())
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < D; ++i) grad->embed[(size_t)tokens[t] * D + i] += dx[(size_t)t * D + i];
  return loss;
}

namespace {

// log sum_j exp(l[j]), accumulated in double.
template <typename T>
double log_sum_exp_d(const T* l, int V) {
  const T mx = *std::max_element(l, l + V);
  double sum = 0;
  for (int j = 0; j < V; ++j) sum += std::exp((double)(l[j] - mx));
  return (double)mx + std::log(sum);
}

}  // namespace

// Cross-entropy; dlogits = (softmax - onehot) / (n - 1) for scored positions.
template <typename T>
static auto cross_entropy_head(const int* tokens, int n, int V) {
  return [=](const std::vector<T>& logits, std::vector<T>& dlogits) {
    double loss = 0;
    for (int t = 0; t + 1 < n; ++t) {
      const T* lt = &logits[(size_t)t * V];
      const double lse = log_sum_exp_d(lt, V);
      loss += lse - (double)lt[tokens[t + 1]];
      T* d = &dlogits[(size_t)t * V];
      for (int j = 0; j < V; ++j) d[j] = (T)(std::exp((double)lt[j] - lse) / (n - 1));
      d[tokens[t + 1]] -= (T)(1.0 / (n - 1));
    }
    return loss / (n - 1);
  };
}

template <typename T>
double loss_and_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, Gradients<T>* grad) {
  return forward_backward(w, tokens, n_tokens, grad, cross_entropy_head<T>(tokens, (int)n_tokens, w.cfg.vocab_size));
}

template <typename T>
double loss_and_streamed_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, GradientSink<T>& sink) {
  return forward_backward(w, tokens, n_tokens, (Gradients<T>*)nullptr,
                          cross_entropy_head<T>(tokens, (int)n_tokens, w.cfg.vocab_size), &sink);
}

template <typename T>
double kd_loss_and_grad(const DenseWeights<T>& w, const int* tokens, int64_t n_tokens, const T* teacher_logits,
                        Gradients<T>* grad) {
  const int n = (int)n_tokens, V = w.cfg.vocab_size;
  // KL(p || q) = sum_j p_j (log p_j - log q_j) with p the teacher's and q the student's softmax; the
  // teacher's entropy does not depend on the student, so dKL/dlogit_j = q_j - p_j (over n - 1 positions).
  return forward_backward(w, tokens, n_tokens, grad, [&](const std::vector<T>& logits, std::vector<T>& dlogits) {
    double loss = 0;
    for (int t = 0; t + 1 < n; ++t) {
      const T* lq = &logits[(size_t)t * V];
      const T* lp = teacher_logits + (size_t)t * V;
      const double lse_q = log_sum_exp_d(lq, V), lse_p = log_sum_exp_d(lp, V);
      T* d = &dlogits[(size_t)t * V];
      for (int j = 0; j < V; ++j) {
        const double log_p = (double)lp[j] - lse_p, log_q = (double)lq[j] - lse_q;
        const double p = std::exp(log_p);
        loss += p * (log_p - log_q);
        d[j] = (T)((std::exp(log_q) - p) / (n - 1));
      }
    }
    return loss / (n - 1);
  });
}

template struct BlockTensors<float>;
template struct BlockTensors<double>;
template struct DenseWeights<float>;
template struct DenseWeights<double>;
template struct Gradients<float>;
template struct Gradients<double>;
template double loss_and_grad<float>(const DenseWeights<float>&, const int*, int64_t, Gradients<float>*);
template double loss_and_grad<double>(const DenseWeights<double>&, const int*, int64_t, Gradients<double>*);
template double loss_and_streamed_grad<float>(const DenseWeights<float>&, const int*, int64_t, GradientSink<float>&);
template double loss_and_streamed_grad<double>(const DenseWeights<double>&, const int*, int64_t, GradientSink<double>&);
template double kd_loss_and_grad<float>(const DenseWeights<float>&, const int*, int64_t, const float*, Gradients<float>*);
template double kd_loss_and_grad<double>(const DenseWeights<double>&, const int*, int64_t, const double*,
                                         Gradients<double>*);

}  // namespace sqz
