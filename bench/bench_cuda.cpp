// CUDA benchmarks (issue #16), one run, one markdown table:
//   1. the measured device-to-device copy bandwidth (bytes read + written / time, as METHOD.md counts it);
//   2. single-token products at LLaMA-7B's 4096x4096, 11008x4096, 4096x11008 and the 70B's 8192x8192,
//      28672x8192 (rows x cols) in cuBLAS fp16 (the baseline), LUT 3/4-bit (dense and with a 0.45 % CSR
//      part), 4-bit groups of 128, 3-bit groups of 128 and W8A8: microseconds, GB/s of weight bytes read,
//      % of the copy bandwidth, speed-up over cuBLAS fp16 of the same shape; plus the 1-16 token variant;
//   3. greedy decode of a 7B-shaped model (32 layers, dim 4096, hidden 11008, vocab 32000) with random
//      weights made on the device: fp16, LUT 3-bit (+CSR), LUT 4-bit, 4-bit groups: tokens/s;
//   4. with --ppl MODEL_DIR TEXT: perplexity of the model (dense, and its LUT 3-bit reference encoding with a
//      CSR part) on the CPU path and the GPU path over the same windows, and their relative difference.
// Each product is timed from a CUDA graph of back-to-back launches rotating over copies of its matrix that
// together hold >= 8 times the L2, so every launch streams its weights from HBM; the median of 5 replays.
//
//   bench_cuda [--quick] [--out FILE] [--ppl MODEL_DIR TEXT [--ppl-windows N]] [--skip-decode]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mmap.h"
#include "cuda_test_util.h"
#include "eval/perplexity.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/llama_engine.h"
#include "model/cuda_engine.h"
#include "model/ops.h"
#include "tokenizer/tokenizer.h"

using namespace sqz;
namespace kc = sqz::kernels::cuda;

namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("{}: {}", what, cudaGetErrorString(e));
}

std::string report;
void out(const std::string& s) {
  std::fputs(s.c_str(), stdout);
  std::fflush(stdout);
  report += s;
}

// Median seconds of one replay of fn's launches captured as a graph.
double time_graph(kc::Context& ctx, const std::function<void()>& fn, int replays = 5) {
  cudaStream_t s = ctx.stream();
  fn();  // warm-up outside the graph (module load, workspaces)
  ctx.sync();
  cudaGraph_t g;
  cudaGraphExec_t ex;
  ck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
  fn();
  ck(cudaStreamEndCapture(s, &g), "end capture");
  ck(cudaGraphInstantiate(&ex, g, 0), "instantiate");
  ck(cudaGraphLaunch(ex, s), "graph launch");
  ctx.sync();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> t;
  for (int r = 0; r < replays; ++r) {
    cudaEventRecord(a, s);
    ck(cudaGraphLaunch(ex, s), "graph launch");
    cudaEventRecord(b, s);
    ctx.sync();
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms * 1e-3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(ex);
  cudaGraphDestroy(g);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double copy_bandwidth(kc::Context& ctx) {
  const size_t bytes = size_t{2} << 30;
  kc::DeviceBuffer a(bytes), b(bytes);
  kc::fill_random_u32(a.get(), bytes / 4, 1, ctx.stream());
  const double t = time_graph(ctx, [&] {
    for (int i = 0; i < 5; ++i) ck(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, ctx.stream()), "copy");
  });
  return 2.0 * (double)bytes * 5 / t;
}

// A random matrix of a format made on the device (indices, tables, scales: uniform random; valid by
// construction), as its stored tensors.
struct Spec {
  std::string name;    // column label
  std::string format;  // row name or "f16"
  int bits = 0;
  int64_t group = 0;
  double csr = 0;  // fraction of weights in the CSR part
  int lut4_copies = 4;
};

kc::DeviceMatrix random_matrix(const Spec& s, int64_t rows, int64_t cols, uint64_t seed) {
  kc::DeviceMatrix d;
  if (s.format == "f16") {
    d = kc::upload_f16_bits(nullptr, rows, cols);
    kc::fill_random_f16(d.t[0].get(), (size_t)(rows * cols), -0.05f, 0.05f, seed);
    return d;
  }
  d.format = s.format;
  d.rows = rows, d.cols = cols;
  d.p.bits = s.bits;
  d.p.group = s.group;
  if (s.format == "lut" || s.format == "group") {
    const size_t words = (size_t)(rows * kernels::packed_words_per_row(s.bits, cols));
    d.t[0] = kc::DeviceBuffer(words * 4);
    kc::fill_random_u32(d.t[0].get(), words, seed);
  }
  if (s.format == "lut") {
    const size_t n = (size_t)rows << s.bits;
    d.t[1] = kc::DeviceBuffer(n * 2);
    kc::fill_random_f16(d.t[1].get(), n, -0.05f, 0.05f, seed + 1);
    if (s.csr > 0) kc::fill_random_csr(d, std::max<int64_t>(1, (int64_t)std::lround(s.csr * (double)cols)), seed + 2);
  } else if (s.format == "group") {
    const int64_t g = s.group > 0 && s.group < cols ? s.group : cols, ng = (cols + g - 1) / g;
    const size_t n = (size_t)(rows * ng);
    d.t[1] = kc::DeviceBuffer(n * 2);
    d.t[2] = kc::DeviceBuffer(n * 2);
    kc::fill_random_f16(d.t[1].get(), n, 0.001f, 0.01f, seed + 1);
    kc::fill_f16(d.t[2].get(), n, (float)((1 << (s.bits - 1)) - 1));
  } else if (s.format == "w8a8") {
    d.p.bits = 8;
    d.t[0] = kc::DeviceBuffer((size_t)(rows * cols));
    kc::fill_random_i8(d.t[0].get(), (size_t)(rows * cols), seed);
    d.t[1] = kc::DeviceBuffer((size_t)rows * 4);
    kc::fill_random_f32(d.t[1].get(), (size_t)rows, 1e-4f, 1e-3f, seed + 1);
  }
  return d;
}

struct Row {
  int64_t rows, cols;
};
const Row kShapes[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {8192, 8192}, {28672, 8192}};

double bench_product(kc::Context& ctx, const Spec& s, int64_t rows, int64_t cols, int64_t n, size_t l2,
                     size_t* bytes_out) {
  kc::cuda_tuning().lut4_table_copies = s.lut4_copies;
  std::vector<kc::DeviceMatrix> copies;
  copies.push_back(random_matrix(s, rows, cols, 100));
  const size_t one = copies[0].bytes();
  const size_t want = std::max<size_t>(2, (8 * l2 + one - 1) / one);
  for (size_t i = 1; i < std::min<size_t>(want, 64); ++i) copies.push_back(random_matrix(s, rows, cols, 100 + 7 * i));
  const int64_t ldx = kc::padded_cols(cols);
  kc::DeviceBuffer x((size_t)(n * ldx) * 2), y((size_t)(n * rows) * 4);
  x.zero();
  for (int64_t t = 0; t < n; ++t) kc::fill_random_f16(x.as<uint16_t>() + t * ldx, (size_t)cols, -1.f, 1.f, 5 + t);
  ctx.sync();
  for (const auto& c : copies) ctx.reserve_for(c, n);
  const int per_copy = std::max<int>(1, (int)(64 / copies.size()));
  const int launches = per_copy * (int)copies.size();
  const double t = time_graph(ctx, [&] {
    for (int r = 0; r < per_copy; ++r)
      for (const auto& c : copies) {
        kc::Product p;
        p.m = {&c, nullptr, nullptr};
        p.x = x.as<uint16_t>(), p.ldx = ldx, p.n = n;
        p.y = {y.as<float>(), nullptr, nullptr};
        p.ldy = {rows, 0, 0};
        kc::run(ctx, p);
      }
  });
  kc::cuda_tuning().lut4_table_copies = 4;
  *bytes_out = one;
  return t / launches;
}

// ---- decode of a 7B-shaped random model ----

kc::EngineWeights random_model(const kc::EngineConfig& c, const Spec& s) {
  kc::EngineWeights w;
  w.embed = kc::DeviceBuffer((size_t)(c.vocab * c.dim) * 4);
  kc::fill_random_f32(w.embed.get(), (size_t)(c.vocab * c.dim), -0.05f, 0.05f, 1);
  auto ones = [&] {
    kc::DeviceBuffer b((size_t)c.dim * 4);
    kc::fill_random_f32(b.get(), (size_t)c.dim, 1.f, 1.f, 0);
    return b;
  };
  const int64_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim;
  uint64_t seed = 10;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    kc::EngineLayer L;
    L.attn_norm = ones(), L.ffn_norm = ones();
    L.q = random_matrix(s, qd, c.dim, seed++);
    L.k = random_matrix(s, kvd, c.dim, seed++);
    L.v = random_matrix(s, kvd, c.dim, seed++);
    L.o = random_matrix(s, c.dim, qd, seed++);
    L.gate = random_matrix(s, c.hidden, c.dim, seed++);
    L.up = random_matrix(s, c.hidden, c.dim, seed++);
    L.down = random_matrix(s, c.dim, c.hidden, seed++);
    w.layers.push_back(std::move(L));
  }
  w.final_norm = ones();
  w.head = random_matrix(Spec{"f16", "f16"}, c.vocab, c.dim, seed++);  // heads stay fp16, as quantizers leave them
  return w;
}

// ---- perplexity, GPU path vs CPU path ----

double gpu_ppl(CudaLlama& g, const std::vector<int>& ids, int64_t ctx, int64_t windows, int64_t vocab) {
  std::vector<float> logits((size_t)(ctx * vocab));
  double nll = 0;
  int64_t scored = 0;
  for (int64_t w = 0; w < windows; ++w) {
    const int* tok = ids.data() + w * ctx;
    g.forward_window(tok, ctx, logits.data());
    for (int64_t t = 0; t + 1 < ctx; ++t) {
      const float* lt = logits.data() + t * vocab;
      nll += log_sum_exp(lt, vocab) - (double)lt[tok[t + 1]];
    }
    scored += ctx - 1;
  }
  return std::exp(nll / (double)scored);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, skip_decode = false;
  std::string out_path, ppl_model, ppl_text;
  int64_t ppl_windows = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--skip-decode") skip_decode = true;
    else if (a == "--out" && i + 1 < argc) out_path = argv[++i];
    else if (a == "--ppl" && i + 2 < argc) ppl_model = argv[++i], ppl_text = argv[++i];
    else if (a == "--ppl-windows" && i + 1 < argc) ppl_windows = std::atoll(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_cuda [--quick] [--skip-decode] [--out FILE] [--ppl MODEL_DIR TEXT [--ppl-windows N]]\n");
      return 2;
    }
  }
  try {
    std::string why;
    if (!kc::device_available(&why)) {
      std::fprintf(stderr, "bench_cuda: %s\n", why.c_str());
      return 1;
    }
    const kc::DeviceInfo di = kc::device_info();
    kc::Context ctx;
    out(fmt::format("## sqz CUDA benchmark\n\ndevice: {}, {} SMs, compute {}.{}, {:.0f} GiB, L2 {:.0f} MiB, driver {}, runtime {}\n\n",
                    di.name, di.sm_count, di.cc_major, di.cc_minor, (double)di.global_mem / (1 << 30),
                    (double)di.l2_bytes / (1 << 20), di.driver_version, di.runtime_version));
    const double copy_bw = copy_bandwidth(ctx);
    out(fmt::format("measured device-to-device copy: {:.0f} GB/s (bytes read + written)\n\n", copy_bw / 1e9));

    // 2. products
    const std::vector<Spec> specs = {
        {"cuBLAS fp16", "f16"},
        {"lut3", "lut", 3},
        {"lut3+csr0.45%", "lut", 3, 0, 0.0045},
        {"lut4", "lut", 4},
        {"lut4+csr0.45%", "lut", 4, 0, 0.0045},
        {"lut4 (1 table copy)", "lut", 4, 0, 0, 1},
        {"int4g128", "group", 4, 128},
        {"int3g128", "group", 3, 128},
        {"w8a8", "w8a8", 8},
    };
    out("### Single-token products (n = 1)\n\n| shape (rows x cols) | format | us | GB/s | % of copy BW | x cuBLAS fp16 |\n|---|---|---:|---:|---:|---:|\n");
    for (const Row& sh : kShapes) {
      double t16 = 0;
      for (const Spec& s : specs) {
        if (quick && s.name.find("(1 table") != std::string::npos) continue;
        size_t bytes = 0;
        const double t = bench_product(ctx, s, sh.rows, sh.cols, 1, di.l2_bytes, &bytes);
        if (s.format == "f16") t16 = t;
        out(fmt::format("| {}x{} | {} | {:.2f} | {:.0f} | {:.1f} | {:.2f} |\n", sh.rows, sh.cols, s.name, t * 1e6,
                        (double)bytes / t / 1e9, 100.0 * (double)bytes / t / copy_bw, t16 / t));
      }
      if (quick) break;
    }
    out("\n### 1-16 tokens per pass (4096 x 11008)\n\n| format | tokens | us | us per token | x cuBLAS fp16 (same tokens) |\n|---|---:|---:|---:|---:|\n");
    for (int64_t n : {1, 2, 4, 8, 16}) {
      size_t b = 0;
      const double t16 = bench_product(ctx, specs[0], 4096, 11008, n, di.l2_bytes, &b);
      for (const Spec& s : {specs[1], specs[3]}) {
        const double t = bench_product(ctx, s, 4096, 11008, n, di.l2_bytes, &b);
        out(fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.2f} |\n", s.name, n, t * 1e6, t * 1e6 / n, t16 / t));
      }
    }

    // 3. decode
    if (!skip_decode) {
      kc::EngineConfig c;
      c.dim = 4096, c.hidden = 11008, c.n_layers = quick ? 4 : 32, c.n_heads = 32, c.n_kv_heads = 32, c.head_dim = 128;
      c.vocab = 32000, c.max_len = 160;
      out(fmt::format("\n### Decode, 7B-shaped random model ({} layers, dim 4096, hidden 11008, vocab 32000, fp16 head), "
                      "greedy, 128 steps from position 16, one CUDA graph per step\n\n"
                      "| weights | PDL | tokens/s | ms/token | GB/s | x fp16 decode |\n|---|---|---:|---:|---:|---:|\n",
                      c.n_layers));
      const std::vector<Spec> dspecs = {specs[0], specs[1], specs[2], specs[3], specs[6]};
      double tok16 = 0;
      for (const Spec& s : dspecs)
        for (bool pdl : {true, false}) {
          if (!pdl && s.name != "lut3" && s.name != "cuBLAS fp16") continue;
          kc::cuda_tuning().pdl = pdl;
          kc::LlamaEngine e(c, random_model(c, s));
          std::vector<int> prompt(16, 1);
          std::vector<float> logits((size_t)c.vocab);
          e.forward(prompt.data(), 16, logits.data(), false);
          e.greedy_decode(1, 8, true);  // warm-up
          e.clear();
          e.forward(prompt.data(), 16, logits.data(), false);
          const kc::LlamaEngine::Decode d = e.greedy_decode(1, 128, true);
          const double tps = 128.0 / d.seconds;
          if (s.format == "f16" && pdl) tok16 = tps;
          out(fmt::format("| {} | {} | {:.1f} | {:.3f} | {:.0f} | {:.2f} |\n", s.name == "cuBLAS fp16" ? "fp16" : s.name,
                          pdl ? "on" : "off", tps, 1e3 / tps, (double)e.decode_bytes_per_token() * tps / 1e9,
                          tok16 > 0 ? tps / tok16 : 0.0));
          kc::cuda_tuning().pdl = true;
        }
    }

    // 4. perplexity
    if (!ppl_model.empty()) {
      auto model = load_model(ppl_model);
      auto tok = load_tokenizer(*model->checkpoint());
      const std::vector<int> ids = tok->encode(read_text_file(ppl_text), true);
      const int64_t ctxlen = 256;
      const int64_t windows = std::min<int64_t>(ppl_windows, (int64_t)ids.size() / ctxlen);
      out(fmt::format("\n### Perplexity, GPU path vs CPU path ({}, {} windows of {} tokens of {})\n\n"
                      "| weights | CPU ppl | GPU ppl | relative difference | within 2e-3 |\n|---|---:|---:|---:|---|\n",
                      ppl_model, windows, ctxlen, ppl_text));
      for (bool quantized : {false, true}) {
        cuda_test::EncodedStore st;
        if (quantized) cuda_test::encode_linears(*model, "lut", {{"bits", 3}}, st, 211);
        PplOptions po;
        po.ctx = ctxlen, po.max_windows = windows, po.progress = false;
        const double cpu = perplexity(*model, ids, po).ppl;
        CudaLlama g(*model, ctxlen);
        const double gpu = gpu_ppl(g, ids, ctxlen, windows, model->config().vocab_size);
        const double rel = std::fabs(gpu / cpu - 1);
        out(fmt::format("| {} | {:.4f} | {:.4f} | {:.2e} | {} |\n", quantized ? "lut3+csr (reference encoding)" : "stored (fp16)",
                        cpu, gpu, rel, rel <= 2e-3 ? "yes" : "NO"));
        if (!g.fallbacks().empty()) out(fmt::format("  fallbacks: {}\n", g.fallbacks().front()));
      }
    }
    if (!out_path.empty()) {
      std::ofstream f(out_path);
      f << report;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    if (!out_path.empty()) {
      std::ofstream f(out_path);
      f << report << "\nbench_cuda stopped: " << e.what() << "\n";
    }
    return 1;
  }
  return 0;
}
