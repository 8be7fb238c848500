#include "train/finetune.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "calib/calibrate.h"
#include "core/error.h"
#include "core/half.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "io/safetensors.h"
#include "kernels/cpu/formats.h"
#include "kernels/format.h"
#include "tokenizer/tokenizer.h"
#include "train/optim.h"

namespace fs = std::filesystem;

namespace sqz::train {

template <typename T>
T TrainTensor<T>::read(size_t i, bool round) const {
  const T v = value[i];
  if (!round || stored != DType::F16) return v;
  return (T)round_fp16((float)v);
}

// ---------------- one quantized linear ----------------

namespace {

// The parameters as the row stores them (F16 or F32), for its decoder.
template <typename T>
std::vector<uint8_t> stored_bytes(const TrainTensor<T>& t) {
  std::vector<uint8_t> b;
  if (t.stored == DType::F16) {
    b.resize(t.value.size() * 2);
    for (size_t i = 0; i < t.value.size(); ++i) {
      const uint16_t h = f32_to_fp16((float)t.value[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  } else {
    b.resize(t.value.size() * 4);
    for (size_t i = 0; i < t.value.size(); ++i) {
      const float f = (float)t.value[i];
      std::memcpy(b.data() + 4 * i, &f, 4);
    }
  }
  return b;
}

}  // namespace

template <typename T>
void QuantLinearParams<T>::stored_dequantize(float* W) const {
  const kernels::Format& f = *format.format;
  kernels::PackedMatrix m;
  m.format = &f;
  m.p = format.params;
  m.rows = out, m.cols = in;
  std::vector<std::vector<uint8_t>> keep;
  auto put = [&](const char* suffix, const void* data, int64_t numel) {
    const int i = f.tensor_index(suffix);
    SQZ_CHECK(i >= 0, "internal: format {} has no tensor {}", f.name, suffix);
    m.t[(size_t)i] = data;
    m.numel[(size_t)i] = numel;
  };
  auto put_param = [&](const char* suffix, const TrainTensor<T>& t) {
    keep.push_back(stored_bytes(t));
    put(suffix, keep.back().data(), (int64_t)t.value.size());
  };
  put(".qweight", packed.data(), (int64_t)packed.size());
  std::optional<kernels::CsrMatrix> s;
  switch (kind) {
    case Kind::Lut:
      put_param(".lut", lut);
      if (!sparse_values.value.empty()) {
        keep.push_back(stored_bytes(sparse_values));
        s = kernels::CsrMatrix{out, in, sparse_row_ptr.data(), sparse_col_idx.data(),
                               reinterpret_cast<const uint16_t*>(keep.back().data())};
      }
      break;
    case Kind::Group:
      put_param(".scales", scales);
      put_param(".qzeros", zeros);
      if (!g_idx.empty()) put(".g_idx", g_idx.data(), (int64_t)g_idx.size());
      break;
    case Kind::Nf4:
      put_param(".absmax", absmax);
      break;
  }
  kernels::packed_dequant(m, s ? &*s : nullptr, 0, out, W);
}

template <typename T>
void QuantLinearParams<T>::dequantize(T* W, bool round) const {
  if constexpr (std::is_same_v<T, float>) {
    if (round) {
      stored_dequantize(W);
      return;
    }
  }
  switch (kind) {
    case Kind::Lut: {
      const int64_t K = int64_t{1} << bits;
      for (int64_t r = 0; r < out; ++r)
        for (int64_t c = 0; c < in; ++c) W[r * in + c] = lut.read((size_t)(r * K + idx[(size_t)(r * in + c)]), round);
      for (int64_t r = 0; r < out && !sparse_row_ptr.empty(); ++r)
        for (int32_t i = sparse_row_ptr[(size_t)r]; i < sparse_row_ptr[(size_t)r + 1]; ++i)
          W[r * in + sparse_col_idx[(size_t)i]] += sparse_values.read((size_t)i, round);
      return;
    }
    case Kind::Group:
      for (int64_t r = 0; r < out; ++r)
        for (int64_t c = 0; c < in; ++c) {
          const size_t g = (size_t)(r * n_groups + col_group[(size_t)c]);
          W[r * in + c] = ((T)idx[(size_t)(r * in + c)] - zeros.read(g, round)) * scales.read(g, round);
        }
      return;
    case Kind::Nf4:
      for (int64_t i = 0; i < out * in; ++i)
        W[i] = (T)kernels::kNf4Codebook[idx[(size_t)i]] * absmax.read((size_t)(i / block), round);
      return;
  }
}

template <typename T>
void QuantLinearParams<T>::accumulate_grad(const T* dW, T scale, bool round) {
  switch (kind) {
    case Kind::Lut: {
      const int64_t K = int64_t{1} << bits;
      for (int64_t r = 0; r < out; ++r) {
        T* g = &lut.grad[(size_t)(r * K)];
        for (int64_t c = 0; c < in; ++c) g[idx[(size_t)(r * in + c)]] += scale * dW[r * in + c];
      }
      for (int64_t r = 0; r < out && !sparse_row_ptr.empty(); ++r)
        for (int32_t i = sparse_row_ptr[(size_t)r]; i < sparse_row_ptr[(size_t)r + 1]; ++i)
          sparse_values.grad[(size_t)i] += scale * dW[r * in + sparse_col_idx[(size_t)i]];
      return;
    }
    case Kind::Group:
      for (int64_t r = 0; r < out; ++r)
        for (int64_t c = 0; c < in; ++c) {
          const size_t g = (size_t)(r * n_groups + col_group[(size_t)c]);
          const T d = scale * dW[r * in + c], s = scales.read(g, round), z = zeros.read(g, round);
          scales.grad[g] += d * ((T)idx[(size_t)(r * in + c)] - z);
          zeros.grad[g] -= d * s;
        }
      return;
    case Kind::Nf4:
      for (int64_t i = 0; i < out * in; ++i)
        absmax.grad[(size_t)(i / block)] += scale * dW[i] * (T)kernels::kNf4Codebook[idx[(size_t)i]];
      return;
  }
}

template <typename T>
std::vector<TrainTensor<T>*> QuantLinearParams<T>::tensors() {
  switch (kind) {
    case Kind::Lut:
      if (sparse_values.value.empty()) return {&lut};
      return {&lut, &sparse_values};
    case Kind::Group:
      return {&scales, &zeros};
    case Kind::Nf4:
      return {&absmax};
  }
  return {};
}

template <typename T>
std::vector<const TrainTensor<T>*> QuantLinearParams<T>::tensors() const {
  std::vector<const TrainTensor<T>*> r;
  for (TrainTensor<T>* t : const_cast<QuantLinearParams<T>*>(this)->tensors()) r.push_back(t);
  return r;
}

// ---------------- the model ----------------

namespace {

template <typename T>
TrainTensor<T> read_tensor(const Checkpoint& ck, const std::string& name, DType stored) {
  const TensorView& v = ck.require(name);
  TrainTensor<T> t;
  t.name = name;
  t.shape = v.shape;
  t.stored = stored;
  const std::vector<float> f = to_f32(v);
  t.value.assign(f.begin(), f.end());
  t.grad.assign(f.size(), 0);
  return t;
}

std::vector<uint8_t> unpack_codes(const TensorView& packed, int bits, int64_t out, int64_t in) {
  std::vector<uint8_t> idx((size_t)(out * in));
  const int64_t words = kernels::packed_words_per_row(bits, in);
  for (int64_t r = 0; r < out; ++r) kernels::unpack_row(bits, packed.as<uint32_t>() + r * words, in, &idx[(size_t)(r * in)]);
  return idx;
}

template <typename T, typename U>
TrainTensor<U> cast_tensor(const TrainTensor<T>& t) {
  TrainTensor<U> r;
  r.name = t.name;
  r.shape = t.shape;
  r.stored = t.stored;
  r.value.assign(t.value.begin(), t.value.end());
  r.grad.assign(t.grad.begin(), t.grad.end());
  return r;
}

}  // namespace

template <typename T>
QatModel<T> QatModel<T>::load(const Checkpoint& ck, const LlamaModel& m) {
  const nlohmann::json& q = ck.quantization_config;
  SQZ_CHECK(!q.is_null() && q.is_object(),
            "{}: is not a quantized model (config.json has no quantization_config); run `sqz quantize` first", ck.path);
  QatModel<T> M;
  M.source = ck.path;
  M.dense = DenseWeights<T>::from_model(m);
  const ModelConfig& c = M.dense.cfg;

  auto add_linear = [&](const std::string& base, int layer, int slot, int64_t out, int64_t in) {
    const LinearFormat lf = linear_format(q, base, out, in, ck.path);
    const kernels::Format& f = *lf.format;
    if (!ck.find(base + f.tensors[0].suffix)) return;  // not quantized: stays as it is
    const std::string fname = f.name;
    SQZ_CHECK(fname == "lut" || fname == "group" || fname == "nf4",
              "{}: {} is stored as {}{}, which cannot be fine-tuned (trainable here: the LUT centroids and sparse values "
              "of lut, the scales and zero points of group, the absmax of nf4)",
              ck.path, base, fname, fname == "w8a8" ? " (W8A8 int8 weights: no codebook, scales or zero points)" : "");
    if (fname == "nf4" && lf.params.dq_block > 0) {
      M.frozen.push_back(base);  // double-quantized scales: no fp32 absmax to train
      return;
    }
    QuantLinearParams<T> L;
    L.format = lf;
    L.base = base;
    L.layer = layer;
    L.slot = slot;
    L.out = out;
    L.in = in;
    L.bits = lf.params.bits;
    // Shapes and dtypes as the row's schema says (the inference loader has checked the same tensors).
    auto stored = [&](const char* suffix) {
      const int i = f.tensor_index(suffix);
      SQZ_CHECK(i >= 0, "internal: format {} has no tensor {}", fname, suffix);
      const kernels::TensorSpec& spec = f.tensors[(size_t)i];
      const TensorView& t = ck.require(base + suffix, spec.shape(out, in, lf.params));
      SQZ_CHECK(t.dtype == spec.dtype, "{}: {}{} has dtype {}, expected {}", ck.path, base, suffix, dtype_name(t.dtype),
                dtype_name(spec.dtype));
      return read_tensor<T>(ck, base + suffix, spec.dtype);
    };
    if (fname == "lut") {
      L.kind = QuantLinearParams<T>::Kind::Lut;
      L.lut = stored(".lut");
      if (const TensorView* rp = ck.find(base + ".sparse_row_ptr")) {
        L.sparse_row_ptr.assign(rp->as<int32_t>(), rp->as<int32_t>() + rp->numel());
        const TensorView& ci = ck.require(base + ".sparse_col_idx");
        L.sparse_col_idx.assign(ci.as<int32_t>(), ci.as<int32_t>() + ci.numel());
        L.sparse_values = read_tensor<T>(ck, base + ".sparse_values", DType::F16);
      }
    } else if (fname == "group") {
      L.kind = QuantLinearParams<T>::Kind::Group;
      L.scales = stored(".scales");
      L.zeros = stored(".qzeros");
      L.n_groups = L.scales.shape.at(1);
      L.col_group.resize((size_t)in);
      if (const TensorView* gi = ck.find(base + ".g_idx")) L.g_idx.assign(gi->as<int32_t>(), gi->as<int32_t>() + in);
      const int64_t group = lf.params.group > 0 ? lf.params.group : in;
      for (int64_t col = 0; col < in; ++col)
        L.col_group[(size_t)col] = L.g_idx.empty() ? (int32_t)(col / group) : L.g_idx[(size_t)col];
    } else {
      L.kind = QuantLinearParams<T>::Kind::Nf4;
      L.block = lf.params.group;
      L.absmax = stored(".absmax");
    }
    const TensorView& qw = ck.require(base + ".qweight", f.tensors[0].shape(out, in, lf.params));
    L.packed.assign(qw.as<uint32_t>(), qw.as<uint32_t>() + qw.numel());
    L.idx = unpack_codes(qw, L.bits, out, in);
    M.linears.push_back(std::move(L));
  };
  for (int l = 0; l < c.n_layers; ++l)
    for (int s = 0; s < kNumSlots; ++s) add_linear(linear_name(l, s), l, s, linear_out(c, s), linear_in(c, s));
  if (!c.tied_embeddings) add_linear("lm_head", -1, 0, c.vocab_size, c.dim);
  SQZ_CHECK(!M.linears.empty(), "{}: has a quantization_config but no quantized linear layer sqz can fine-tune", ck.path);
  // Trained norms are written in fp32 (as smoothing methods store rescaled norms): the updates are often
  // smaller than fp16's resolution near 1.
  for (int l = 0; l < c.n_layers; ++l) {
    M.norms.push_back(read_tensor<T>(ck, norm_name(l, kAttnNorm), DType::F32));
    M.norms.push_back(read_tensor<T>(ck, norm_name(l, kFfnNorm), DType::F32));
  }
  M.norms.push_back(read_tensor<T>(ck, kFinalNorm.hf, DType::F32));
  return M;
}

template <typename T>
template <typename U>
QatModel<U> QatModel<T>::cast() const {
  QatModel<U> r;
  r.source = source;
  r.frozen = frozen;
  r.dense.cfg = dense.cfg;
  auto cv = [](const std::vector<T>& v) { return std::vector<U>(v.begin(), v.end()); };
  r.dense.embed = cv(dense.embed);
  for (const auto& L : dense.layers) {
    typename DenseWeights<U>::Layer l;
    l.attn_norm = cv(L.attn_norm);
    l.ffn_norm = cv(L.ffn_norm);
    for (int s = 0; s < kNumSlots; ++s) {
      l.W[s] = cv(L.W[s]);
      l.bias[s] = cv(L.bias[s]);
    }
    r.dense.layers.push_back(std::move(l));
  }
  r.dense.final_norm = cv(dense.final_norm);
  r.dense.lm_head = cv(dense.lm_head);
  for (const auto& L : linears) {
    QuantLinearParams<U> u;
    u.kind = (typename QuantLinearParams<U>::Kind)(int)L.kind;
    u.format = L.format;
    u.packed = L.packed;
    u.g_idx = L.g_idx;
    u.base = L.base;
    u.layer = L.layer;
    u.slot = L.slot;
    u.out = L.out;
    u.in = L.in;
    u.bits = L.bits;
    u.idx = L.idx;
    u.lut = cast_tensor<T, U>(L.lut);
    u.sparse_values = cast_tensor<T, U>(L.sparse_values);
    u.sparse_row_ptr = L.sparse_row_ptr;
    u.sparse_col_idx = L.sparse_col_idx;
    u.scales = cast_tensor<T, U>(L.scales);
    u.zeros = cast_tensor<T, U>(L.zeros);
    u.col_group = L.col_group;
    u.n_groups = L.n_groups;
    u.absmax = cast_tensor<T, U>(L.absmax);
    u.block = L.block;
    r.linears.push_back(std::move(u));
  }
  for (const auto& n : norms) r.norms.push_back(cast_tensor<T, U>(n));
  return r;
}

template <typename T>
void QatModel<T>::refresh(bool round) {
  for (auto& L : linears) {
    std::vector<T>& W = L.layer < 0 ? dense.lm_head : dense.layers[(size_t)L.layer].W[L.slot];
    L.dequantize(W.data(), round);
  }
  const int nl = (int)dense.layers.size();
  for (int l = 0; l < nl; ++l) {
    dense.layers[(size_t)l].attn_norm = norms[(size_t)(2 * l)].value;
    dense.layers[(size_t)l].ffn_norm = norms[(size_t)(2 * l + 1)].value;
  }
  dense.final_norm = norms.back().value;
}

template <typename T>
void QatModel<T>::zero_grad() {
  for (TrainTensor<T>* t : params()) std::fill(t->grad.begin(), t->grad.end(), (T)0);
}

template <typename T>
void QatModel<T>::accumulate_grad(const Gradients<T>& g, T scale, bool round) {
  for (auto& L : linears) {
    const std::vector<T>& dW = L.layer < 0 ? g.lm_head : g.layers[(size_t)L.layer].W[L.slot];
    L.accumulate_grad(dW.data(), scale, round);
  }
  auto add = [&](TrainTensor<T>& t, const std::vector<T>& d) {
    for (size_t i = 0; i < d.size(); ++i) t.grad[i] += scale * d[i];
  };
  for (size_t l = 0; l < g.layers.size(); ++l) {
    add(norms[2 * l], g.layers[l].attn_norm);
    add(norms[2 * l + 1], g.layers[l].ffn_norm);
  }
  add(norms.back(), g.final_norm);
}

template <typename T>
std::vector<TrainTensor<T>*> QatModel<T>::params() {
  std::vector<TrainTensor<T>*> r;
  for (auto& L : linears)
    for (TrainTensor<T>* t : L.tensors()) r.push_back(t);
  for (auto& n : norms) r.push_back(&n);
  return r;
}

template <typename T>
int64_t QatModel<T>::n_trainable() const {
  int64_t n = 0;
  for (TrainTensor<T>* t : const_cast<QatModel<T>*>(this)->params()) n += (int64_t)t->value.size();
  return n;
}

template struct TrainTensor<float>;
template struct TrainTensor<double>;
template struct QuantLinearParams<float>;
template struct QuantLinearParams<double>;
template struct QatModel<float>;
template struct QatModel<double>;
template QatModel<double> QatModel<float>::cast<double>() const;
template QatModel<float> QatModel<double>::cast<float>() const;

// ---------------- training ----------------

namespace {

// The teacher's logits [ctx, vocab] for one window (inference forward pass).
void teacher_logits(const LlamaModel& teacher, const int* tokens, int64_t ctx, std::vector<float>& out) {
  KVCache cache(teacher.config(), ctx);
  out.resize((size_t)(ctx * teacher.config().vocab_size));
  teacher.forward(tokens, ctx, cache, out.data(), true);
}


// RMS of a tensor's initial values, the unit its learning rate is measured in (floor: a zero tensor).
double rms(const std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += (double)x * x;
  const double r = v.empty() ? 0.0 : std::sqrt(ss / (double)v.size());
  return std::max(r, 1e-6);
}

}  // namespace

double evaluate_loss(const DenseWeights<float>& w, const std::vector<int>& tokens, const std::vector<int64_t>& starts,
                     int64_t ctx, const LlamaModel* teacher) {
  double sum = 0;
  std::vector<float> tl;
  for (int64_t s : starts) {
    const int* t = tokens.data() + s;
    if (teacher) {
      teacher_logits(*teacher, t, ctx, tl);
      sum += kd_loss_and_grad<float>(w, t, ctx, tl.data(), nullptr);
    } else {
      sum += loss_and_grad<float>(w, t, ctx, nullptr);
    }
  }
  return starts.empty() ? 0.0 : sum / (double)starts.size();
}

FinetuneReport finetune_model(const std::string& qmodel, const FinetuneOptions& opt, const std::string& out_dir) {
  const double t_start = now_seconds();
  check_option_values(opt);
  if (!(opt.lr > 0)) usage_fail("--lr must be positive, got {}", opt.lr);
  if (opt.data.empty()) usage_fail("sqz finetune needs training text: pass --calib FILE...");
  std::shared_ptr<const Checkpoint> ck = open_checkpoint(qmodel);
  SQZ_CHECK(!ck->quantization_config.is_null(),
            "{}: is not a quantized model (config.json has no quantization_config); run `sqz quantize` first", qmodel);
  SQZ_CHECK(ck->format == CheckpointFormat::HfDir, "{}: expected a directory written by `sqz quantize`", qmodel);
  const int64_t ctx = opt.ctx;
  if (ctx < 2 || ctx > ck->config.max_seq_len)
    usage_fail("--ctx {} must be in [2, {}] (the model's context)", ctx, ck->config.max_seq_len);

  LlamaModel model(ck);
  QatModel<float> M = QatModel<float>::load(*ck, model);
  std::unique_ptr<LlamaModel> teacher;
  if (!opt.teacher.empty()) {
    teacher = load_model(opt.teacher);
    SQZ_CHECK(teacher->config().vocab_size == M.dense.cfg.vocab_size,
              "{}: the teacher has a vocabulary of {}, the model {} has {}", opt.teacher, teacher->config().vocab_size,
              qmodel, M.dense.cfg.vocab_size);
  }

  auto tok = load_tokenizer(*ck);
  CalibOptions co;
  co.data = opt.data;
  const std::vector<int> tokens = load_calibration_tokens(*tok, co);
  // The last eval_windows * ctx tokens are held out for the before/after loss; training windows come from
  // the rest.
  const int64_t eval_tokens = opt.eval_windows * ctx;
  const int64_t train_tokens = (int64_t)tokens.size() - eval_tokens;
  SQZ_CHECK(train_tokens >= 2 * ctx,
            "{}: the training text has {} tokens; --ctx {} with {} held-out windows needs at least {}",
            fmt::join(opt.data, ", "), tokens.size(), ctx, opt.eval_windows, eval_tokens + 2 * ctx);
  std::vector<int64_t> eval_starts;
  for (int64_t w = 0; w < opt.eval_windows; ++w) eval_starts.push_back(train_tokens + w * ctx);

  FinetuneReport rep;
  rep.objective = teacher ? "kd" : "lm";
  rep.train_tokens = train_tokens;
  rep.eval_tokens = eval_tokens;
  rep.trainable_params = M.n_trainable();
  M.refresh(true);
  rep.eval_before = evaluate_loss(M.dense, tokens, eval_starts, ctx, teacher.get());
  if (opt.progress && !quiet())
    fmt::print(stderr, "finetune {}: {} trainable parameters in {} quantized linears + {} norms; {} objective; held-out {} {:.4f}\n",
               qmodel, rep.trainable_params, M.linears.size(), M.norms.size(), rep.objective,
               teacher ? "KL" : "loss", rep.eval_before);
  if (!M.frozen.empty() && !quiet())
    fmt::print(stderr, "note: {} linears with double-quantized NF4 scales stay fixed (only the norms train there)\n",
               M.frozen.size());

  AdamWConfig ac;
  ac.lr = opt.lr;
  ac.clip_norm = opt.clip_norm;
  ac.total_steps = opt.steps;
  ac.warmup_steps = (int64_t)std::llround(opt.warmup_frac * (double)opt.steps);
  AdamW adam(ac);
  // Learning rates are relative: a tensor's step is lr times the RMS of its initial values, so centroids
  // (~0.05), scales (~0.005), zero points (~2^(bits-1)) and norms (~1) all move by the same fraction.
  for (TrainTensor<float>* t : M.params())
    adam.add(t->name, t->value.data(), t->grad.data(), (int64_t)t->value.size(), false, rms(t->value));

  Gradients<float> G(M.dense);
  std::vector<float> tl;
  Progress prog("finetune step", opt.steps, "steps");
  const double t_train = now_seconds();
  for (int64_t step = 0; step < opt.steps; ++step) {
    const std::vector<int64_t> starts = sample_windows(train_tokens, ctx, opt.batch, opt.seed * 1000003 + (uint64_t)step);
    M.zero_grad();
    double loss = 0;
    for (int64_t s : starts) {
      const int* t = tokens.data() + s;
      if (teacher) {
        teacher_logits(*teacher, t, ctx, tl);
        loss += kd_loss_and_grad<float>(M.dense, t, ctx, tl.data(), &G);
      } else {
        loss += loss_and_grad<float>(M.dense, t, ctx, &G);
      }
      M.accumulate_grad(G, 1.0f / (float)opt.batch, true);
    }
    loss /= (double)opt.batch;
    const double lr_now = adam.current_lr();
    const double gnorm = adam.step();
    M.refresh(true);
    if (step == 0) rep.first_step_loss = loss;
    rep.last_step_loss = loss;
    rep.tokens += opt.batch * ctx;
    const double el = now_seconds() - t_train;
    if (opt.progress)
      prog.update(step + 1, fmt::format("{} {:.4f}  |g| {:.3g}  lr {:.3g}  {:.0f} tok/s", teacher ? "KL" : "loss", loss,
                                        gnorm, lr_now, (double)rep.tokens / std::max(el, 1e-9)));
  }
  if (opt.progress) prog.finish();
  rep.steps = opt.steps;
  rep.tokens_per_s = (double)rep.tokens / std::max(now_seconds() - t_train, 1e-9);
  // M.dense now holds the parameters rounded as they will be stored.
  rep.eval_after = evaluate_loss(M.dense, tokens, eval_starts, ctx, teacher.get());

  // ---- write: trained tensors from the masters, everything else copied as stored ----
  std::map<std::string, const TrainTensor<float>*> trained;
  for (TrainTensor<float>* t : M.params()) trained[t->name] = t;
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& [name, view] : ck->tensors()) {
    auto it = trained.find(name);
    if (it == trained.end()) {
      w.add(name, view);
      continue;
    }
    const TrainTensor<float>& t = *it->second;
    if (t.stored == DType::F16) {
      std::vector<uint16_t> h(t.value.size());
      for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_fp16(t.value[i]);
      w.add(name, DType::F16, t.shape, h.data(), h.size() * 2);
    } else {
      w.add_f32(name, t.shape, t.value);
    }
  }
  nlohmann::json config = ck->hf_config;
  nlohmann::json record = {{"objective", rep.objective},
                           {"steps", opt.steps},
                           {"lr", opt.lr},
                           {"ctx", ctx},
                           {"batch", opt.batch},
                           {"seed", opt.seed},
                           {"tokens", rep.tokens},
                           {"held_out_before", rep.eval_before},
                           {"held_out_after", rep.eval_after},
                           {"sqz_version", SQZ_VERSION}};
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : opt.data) files.push_back(fs::path(f).filename().string());
  record["data"] = files;
  // Which kinds of tensor trained: ".lut", ".scales", ... and "norms".
  std::set<std::string> kinds = {"norms"};
  for (const auto& L : M.linears)
    for (const TrainTensor<float>* t : L.tensors()) kinds.insert(t->name.substr(t->name.rfind('.')));
  record["trained"] = std::vector<std::string>(kinds.begin(), kinds.end());
  if (teacher) record["teacher"] = opt.teacher;
  config["quantization_config"]["finetuned"] = record;

  AtomicDir dir(out_dir);
  const fs::path tmp(dir.path());
  w.write((tmp / "model.safetensors").string());
  write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
  // Tokenizer and other side files of the source directory.
  for (const auto& e : fs::directory_iterator(ck->dir)) {
    const std::string n = e.path().filename().string();
    if (!e.is_regular_file() || n == "config.json" || n.ends_with(".safetensors") || n == "model.safetensors.index.json")
      continue;
    fs::copy_file(e.path(), tmp / n);
  }
  dir.commit();
  rep.seconds = now_seconds() - t_start;
  return rep;
}

}  // namespace sqz::train
