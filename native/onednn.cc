// Winograd convolutions through oneDNN (the library libtorch's CPU convolutions already run on).
// libtorch 1.13 asks oneDNN for its direct algorithm only; oneDNN also has F(4x4, 3x3) Winograd
// kernels for float32 on AVX-512, which do ~1/4 of the multiplications of a 3x3 convolution and
// are 1.2-2.3x faster on the maps of CIFAR networks (16x16 and 8x8 ones most). nn.Conv2d uses
// them when its `algorithm` says so (what cudnn.benchmark's choice does on a GPU). Two paths:
//
// - Frozen (no gradient: a teacher). A convolution is a handle (an id, as process groups are: see
//   common.h for why not an ObjectWrap) that keeps its weights packed in Winograd's layout, with a
//   primitive per input shape. oneDNN blocks the packed weights differently for some batch sizes
//   (an epoch's last, smaller batch; a method that runs the teacher on two batch sizes per step);
//   each layout is packed once (4x the weight's memory each: packing is slow, ~0.1 s per million
//   weights, so a method that alternates must not repack every step), at most kMaxPackings of
//   them, the least recently used dropped.
// - Training (opt-in for the student): a libtorch autograd function around the forward,
//   backward-data and backward-weights primitives; the weights change every step, so they are
//   reordered at each call.
//
// Activations stay libtorch tensors in their own memory format (read from their strides): each
// call reorders them into oneDNN's blocked layout and back; the buffers come from libtorch's
// allocator. A shape oneDNN has no Winograd kernel for (stride 2, an empty batch, a map smaller
// than the kernel) answers null, and the caller runs libtorch's convolution.
#include "common.h"

#ifdef DISTILL_ONEDNN

#include <dnnl.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

namespace distill {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;

dnnl::engine& Engine() {
  static auto* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

memory Wrap(const memory::desc& d, const at::Tensor& t) { return memory(d, Engine(), const_cast<void*>(t.data_ptr())); }

at::Tensor Bytes(size_t n) { return at::empty({int64_t(std::max<size_t>(n, 1))}, at::TensorOptions().dtype(at::kByte)); }

// A libtorch float32 tensor as oneDNN sees it: its sizes and strides (NCHW, channels-last, OIHW...).
memory::desc UserDesc(const at::Tensor& t) {
  memory::dims dims(t.sizes().begin(), t.sizes().end()), strides(t.strides().begin(), t.strides().end());
  return memory::desc(dims, kF32, strides);
}

// `from` (a libtorch tensor) in oneDNN's layout `to`: a new byte buffer, or `from` itself if the layouts agree.
at::Tensor ToLayout(dnnl::stream& s, const at::Tensor& from, const memory::desc& to) {
  memory::desc user = UserDesc(from);
  if (user == to) return from;
  at::Tensor buffer = Bytes(to.get_size());
  memory a = Wrap(user, from), b = Wrap(to, buffer);
  dnnl::reorder(a, b).execute(s, a, b);  // oneDNN's primitive cache makes the repeated creation a lookup
  return buffer;
}

// A new libtorch tensor of oneDNN buffer `buffer` (layout `from`), in memory format `format`.
at::Tensor FromLayout(dnnl::stream& s, const at::Tensor& buffer, const memory::desc& from, at::TensorOptions options) {
  auto dims = from.dims();
  at::Tensor to = at::empty(c10::IntArrayRef(dims.data(), dims.size()), options);
  memory a = Wrap(from, buffer), b = Wrap(UserDesc(to), to);
  dnnl::reorder(a, b).execute(s, a, b);
  return to;
}

// A primitive's scratchpad, allocated by libtorch for this call.
memory Scratchpad(const memory::desc& d, at::Tensor& keep) {
  keep = Bytes(d.get_size());
  return Wrap(d, keep);
}

// ---- Arguments, shared by both paths ----

// A [2] array of integers from JS, each within [lo, hi]; a JS error naming `what` otherwise.
void ReadPair(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi, int64_t out[2]) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    throw Napi::TypeError::New(env, std::string("winograd: ") + what + " must be an array of 2 integers in " + range);
  for (uint32_t i = 0; i < 2; i++) {
    Napi::Value e = v.As<Napi::Array>().Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d >= double(lo) && d <= double(hi)) || d != std::floor(d))
      throw Napi::RangeError::New(env, std::string("winograd: ") + what + " must be an array of 2 integers in " + range);
    out[i] = int64_t(d);
  }
}

bool Float32Cpu(const at::Tensor& t) { return t.scalar_type() == at::kFloat && t.device().is_cpu(); }

// The weight [O, C, 3, 3] and bias [O] | null of a call; JS errors for anything else.
std::pair<at::Tensor, at::Tensor> ReadWeights(Napi::Env env, const Napi::Value& weight, const Napi::Value& bias) {
  const at::Tensor& w = UnwrapTensor(env, weight, "winograd", "weight");
  if (w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3 || !Float32Cpu(w))
    throw Napi::Error::New(env, "winograd: the weight must be a float32 CPU tensor of shape [out, in, 3, 3]");
  if (bias.IsNull() || bias.IsUndefined()) return {w, at::Tensor()};
  const at::Tensor& b = UnwrapTensor(env, bias, "winograd", "bias");
  if (b.dim() != 1 || b.size(0) != w.size(0) || !Float32Cpu(b))
    throw Napi::Error::New(env, "winograd: the bias must be a float32 CPU tensor of shape [out]");
  return {w, b};
}

void CheckInput(Napi::Env env, const at::Tensor& x, const at::Tensor& w) {
  if (x.dim() != 4 || x.size(1) != w.size(1) || !Float32Cpu(x))
    throw Napi::Error::New(env, "winograd: the input must be a float32 CPU tensor of shape [N, " +
                                    std::to_string(w.size(1)) + ", H, W], got " + c10::str(x.sizes()));
}

// The oneDNN descriptors of a convolution of x by w (any layout), or nothing where the shape is
// empty or the map smaller than the kernel (oneDNN's Winograd heuristics divide by these sizes).
struct Problem {
  memory::desc src, weights, bias, dst;
  memory::dims strides, padding;
};
std::optional<Problem> Describe(const at::Tensor& x, const at::Tensor& w, bool bias, const int64_t stride[2],
                                const int64_t padding[2]) {
  const int64_t n = x.size(0), in = x.size(1), h = x.size(2), wd = x.size(3), out = w.size(0);
  const int64_t oh = (h + 2 * padding[0] - 3) / stride[0] + 1, ow = (wd + 2 * padding[1] - 3) / stride[1] + 1;
  if (n < 1 || in < 1 || out < 1 || h + 2 * padding[0] < 3 || wd + 2 * padding[1] < 3 || oh < 1 || ow < 1) return {};
  return Problem{memory::desc({n, in, h, wd}, kF32, Tag::any), memory::desc({out, in, 3, 3}, kF32, Tag::any),
                 bias ? memory::desc({out}, kF32, Tag::a) : memory::desc(), memory::desc({n, out, oh, ow}, kF32, Tag::any),
                 {stride[0], stride[1]}, {padding[0], padding[1]}};
}

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// ---- Frozen: packed weights, forward inference ----

struct Convolution {
  at::Tensor weight, bias;  // the caller's tensors, read when a layout is packed
  int64_t stride[2], padding[2];
  // A primitive per input shape (N, H, W); none where oneDNN has no Winograd kernel.
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::optional<dnnl::convolution_forward::primitive_desc>> plans;
  std::vector<std::pair<memory::desc, at::Tensor>> packed;  // most recently used first
};
constexpr size_t kMaxPackings = 3;

std::map<int, std::unique_ptr<Convolution>>& Convolutions() {
  static auto* all = new std::map<int, std::unique_ptr<Convolution>>();
  return *all;
}

Convolution& Get(Napi::Env env, const Napi::Value& v) {
  auto it = Convolutions().find(v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1);
  if (it == Convolutions().end()) throw Napi::Error::New(env, "winograd: the convolution was disposed");
  return *it->second;
}

// The weights in layout `d`, packed on first use.
at::Tensor Packed(Convolution& c, const memory::desc& d) {
  for (size_t i = 0; i < c.packed.size(); i++) {
    if (c.packed[i].first != d) continue;
    std::rotate(c.packed.begin(), c.packed.begin() + i, c.packed.begin() + i + 1);
    return c.packed.front().second;
  }
  if (c.packed.size() >= kMaxPackings) c.packed.pop_back();  // released before the new one is made
  dnnl::stream s(Engine());
  at::Tensor packed = ToLayout(s, c.weight.contiguous(), d);  // oneDNN packs for Winograd from OIHW only
  s.wait();
  c.packed.insert(c.packed.begin(), {d, packed});
  return packed;
}

// create(weight [O, C, 3, 3], bias [O] | null, stride [2], padding [2]) -> id
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto [weight, bias] = ReadWeights(env, info[0], info[1]);
  auto c = std::make_unique<Convolution>();
  ReadPair(env, info[2], "stride", 1, 1 << 20, c->stride);
  ReadPair(env, info[3], "padding", 0, 2, c->padding);
  c->weight = weight.detach();
  if (bias.defined()) c->bias = bias.detach().contiguous();
  static int next = 1;
  int id = next++;
  Convolutions()[id] = std::move(c);
  return Napi::Number::New(env, id);
}

// forward(id, input [N, C, H, W]) -> output in the input's memory format, or null (no Winograd kernel).
Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Convolution& c = Get(env, info[0]);
  const at::Tensor& x = UnwrapTensor(env, info[1], "winograd", "input");
  CheckInput(env, x, c.weight);
  try {
    auto key = std::make_tuple(x.size(0), x.size(2), x.size(3));
    auto it = c.plans.find(key);
    if (it == c.plans.end()) {
      std::optional<dnnl::convolution_forward::primitive_desc> pd;
      if (auto p = Describe(x, c.weight, c.bias.defined(), c.stride, c.padding)) try {
          pd = dnnl::convolution_forward::primitive_desc(
              {dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, p->src, p->weights, p->bias,
               p->dst, p->strides, p->padding, p->padding},
              UserScratchpad(), Engine());
        } catch (const dnnl::error&) {
        }
      it = c.plans.emplace(key, pd).first;
    }
    if (!it->second) return env.Null();
    const auto& pd = *it->second;
    const auto format = x.suggest_memory_format();
    dnnl::stream s(Engine());
    at::Tensor src = ToLayout(s, x.contiguous(format), pd.src_desc()), dst = Bytes(pd.dst_desc().get_size()), scratch;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, Wrap(pd.src_desc(), src)},
                                         {DNNL_ARG_WEIGHTS, Wrap(pd.weights_desc(), Packed(c, pd.weights_desc()))},
                                         {DNNL_ARG_DST, Wrap(pd.dst_desc(), dst)},
                                         {DNNL_ARG_SCRATCHPAD, Scratchpad(pd.scratchpad_desc(), scratch)}};
    if (c.bias.defined()) args[DNNL_ARG_BIAS] = Wrap(pd.bias_desc(), c.bias);
    dnnl::convolution_forward(pd).execute(s, args);
    at::Tensor output = FromLayout(s, dst, pd.dst_desc(), x.options().memory_format(format));
    s.wait();
    return WrapTensor(env, std::move(output));
  } catch (...) {
    ThrowAsJs(env, "winograd");
  }
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Convolutions().erase(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1);
  return info.Env().Undefined();
}

// ---- Training: forward, backward-data, backward-weights ----

struct TrainPlan {
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_data::primitive_desc bwdData;
  dnnl::convolution_backward_weights::primitive_desc bwdWeights;
};

// Plans by (N, C, H, W, O, stride, padding, bias); -1 where oneDNN has no Winograd kernel.
using TrainKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
std::vector<std::unique_ptr<TrainPlan>>& TrainPlans() {
  static auto* all = new std::vector<std::unique_ptr<TrainPlan>>();
  return *all;
}

int64_t TrainPlanFor(const at::Tensor& x, const at::Tensor& w, bool bias, const int64_t stride[2], const int64_t padding[2]) {
  static auto* index = new std::map<TrainKey, int64_t>();
  TrainKey key{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), stride[0], stride[1], padding[0], padding[1], bias};
  auto it = index->find(key);
  if (it != index->end()) return it->second;
  int64_t found = -1;
  if (auto p = Describe(x, w, bias, stride, padding)) try {
      const auto alg = dnnl::algorithm::convolution_winograd;
      auto plan = std::make_unique<TrainPlan>();
      plan->fwd = dnnl::convolution_forward::primitive_desc(
          {dnnl::prop_kind::forward_training, alg, p->src, p->weights, p->bias, p->dst, p->strides, p->padding, p->padding},
          UserScratchpad(), Engine());
      plan->bwdData = dnnl::convolution_backward_data::primitive_desc(
          {alg, p->src, p->weights, p->dst, p->strides, p->padding, p->padding}, UserScratchpad(), Engine(), plan->fwd);
      plan->bwdWeights = dnnl::convolution_backward_weights::primitive_desc(
          {alg, p->src, p->weights, p->bias, p->dst, p->strides, p->padding, p->padding}, UserScratchpad(), Engine(),
          plan->fwd);
      TrainPlans().push_back(std::move(plan));
      found = int64_t(TrainPlans().size()) - 1;
    } catch (const dnnl::error&) {
    }
  (*index)[key] = found;
  return found;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct WinogradFunction : public torch::autograd::Function<WinogradFunction> {
  // No bias is an empty tensor (libtorch's custom functions take no undefined inputs).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            int64_t plan) {
    const auto& pd = TrainPlans()[plan]->fwd;
    const bool hasBias = b.numel() > 0;
    dnnl::stream s(Engine());
    at::Tensor src = ToLayout(s, x, pd.src_desc()), weights = ToLayout(s, w, pd.weights_desc());
    at::Tensor dst = Bytes(pd.dst_desc().get_size()), bias = b.contiguous(), scratch;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, Wrap(pd.src_desc(), src)},
                                         {DNNL_ARG_WEIGHTS, Wrap(pd.weights_desc(), weights)},
                                         {DNNL_ARG_DST, Wrap(pd.dst_desc(), dst)},
                                         {DNNL_ARG_SCRATCHPAD, Scratchpad(pd.scratchpad_desc(), scratch)}};
    if (hasBias) args[DNNL_ARG_BIAS] = Wrap(pd.bias_desc(), bias);
    dnnl::convolution_forward(pd).execute(s, args);
    src = weights = scratch = at::Tensor();  // before the output is made: only dst is read now
    at::Tensor y = FromLayout(s, dst, pd.dst_desc(), x.options().memory_format(x.suggest_memory_format()));
    s.wait();
    ctx->save_for_backward({x, w});
    ctx->saved_data["plan"] = plan;
    ctx->saved_data["bias"] = hasBias;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Grad mode is on here only for a double backward (create_graph), which these kernels cannot give.
    if (c10::GradMode::is_enabled())
      throw std::runtime_error(
          "a Winograd convolution has no double backward (create_graph); set its convAlgorithm to direct");
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const TrainPlan& p = *TrainPlans()[ctx->saved_data["plan"].toInt()];
    const bool hasBias = ctx->saved_data["bias"].toBool();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    dnnl::stream s(Engine());
    at::Tensor g = grads[0].contiguous(x.suggest_memory_format());
    at::Tensor gradX, gradW, gradB, scratch;
    // Each stage's blocked copies go as soon as it is done (the CPU stream runs each primitive to
    // completion in execute), and the incoming gradient is reordered once for both stages where
    // their layouts agree: a step's peak is in backward, and these copies are map-sized.
    at::Tensor diffDstData;
    if (ctx->needs_input_grad(0)) {
      const auto& pd = p.bwdData;
      at::Tensor weights = ToLayout(s, w, pd.weights_desc());
      diffDstData = ToLayout(s, g, pd.diff_dst_desc());
      const at::Tensor& diffDst = diffDstData;
      at::Tensor diffSrc = Bytes(pd.diff_src_desc().get_size());
      dnnl::convolution_backward_data(pd).execute(s, {{DNNL_ARG_DIFF_DST, Wrap(pd.diff_dst_desc(), diffDst)},
                                                      {DNNL_ARG_WEIGHTS, Wrap(pd.weights_desc(), weights)},
                                                      {DNNL_ARG_DIFF_SRC, Wrap(pd.diff_src_desc(), diffSrc)},
                                                      {DNNL_ARG_SCRATCHPAD, Scratchpad(pd.scratchpad_desc(), scratch)}});
      scratch = at::Tensor();
      weights = at::Tensor();
      gradX = FromLayout(s, diffSrc, pd.diff_src_desc(), x.options().memory_format(x.suggest_memory_format()));
    }
    if (ctx->needs_input_grad(1) || (hasBias && ctx->needs_input_grad(2))) {
      const auto& pd = p.bwdWeights;
      const bool shared = diffDstData.defined() && p.bwdData.diff_dst_desc() == pd.diff_dst_desc();
      at::Tensor diffDst = shared ? diffDstData : ToLayout(s, g, pd.diff_dst_desc());
      diffDstData = g = at::Tensor();  // diffDst holds what this stage reads
      at::Tensor src = ToLayout(s, x, pd.src_desc());
      at::Tensor diffW = Bytes(pd.diff_weights_desc().get_size());
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, Wrap(pd.src_desc(), src)},
                                           {DNNL_ARG_DIFF_DST, Wrap(pd.diff_dst_desc(), diffDst)},
                                           {DNNL_ARG_DIFF_WEIGHTS, Wrap(pd.diff_weights_desc(), diffW)},
                                           {DNNL_ARG_SCRATCHPAD, Scratchpad(pd.scratchpad_desc(), scratch)}};
      if (hasBias) {
        gradB = at::empty({w.size(0)}, w.options());
        args[DNNL_ARG_DIFF_BIAS] = Wrap(pd.diff_bias_desc(), gradB);
      }
      dnnl::convolution_backward_weights(pd).execute(s, args);
      gradW = FromLayout(s, diffW, pd.diff_weights_desc(), w.options().memory_format(w.suggest_memory_format()));
    }
    s.wait();
    return {gradX, ctx->needs_input_grad(1) ? gradW : at::Tensor(),
            hasBias && ctx->needs_input_grad(2) ? gradB : at::Tensor(), at::Tensor()};
  }
};

// train(input, weight, bias | null, stride [2], padding [2]) -> output with its autograd graph,
// or null (no Winograd kernel for the shape).
Napi::Value Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& x = UnwrapTensor(env, info[0], "winograd", "input");
  auto [w, b] = ReadWeights(env, info[1], info[2]);
  int64_t stride[2], padding[2];
  ReadPair(env, info[3], "stride", 1, 1 << 20, stride);
  ReadPair(env, info[4], "padding", 0, 2, padding);
  CheckInput(env, x, w);
  try {
    int64_t plan = TrainPlanFor(x, w, b.defined(), stride, padding);
    if (plan < 0) return env.Null();
    // Views in odd layouts: make them dense in their suggested format so their strides describe them.
    at::Tensor xd = x.contiguous(x.suggest_memory_format()), wd = w.contiguous(w.suggest_memory_format());
    return WrapTensor(env, WinogradFunction::apply(xd, wd, b.defined() ? b : at::empty({0}, w.options()), plan));
  } catch (...) {
    ThrowAsJs(env, "winograd");
  }
}

}  // namespace

void InitOneDnn(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("create", Napi::Function::New(env, Create));
  o.Set("forward", Napi::Function::New(env, Forward));
  o.Set("dispose", Napi::Function::New(env, Dispose));
  o.Set("train", Napi::Function::New(env, Train));
  exports.Set("winograd", o);
}

}  // namespace distill

#else  // built without oneDNN's headers: the JS side runs every convolution through libtorch

namespace distill {
void InitOneDnn(Napi::Env env, Napi::Object exports) {}
}  // namespace distill

#endif
