// The Tensor handle: lifetime, metadata, autograd entry points and data export.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include <atomic>
#include <cstring>

namespace distill {

static std::atomic<int64_t> gLive{0};
int64_t LiveTensorCount() { return gLive.load(); }

void ThrowAsJs(Napi::Env env, const std::string& where) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, where + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, where + ": " + e.what());
  } catch (...) {
    throw Napi::Error::New(env, where + ": unknown native error");
  }
}

c10::Device ParseDevice(Napi::Env env, const std::string& s) {
  try {
    return c10::Device(s);
  } catch (...) {
    throw Napi::Error::New(env, "invalid device '" + s + "': expected 'cpu', 'cuda' or 'cuda:N'");
  }
}

namespace {

constexpr const char* kDisposed =
    "Tensor is disposed: it was freed by dispose() or by the tidy() scope that created it; return it from the scope "
    "or keep() it to use it later";

TensorTable& Table(Napi::Env env) { return env.GetInstanceData<AddonData>()->table; }

// The live tensor in slot `h`, or nullptr (a disposed tensor, or a slot number that is none).
at::Tensor* Slot(Napi::Env env, double h) {
  TensorTable& table = Table(env);
  if (!(h >= 0 && h < double(table.slots.size()))) return nullptr;
  at::Tensor& t = table.slots[size_t(h)];
  return t.defined() ? &t : nullptr;
}

// The tensor of the handle passed as the first argument of the functions below.
const at::Tensor& Live(const Napi::CallbackInfo& info) {
  at::Tensor* t = info[0].IsNumber() ? Slot(info.Env(), info[0].As<Napi::Number>().DoubleValue()) : nullptr;
  if (!t) throw Napi::Error::New(info.Env(), kDisposed);
  return *t;
}

Napi::Array IntArray(Napi::Env env, c10::IntArrayRef a) {
  Napi::Array out = Napi::Array::New(env, a.size());
  for (size_t i = 0; i < a.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, double(a[i])));
  return out;
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return env.Undefined();
  double h = info[0].As<Napi::Number>().DoubleValue();
  if (at::Tensor* t = Slot(env, h)) {
    t->reset();
    Table(env).free.push_back(uint32_t(h));
    gLive--;
  }
  return env.Undefined();
}
Napi::Value Shape(const Napi::CallbackInfo& info) { return IntArray(info.Env(), Live(info).sizes()); }
Napi::Value Strides(const Napi::CallbackInfo& info) { return IntArray(info.Env(), Live(info).strides()); }
Napi::Value DType(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), int(Live(info).scalar_type())); }
Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Live(info).device().str()); }
Napi::Value Numel(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(Live(info).numel())); }
Napi::Value Dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(Live(info).dim())); }
Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  const at::Tensor& t = Live(info);
  int code = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (code < 0 || code > 3) throw Napi::RangeError::New(info.Env(), "isContiguous: unknown memory format");
  return Napi::Boolean::New(info.Env(), t.is_contiguous(c10::MemoryFormat(code)));
}
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Live(info).requires_grad()); }
Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  try {
    const_cast<at::Tensor&>(Live(info)).set_requires_grad(info[1].ToBoolean().Value());
  } catch (...) {
    ThrowAsJs(info.Env(), "requiresGrad");
  }
  return info.Env().Undefined();
}
Napi::Value Grad(const Napi::CallbackInfo& info) { return WrapTensor(info.Env(), Live(info).grad()); }
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  try {
    at::Tensor& g = const_cast<at::Tensor&>(Live(info)).mutable_grad();
    if (info[1].IsNull() || info[1].IsUndefined())
      g.reset();
    else
      g = UnwrapTensor(info.Env(), info[1], "grad");
  } catch (...) {
    ThrowAsJs(info.Env(), "grad");
  }
  return info.Env().Undefined();
}
Napi::Value IsLeaf(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Live(info).is_leaf()); }
Napi::Value RetainGrad(const Napi::CallbackInfo& info) {
  try {
    Live(info).retain_grad();
  } catch (...) {
    ThrowAsJs(info.Env(), "retainGrad");
  }
  return info.Env().Undefined();
}
Napi::Value GradFnName(const Napi::CallbackInfo& info) {
  auto fn = Live(info).grad_fn();
  if (!fn) return info.Env().Null();
  return Napi::String::New(info.Env(), fn->name());
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const at::Tensor& self = Live(info);
    at::Tensor grad;
    if (!info[1].IsNull() && !info[1].IsUndefined()) grad = UnwrapTensor(env, info[1], "backward");
    bool retain = info[2].ToBoolean().Value();
    if (!grad.defined() && self.numel() != 1) {
      throw Napi::Error::New(env, "backward: grad can be implicitly created only for scalar outputs; pass a gradient "
                                  "tensor of shape [" + c10::str(self.sizes()) + "]");
    }
    torch::autograd::backward({self}, grad.defined() ? torch::autograd::variable_list{grad}
                                                     : torch::autograd::variable_list{},
                              retain ? c10::optional<bool>(true) : c10::nullopt, false);
  } catch (...) {
    ThrowAsJs(env, "backward");
  }
  return env.Undefined();
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    at::Scalar s = Live(info).item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, double(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  } catch (...) {
    ThrowAsJs(env, "item");
  }
}

// Copies the elements into a new typed array of the tensor's own element type.
Napi::Value Data(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    at::Tensor t = Live(info).detach().to(at::kCPU).contiguous();
    size_t n = size_t(t.numel());
    size_t bytes = n * t.element_size();
    napi_typedarray_type kind;
    switch (t.scalar_type()) {
      case at::kFloat: kind = napi_float32_array; break;
      case at::kDouble: kind = napi_float64_array; break;
      case at::kLong: kind = napi_bigint64_array; break;
      case at::kInt: kind = napi_int32_array; break;
      case at::kShort: kind = napi_int16_array; break;
      case at::kChar: kind = napi_int8_array; break;
      case at::kByte: kind = napi_uint8_array; break;
      case at::kBool: kind = napi_uint8_array; break;
      default:
        throw Napi::Error::New(env, std::string("dataSync: unsupported dtype ") + c10::toString(t.scalar_type()));
    }
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
    napi_value out;
    if (napi_create_typedarray(env, kind, n, buf, 0, &out) != napi_ok) throw Napi::Error::New(env, "dataSync: typed array");
    return Napi::Value(env, out);
  } catch (...) {
    ThrowAsJs(env, "dataSync");
  }
}

// Identity of the underlying storage, so tests can tell views from copies.
// The in-place modification counter (derived values such as folded weights check it to stay current).
Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Live(info)._version()));
}

Napi::Value StorageId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(reinterpret_cast<uintptr_t>(Live(info).storage().data())));
}

}  // namespace

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* data = env.GetInstanceData<AddonData>();
  if (data->tensorClass.IsEmpty()) throw Napi::Error::New(env, "distill-ts: the Tensor class is not registered");
  TensorTable& table = data->table;
  uint32_t h;
  if (!table.free.empty()) {
    h = table.free.back();
    table.free.pop_back();
    table.slots[h] = std::move(t);
  } else {
    h = uint32_t(table.slots.size());
    table.slots.push_back(std::move(t));
  }
  gLive++;
  return data->tensorClass.New({Napi::Number::New(env, h)});
}

bool IsTensor(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) return false;
  auto* data = env.GetInstanceData<AddonData>();
  return !data->tensorClass.IsEmpty() && v.As<Napi::Object>().InstanceOf(data->tensorClass.Value());
}

const at::Tensor& UnwrapTensor(Napi::Env env, const Napi::Value& v, const char* what, const char* detail) {
  auto where = [&]() { return std::string(what) + (detail ? std::string(" (") + detail + ")" : std::string()); };
  if (!IsTensor(env, v)) throw Napi::TypeError::New(env, where() + ": expected a Tensor");
  // (A cached key cannot be kept: Node 20 makes no references to strings.)
  Napi::Value h = v.As<Napi::Object>().Get("_h");
  at::Tensor* t = h.IsNumber() ? Slot(env, h.As<Napi::Number>().DoubleValue()) : nullptr;
  if (!t) throw Napi::Error::New(env, where() + ": " + kDisposed);
  return *t;
}

void InitTensor(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Value (*)(const Napi::CallbackInfo&)> fns[] = {
      {"tensorRelease", Release},
      {"tensorShape", Shape},           {"tensorStrides", Strides},
      {"tensorDType", DType},           {"tensorDevice", Device},
      {"tensorNumel", Numel},           {"tensorDim", Dim},
      {"tensorIsContiguous", IsContiguous}, {"tensorRequiresGrad", RequiresGrad},
      {"tensorSetRequiresGrad", SetRequiresGrad}, {"tensorGrad", Grad},
      {"tensorSetGrad", SetGrad},       {"tensorIsLeaf", IsLeaf},
      {"tensorRetainGrad", RetainGrad}, {"tensorGradFnName", GradFnName},
      {"tensorBackward", Backward},     {"tensorItem", Item},
      {"tensorData", Data},             {"tensorStorageId", StorageId},
      {"tensorVersion", Version},
  };
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn));
}

}  // namespace distill
