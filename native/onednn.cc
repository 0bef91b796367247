// Winograd convolution for frozen networks, through oneDNN (the library libtorch's CPU convolutions
// already run on). libtorch 1.13 asks oneDNN for its direct algorithm only; oneDNN also has
// F(4x4, 3x3) Winograd kernels for float32 on AVX-512, which do ~1/4 of the multiplications of a
// 3x3 convolution and are 1.3-2.3x faster on the maps of CIFAR networks (16x16 and 8x8 ones most).
// The frozen teacher's 3x3 convolutions use them (what cudnn.benchmark does on a GPU). Forward
// inference only: a convolution whose output needs a gradient runs libtorch's own.
//
// A convolution is a handle (an id, as process groups are: see common.h for why not an
// ObjectWrap) that keeps its weights packed in Winograd's layout, one plan per input shape. oneDNN
// blocks the packed weights differently for some batch sizes (an epoch's last, smaller batch; a
// method that runs the teacher on two batch sizes per step); each layout is packed once (4.4x the
// weight's memory each: packing is slow, ~0.1 s per million weights, so a method that alternates
// must not repack every step), at most kMaxPackings of them, the least recently used dropped.
// Activations stay libtorch tensors: each call reorders the input into oneDNN's blocked layout
// and the output back into the input's memory format; the buffers come from libtorch's allocator.
#include "common.h"

#ifdef DISTILL_ONEDNN

#include <dnnl.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <map>
#include <set>
#include <memory>
#include <tuple>

namespace distill {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& Engine() {
  static auto* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

struct Plan {
  dnnl::convolution_forward conv;
  dnnl::reorder toBlocked, fromBlocked;
  memory::desc src, dst, userSrc, userDst, weightsDesc;
  size_t scratchpad = 0;
};

struct Convolution {
  at::Tensor weight, bias;  // the caller's tensors, read when a plan packs its weights
  int64_t stride[2], padding[2];
  using Key = std::tuple<int64_t, int64_t, int64_t, bool>;  // (N, H, W, channels-last)
  std::map<Key, Plan> plans;
  std::set<Key> unsupported;  // shapes oneDNN has no Winograd kernel for
  std::vector<std::pair<memory::desc, at::Tensor>> packed;  // most recently used first
};

std::map<int, std::unique_ptr<Convolution>>& Convolutions() {
  static auto* all = new std::map<int, std::unique_ptr<Convolution>>();
  return *all;
}

memory Wrap(const memory::desc& d, const at::Tensor& t) {
  return memory(d, Engine(), const_cast<void*>(t.data_ptr()));
}

at::Tensor Bytes(size_t n) { return at::empty({int64_t(n)}, at::TensorOptions().dtype(at::kByte)); }

Convolution& Get(Napi::Env env, const Napi::Value& v) {
  int id = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  auto it = Convolutions().find(id);
  if (it == Convolutions().end()) throw Napi::Error::New(env, "winograd: the convolution was disposed");
  return *it->second;
}

// Builds the plan for one input shape; throws dnnl::error where oneDNN has no Winograd kernel.
Plan MakePlan(Convolution& c, int64_t n, int64_t h, int64_t w, bool channelsLast) {
  const int64_t out = c.weight.size(0), in = c.weight.size(1);
  const int64_t oh = (h + 2 * c.padding[0] - 3) / c.stride[0] + 1, ow = (w + 2 * c.padding[1] - 3) / c.stride[1] + 1;
  const auto f32 = memory::data_type::f32;
  memory::desc src({n, in, h, w}, f32, Tag::any), dst({n, out, oh, ow}, f32, Tag::any);
  memory::desc weights({out, in, 3, 3}, f32, Tag::any), bias({out}, f32, Tag::a);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, src,
                                    weights, c.bias.defined() ? bias : memory::desc(), dst, {c.stride[0], c.stride[1]},
                                    {c.padding[0], c.padding[1]}, {c.padding[0], c.padding[1]});
  dnnl::convolution_forward::primitive_desc pd(d, attr, Engine());
  Plan p;
  p.conv = dnnl::convolution_forward(pd);
  p.src = pd.src_desc();
  p.dst = pd.dst_desc();
  p.weightsDesc = pd.weights_desc();
  const Tag user = channelsLast ? Tag::nhwc : Tag::nchw;
  p.userSrc = memory::desc({n, in, h, w}, f32, user);
  p.userDst = memory::desc({n, out, oh, ow}, f32, user);
  p.toBlocked = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), p.userSrc, Engine(), p.src));
  p.fromBlocked = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), p.dst, Engine(), p.userDst));
  p.scratchpad = pd.scratchpad_desc().get_size();
  return p;
}

constexpr size_t kMaxPackings = 3;

// The weights in the plan's packed layout, packed on first use.
at::Tensor Packed(Convolution& c, const Plan& p) {
  for (size_t i = 0; i < c.packed.size(); i++) {
    if (c.packed[i].first != p.weightsDesc) continue;
    std::rotate(c.packed.begin(), c.packed.begin() + i, c.packed.begin() + i + 1);
    return c.packed.front().second;
  }
  if (c.packed.size() >= kMaxPackings) c.packed.pop_back();  // released before the new one is made
  dnnl::stream s(Engine());
  at::Tensor plain = c.weight.contiguous();
  memory::desc plainDesc({c.weight.size(0), c.weight.size(1), 3, 3}, memory::data_type::f32, Tag::oihw);
  at::Tensor packed = Bytes(p.weightsDesc.get_size());
  memory from = Wrap(plainDesc, plain), to = Wrap(p.weightsDesc, packed);
  dnnl::reorder(from, to).execute(s, from, to);
  s.wait();
  c.packed.insert(c.packed.begin(), {p.weightsDesc, packed});
  return packed;
}

// winogradCreate(weight [O, C, 3, 3] float32 CPU, bias [O] | null, stride [2], padding [2]) -> id
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& weight = UnwrapTensor(env, info[0], "winograd", "weight");
  at::Tensor bias = IsTensor(env, info[1]) ? UnwrapTensor(env, info[1], "winograd", "bias") : at::Tensor();
  if (weight.dim() != 4 || weight.size(2) != 3 || weight.size(3) != 3 || weight.scalar_type() != at::kFloat ||
      !weight.device().is_cpu())
    throw Napi::Error::New(env, "winograd: the weight must be a float32 CPU tensor of shape [out, in, 3, 3]");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0) || bias.scalar_type() != at::kFloat ||
                         !bias.device().is_cpu()))
    throw Napi::Error::New(env, "winograd: the bias must be a float32 CPU tensor of shape [out]");
  auto c = std::make_unique<Convolution>();
  c->weight = weight.detach();
  if (bias.defined()) c->bias = bias.detach().contiguous();
  for (uint32_t i = 0; i < 2; i++) {
    c->stride[i] = info[2].As<Napi::Array>().Get(i).As<Napi::Number>().Int64Value();
    c->padding[i] = info[3].As<Napi::Array>().Get(i).As<Napi::Number>().Int64Value();
    if (c->stride[i] < 1 || c->padding[i] < 0 || c->padding[i] > 2)
      throw Napi::Error::New(env, "winograd: stride must be >= 1 and padding between 0 and 2");
  }
  static int next = 1;
  int id = next++;
  Convolutions()[id] = std::move(c);
  return Napi::Number::New(env, id);
}

// winogradForward(id, input [N, C, H, W] float32 CPU) -> output in the input's memory format, or
// null where oneDNN has no Winograd kernel for this shape (the caller then runs libtorch's).
Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Convolution& c = Get(env, info[0]);
  const at::Tensor& x = UnwrapTensor(env, info[1], "winograd", "input");
  if (x.dim() != 4 || x.size(1) != c.weight.size(1) || x.scalar_type() != at::kFloat || !x.device().is_cpu())
    throw Napi::Error::New(env, "winograd: the input must be a float32 CPU tensor of shape [N, " +
                                    std::to_string(c.weight.size(1)) + ", H, W], got " + c10::str(x.sizes()));
  try {
    const bool channelsLast = x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
    const auto key = std::make_tuple(x.size(0), x.size(2), x.size(3), channelsLast);
    auto it = c.plans.find(key);
    if (c.unsupported.count(key)) return env.Null();
    if (it == c.plans.end()) {
      try {
        it = c.plans.emplace(key, MakePlan(c, x.size(0), x.size(2), x.size(3), channelsLast)).first;
      } catch (const dnnl::error&) {
        c.unsupported.insert(key);
        return env.Null();
      }
    }
    Plan& p = it->second;
    const auto format = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    at::Tensor input = x.contiguous(format);
    auto dims = p.userDst.dims();
    at::Tensor output = at::empty({dims[0], dims[1], dims[2], dims[3]}, x.options().memory_format(format));
    at::Tensor blockedSrc = Bytes(p.src.get_size()), blockedDst = Bytes(p.dst.get_size());
    at::Tensor scratch = Bytes(std::max<size_t>(p.scratchpad, 1));
    dnnl::stream s(Engine());
    memory userSrc = Wrap(p.userSrc, input), src = Wrap(p.src, blockedSrc);
    memory dst = Wrap(p.dst, blockedDst), userDst = Wrap(p.userDst, output);
    p.toBlocked.execute(s, userSrc, src);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, Wrap(p.weightsDesc, Packed(c, p))}, {DNNL_ARG_DST, dst}};
    if (p.scratchpad)
      args[DNNL_ARG_SCRATCHPAD] = Wrap(memory::desc({int64_t(p.scratchpad)}, memory::data_type::u8, Tag::a), scratch);
    if (c.bias.defined()) args[DNNL_ARG_BIAS] = Wrap(memory::desc({c.bias.size(0)}, memory::data_type::f32, Tag::a), c.bias);
    p.conv.execute(s, args);
    p.fromBlocked.execute(s, dst, userDst);
    s.wait();
    return WrapTensor(env, std::move(output));
  } catch (...) {
    ThrowAsJs(env, "winograd");
  }
}


// ---- Training: a convolution whose output needs gradients (opt-in for the student) ----
// Forward, backward-data and backward-weights all run oneDNN's Winograd kernels; the weights
// change every step, so they are reordered at each call instead of packed once. The tensors keep
// their own memory formats (taken from their strides); the blocked copies are temporaries.

memory::desc UserDesc(const at::Tensor& t) {
  memory::dims dims(t.sizes().begin(), t.sizes().end()), strides(t.strides().begin(), t.strides().end());
  return memory::desc(dims, memory::data_type::f32, strides);
}

struct TrainPlan {
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_data::primitive_desc bwdData;
  dnnl::convolution_backward_weights::primitive_desc bwdWeights;
  dnnl::convolution_forward fwdPrim;
  dnnl::convolution_backward_data bwdDataPrim;
  dnnl::convolution_backward_weights bwdWeightsPrim;
};

// (N, C, H, W, O, stride h, stride w, pad h, pad w, bias)
using TrainKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
std::vector<std::unique_ptr<TrainPlan>>& TrainPlans() {
  static auto* all = new std::vector<std::unique_ptr<TrainPlan>>();
  return *all;
}
std::map<TrainKey, int64_t>& TrainIndex() {  // -1: no Winograd kernel for this shape
  static auto* all = new std::map<TrainKey, int64_t>();
  return *all;
}

int64_t TrainPlanFor(const at::Tensor& x, const at::Tensor& w, bool bias, const int64_t stride[2], const int64_t padding[2]) {
  TrainKey key{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), stride[0], stride[1], padding[0], padding[1], bias};
  auto it = TrainIndex().find(key);
  if (it != TrainIndex().end()) return it->second;
  const int64_t n = x.size(0), in = x.size(1), h = x.size(2), wd = x.size(3), out = w.size(0);
  const int64_t oh = (h + 2 * padding[0] - 3) / stride[0] + 1, ow = (wd + 2 * padding[1] - 3) / stride[1] + 1;
  const auto f32 = memory::data_type::f32;
  const auto alg = dnnl::algorithm::convolution_winograd;
  memory::desc src({n, in, h, wd}, f32, Tag::any), dst({n, out, oh, ow}, f32, Tag::any);
  memory::desc weights({out, in, 3, 3}, f32, Tag::any), biasDesc = bias ? memory::desc({out}, f32, Tag::a) : memory::desc();
  memory::dims strides{stride[0], stride[1]}, pads{padding[0], padding[1]};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  int64_t index = -1;
  try {
    auto p = std::make_unique<TrainPlan>();
    p->fwd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src, weights, biasDesc, dst, strides, pads, pads),
        attr, Engine());
    p->bwdData = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, src, weights, dst, strides, pads, pads), attr, Engine(), p->fwd);
    p->bwdWeights = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(alg, src, weights, biasDesc, dst, strides, pads, pads), attr, Engine(),
        p->fwd);
    p->fwdPrim = dnnl::convolution_forward(p->fwd);
    p->bwdDataPrim = dnnl::convolution_backward_data(p->bwdData);
    p->bwdWeightsPrim = dnnl::convolution_backward_weights(p->bwdWeights);
    TrainPlans().push_back(std::move(p));
    index = int64_t(TrainPlans().size()) - 1;
  } catch (const dnnl::error&) {
  }
  TrainIndex()[key] = index;
  return index;
}

// `from` (a libtorch tensor) in oneDNN's layout `to`: a new byte buffer, or `from` itself if the layouts agree.
at::Tensor ToLayout(dnnl::stream& s, const at::Tensor& from, const memory::desc& to) {
  memory::desc user = UserDesc(from);
  if (user == to) return from;
  at::Tensor buffer = Bytes(to.get_size());
  memory a = Wrap(user, from), b = Wrap(to, buffer);
  dnnl::reorder(a, b).execute(s, a, b);
  return buffer;
}
// A oneDNN buffer in layout `from` copied into `to`, a libtorch tensor.
void FromLayout(dnnl::stream& s, const at::Tensor& buffer, const memory::desc& from, const at::Tensor& to) {
  memory a = Wrap(from, buffer), b = Wrap(UserDesc(to), to);
  dnnl::reorder(a, b).execute(s, a, b);
}
memory Scratch(const at::Tensor& t, size_t n) {
  return Wrap(memory::desc({int64_t(std::max<size_t>(n, 1))}, memory::data_type::u8, Tag::a), t);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct WinogradFunction : public torch::autograd::Function<WinogradFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            int64_t plan) {
    TrainPlan& p = *TrainPlans()[plan];
    dnnl::stream s(Engine());
    const auto format = x.suggest_memory_format();
    at::Tensor src = ToLayout(s, x, p.fwd.src_desc()), weights = ToLayout(s, w, p.fwd.weights_desc());
    auto dims = p.fwd.dst_desc().dims();
    at::Tensor dst = Bytes(p.fwd.dst_desc().get_size()), scratch = Bytes(p.fwd.scratchpad_desc().get_size());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, Wrap(p.fwd.src_desc(), src)},
                                         {DNNL_ARG_WEIGHTS, Wrap(p.fwd.weights_desc(), weights)},
                                         {DNNL_ARG_DST, Wrap(p.fwd.dst_desc(), dst)},
                                         {DNNL_ARG_SCRATCHPAD, Scratch(scratch, p.fwd.scratchpad_desc().get_size())}};
    // No bias is an empty tensor (libtorch's custom functions take no undefined inputs).
    const bool hasBias = b.numel() > 0;
    at::Tensor bias = b.contiguous();
    if (hasBias) args[DNNL_ARG_BIAS] = Wrap(p.fwd.bias_desc(), bias);
    p.fwdPrim.execute(s, args);
    at::Tensor y = at::empty({dims[0], dims[1], dims[2], dims[3]}, x.options().memory_format(format));
    FromLayout(s, dst, p.fwd.dst_desc(), y);
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
    TrainPlan& p = *TrainPlans()[ctx->saved_data["plan"].toInt()];
    const bool hasBias = ctx->saved_data["bias"].toBool();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    dnnl::stream s(Engine());
    at::Tensor g = grads[0].contiguous(x.suggest_memory_format());
    at::Tensor gradX, gradW, gradB;
    if (ctx->needs_input_grad(0)) {
      at::Tensor diffDst = ToLayout(s, g, p.bwdData.diff_dst_desc()), weights = ToLayout(s, w, p.bwdData.weights_desc());
      at::Tensor diffSrc = Bytes(p.bwdData.diff_src_desc().get_size()), scratch = Bytes(p.bwdData.scratchpad_desc().get_size());
      p.bwdDataPrim.execute(s, {{DNNL_ARG_DIFF_DST, Wrap(p.bwdData.diff_dst_desc(), diffDst)},
                                {DNNL_ARG_WEIGHTS, Wrap(p.bwdData.weights_desc(), weights)},
                                {DNNL_ARG_DIFF_SRC, Wrap(p.bwdData.diff_src_desc(), diffSrc)},
                                {DNNL_ARG_SCRATCHPAD, Scratch(scratch, p.bwdData.scratchpad_desc().get_size())}});
      gradX = at::empty_like(x, x.options().memory_format(x.suggest_memory_format()));
      FromLayout(s, diffSrc, p.bwdData.diff_src_desc(), gradX);
    }
    if (ctx->needs_input_grad(1) || (hasBias && ctx->needs_input_grad(2))) {
      at::Tensor src = ToLayout(s, x, p.bwdWeights.src_desc()), diffDst = ToLayout(s, g, p.bwdWeights.diff_dst_desc());
      at::Tensor diffW = Bytes(p.bwdWeights.diff_weights_desc().get_size());
      at::Tensor scratch = Bytes(p.bwdWeights.scratchpad_desc().get_size());
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, Wrap(p.bwdWeights.src_desc(), src)},
          {DNNL_ARG_DIFF_DST, Wrap(p.bwdWeights.diff_dst_desc(), diffDst)},
          {DNNL_ARG_DIFF_WEIGHTS, Wrap(p.bwdWeights.diff_weights_desc(), diffW)},
          {DNNL_ARG_SCRATCHPAD, Scratch(scratch, p.bwdWeights.scratchpad_desc().get_size())}};
      if (hasBias) {
        gradB = at::empty({w.size(0)}, w.options());
        args[DNNL_ARG_DIFF_BIAS] = Wrap(p.bwdWeights.diff_bias_desc(), gradB);
      }
      p.bwdWeightsPrim.execute(s, args);
      gradW = at::empty_like(w, w.options().memory_format(w.suggest_memory_format()));
      FromLayout(s, diffW, p.bwdWeights.diff_weights_desc(), gradW);
    }
    s.wait();
    return {gradX, ctx->needs_input_grad(1) ? gradW : at::Tensor(),
            hasBias && ctx->needs_input_grad(2) ? gradB : at::Tensor(), at::Tensor()};
  }
};

// winogradTrain(input, weight, bias | null, stride [2], padding [2]) -> output with its autograd
// graph, or null where oneDNN has no Winograd kernel for the shape (the caller runs libtorch's).
Napi::Value Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& x = UnwrapTensor(env, info[0], "winograd", "input");
  const at::Tensor& w = UnwrapTensor(env, info[1], "winograd", "weight");
  at::Tensor b = IsTensor(env, info[2]) ? UnwrapTensor(env, info[2], "winograd", "bias") : at::Tensor();
  int64_t stride[2], padding[2];
  for (uint32_t i = 0; i < 2; i++) {
    stride[i] = info[3].As<Napi::Array>().Get(i).As<Napi::Number>().Int64Value();
    padding[i] = info[4].As<Napi::Array>().Get(i).As<Napi::Number>().Int64Value();
    if (stride[i] < 1 || padding[i] < 0 || padding[i] > 2)
      throw Napi::Error::New(env, "winograd: stride must be >= 1 and padding between 0 and 2");
  }
  auto f32cpu = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat && t.device().is_cpu(); };
  if (w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3 || !f32cpu(w))
    throw Napi::Error::New(env, "winograd: the weight must be a float32 CPU tensor of shape [out, in, 3, 3]");
  if (x.dim() != 4 || x.size(1) != w.size(1) || !f32cpu(x))
    throw Napi::Error::New(env, "winograd: the input must be a float32 CPU tensor of shape [N, " +
                                    std::to_string(w.size(1)) + ", H, W], got " + c10::str(x.sizes()));
  if (b.defined() && (b.dim() != 1 || b.size(0) != w.size(0) || !f32cpu(b)))
    throw Napi::Error::New(env, "winograd: the bias must be a float32 CPU tensor of shape [out]");
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

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  int id = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  Convolutions().erase(id);
  return info.Env().Undefined();
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
