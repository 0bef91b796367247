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

Napi::Function NativeTensor::Init(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceMethod("dispose", &NativeTensor::Dispose),
                         InstanceMethod("_isDisposed", &NativeTensor::IsDisposed),
                         InstanceMethod("_shape", &NativeTensor::Shape),
                         InstanceMethod("_dtype", &NativeTensor::DType),
                         InstanceMethod("_device", &NativeTensor::Device),
                         InstanceMethod("_numel", &NativeTensor::Numel),
                         InstanceMethod("_dim", &NativeTensor::Dim),
                         InstanceMethod("_strides", &NativeTensor::Strides),
                         InstanceMethod("_isContiguous", &NativeTensor::IsContiguous),
                         InstanceMethod("_requiresGrad", &NativeTensor::RequiresGrad),
                         InstanceMethod("_setRequiresGrad", &NativeTensor::SetRequiresGrad),
                         InstanceMethod("_grad", &NativeTensor::Grad),
                         InstanceMethod("_setGrad", &NativeTensor::SetGrad),
                         InstanceMethod("_isLeaf", &NativeTensor::IsLeaf),
                         InstanceMethod("_retainGrad", &NativeTensor::RetainGrad),
                         InstanceMethod("_gradFnName", &NativeTensor::GradFnName),
                         InstanceMethod("_backward", &NativeTensor::Backward),
                         InstanceMethod("_item", &NativeTensor::Item),
                         InstanceMethod("_data", &NativeTensor::Data),
                         InstanceMethod("_storageId", &NativeTensor::DataPtrId),
                     });
}

NativeTensor::NativeTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTensor>(info) {}

NativeTensor::~NativeTensor() {
  // Safety net only: tensors are normally released by dispose() or a scope.
  if (tensor.defined()) gLive--;
}

static const at::Tensor& Live(const Napi::CallbackInfo& info, const at::Tensor& t) {
  if (!t.defined()) {
    throw Napi::Error::New(info.Env(),
                           "Tensor is disposed: it was freed by dispose() or by the tidy() scope that created it; "
                           "return it from the scope or keep() it to use it later");
  }
  return t;
}

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensorClass.IsEmpty() ? data->nativeTensorClass.New({}) : data->tensorClass.New({});
  NativeTensor* nt = NativeTensor::Unwrap(obj);
  nt->tensor = std::move(t);
  gLive++;
  return obj;
}

bool IsTensor(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) return false;
  auto* data = env.GetInstanceData<AddonData>();
  return v.As<Napi::Object>().InstanceOf(data->nativeTensorClass.Value());
}

const at::Tensor& UnwrapTensor(Napi::Env env, const Napi::Value& v, const char* what, const char* detail) {
  auto where = [&]() { return std::string(what) + (detail ? std::string(" (") + detail + ")" : std::string()); };
  if (!IsTensor(env, v)) throw Napi::TypeError::New(env, where() + ": expected a Tensor");
  NativeTensor* nt = NativeTensor::Unwrap(v.As<Napi::Object>());
  if (!nt->tensor.defined()) {
    throw Napi::Error::New(env, where() +
                                    ": Tensor is disposed: it was freed by dispose() or by the tidy() scope that "
                                    "created it; return it from the scope or keep() it to use it later");
  }
  return nt->tensor;
}

Napi::Value NativeTensor::Dispose(const Napi::CallbackInfo& info) {
  if (tensor.defined()) {
    tensor.reset();
    gLive--;
  }
  return info.Env().Undefined();
}

Napi::Value NativeTensor::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor.defined());
}

static Napi::Array IntArray(Napi::Env env, c10::IntArrayRef a) {
  Napi::Array out = Napi::Array::New(env, a.size());
  for (size_t i = 0; i < a.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, double(a[i])));
  return out;
}

Napi::Value NativeTensor::Shape(const Napi::CallbackInfo& info) { return IntArray(info.Env(), Live(info, tensor).sizes()); }
Napi::Value NativeTensor::Strides(const Napi::CallbackInfo& info) {
  return IntArray(info.Env(), Live(info, tensor).strides());
}
Napi::Value NativeTensor::DType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), int(Live(info, tensor).scalar_type()));
}
Napi::Value NativeTensor::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Live(info, tensor).device().str());
}
Napi::Value NativeTensor::Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Live(info, tensor).numel()));
}
Napi::Value NativeTensor::Dim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Live(info, tensor).dim()));
}
Napi::Value NativeTensor::IsContiguous(const Napi::CallbackInfo& info) {
  auto fmt = info.Length() > 0 && info[0].IsNumber() ? c10::MemoryFormat(info[0].As<Napi::Number>().Int32Value())
                                                      : c10::MemoryFormat::Contiguous;
  return Napi::Boolean::New(info.Env(), Live(info, tensor).is_contiguous(fmt));
}
Napi::Value NativeTensor::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info, tensor).requires_grad());
}
Napi::Value NativeTensor::SetRequiresGrad(const Napi::CallbackInfo& info) {
  try {
    Live(info, tensor).set_requires_grad(info[0].ToBoolean().Value());
  } catch (...) {
    ThrowAsJs(info.Env(), "requiresGrad");
  }
  return info.Env().Undefined();
}
Napi::Value NativeTensor::Grad(const Napi::CallbackInfo& info) {
  return WrapTensor(info.Env(), Live(info, tensor).grad());
}
Napi::Value NativeTensor::SetGrad(const Napi::CallbackInfo& info) {
  try {
    at::Tensor& g = Live(info, tensor).mutable_grad();
    if (info[0].IsNull() || info[0].IsUndefined())
      g.reset();
    else
      g = UnwrapTensor(info.Env(), info[0], "grad");
  } catch (...) {
    ThrowAsJs(info.Env(), "grad");
  }
  return info.Env().Undefined();
}
Napi::Value NativeTensor::IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info, tensor).is_leaf());
}
Napi::Value NativeTensor::RetainGrad(const Napi::CallbackInfo& info) {
  try {
    Live(info, tensor).retain_grad();
  } catch (...) {
    ThrowAsJs(info.Env(), "retainGrad");
  }
  return info.Env().Undefined();
}
Napi::Value NativeTensor::GradFnName(const Napi::CallbackInfo& info) {
  auto fn = Live(info, tensor).grad_fn();
  if (!fn) return info.Env().Null();
  return Napi::String::New(info.Env(), fn->name());
}

Napi::Value NativeTensor::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& self = Live(info, tensor);
  try {
    at::Tensor grad;
    if (info.Length() > 0 && !info[0].IsNull() && !info[0].IsUndefined()) grad = UnwrapTensor(env, info[0], "backward");
    bool retain = info.Length() > 1 && info[1].ToBoolean().Value();
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

Napi::Value NativeTensor::Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const at::Tensor& t = Live(info, tensor);
    at::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, double(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  } catch (...) {
    ThrowAsJs(env, "item");
  }
}

// Copies the elements into a new typed array of the tensor's own element type.
Napi::Value NativeTensor::Data(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    at::Tensor t = Live(info, tensor).detach().to(at::kCPU).contiguous();
    size_t n = size_t(t.numel());
    size_t bytes = n * t.element_size();
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
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
    napi_value out;
    if (napi_create_typedarray(env, kind, n, buf, 0, &out) != napi_ok) throw Napi::Error::New(env, "dataSync: typed array");
    return Napi::Value(env, out);
  } catch (...) {
    ThrowAsJs(env, "dataSync");
  }
}

// Identity of the underlying storage, so tests can tell views from copies.
Napi::Value NativeTensor::DataPtrId(const Napi::CallbackInfo& info) {
  const at::Tensor& t = Live(info, tensor);
  return Napi::Number::New(info.Env(), double(reinterpret_cast<uintptr_t>(t.storage().data())));
}

}  // namespace distill
