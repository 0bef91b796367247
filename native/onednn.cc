// Winograd convolution for frozen networks, through oneDNN (the library libtorch's CPU convolutions
// already run on). libtorch 1.13 asks oneDNN for its direct algorithm only; oneDNN also has
// F(4x4, 3x3) Winograd kernels for float32 on AVX-512, which do ~1/4 of the multiplications of a
// 3x3 convolution and are 1.3-2.3x faster on the maps of CIFAR networks (16x16 and 8x8 ones most).
// The frozen teacher's 3x3 convolutions use them (what cudnn.benchmark does on a GPU). Forward
// inference only: a convolution whose output needs a gradient runs libtorch's own.
//
// A convolution is a handle (an id, as process groups are: see common.h for why not an
// ObjectWrap) that keeps its weights packed in Winograd's layout, one plan per input shape.
// Activations stay libtorch tensors: each call reorders the input into oneDNN's blocked layout
// and the output back into the input's memory format; the buffers come from libtorch's allocator.
#include "common.h"

#ifdef DISTILL_ONEDNN

#include <dnnl.hpp>

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
  at::Tensor weights;  // packed for this plan (shared with plans whose layout is the same)
  size_t scratchpad = 0;
};

struct Convolution {
  at::Tensor weight, bias;  // the caller's tensors, read when a plan packs its weights
  int64_t stride[2], padding[2];
  using Key = std::tuple<int64_t, int64_t, int64_t, bool>;  // (N, H, W, channels-last)
  std::map<Key, Plan> plans;
  std::set<Key> unsupported;  // shapes oneDNN has no Winograd kernel for
  std::vector<std::pair<memory::desc, at::Tensor>> packed;
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
  for (auto& [desc, t] : c.packed)
    if (desc == pd.weights_desc()) p.weights = t;
  if (!p.weights.defined()) {
    dnnl::stream s(Engine());
    at::Tensor plain = c.weight.contiguous();
    memory::desc plainDesc({out, in, 3, 3}, f32, Tag::oihw);
    p.weights = Bytes(pd.weights_desc().get_size());
    memory from = Wrap(plainDesc, plain), to = Wrap(pd.weights_desc(), p.weights);
    dnnl::reorder(from, to).execute(s, from, to);
    s.wait();
    c.packed.emplace_back(pd.weights_desc(), p.weights);
  }
  return p;
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
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, Wrap(p.weightsDesc, p.weights)}, {DNNL_ARG_DST, dst}};
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
  exports.Set("winograd", o);
}

}  // namespace distill

#else  // built without oneDNN's headers: the JS side runs every convolution through libtorch

namespace distill {
void InitOneDnn(Napi::Env env, Napi::Object exports) {}
}  // namespace distill

#endif
