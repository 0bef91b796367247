// Shared declarations of the distill-ts native addon.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>

namespace distill {

// The JS-visible handle of one at::Tensor. JS subclasses it (src/tensor/tensor.ts) so that
// every tensor the addon returns is an instance of the TypeScript Tensor class.
class NativeTensor : public Napi::ObjectWrap<NativeTensor> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeTensor(const Napi::CallbackInfo& info);
  ~NativeTensor() override;

  at::Tensor tensor;  // undefined once disposed

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value Dim(const Napi::CallbackInfo& info);
  Napi::Value Strides(const Napi::CallbackInfo& info);
  Napi::Value IsContiguous(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value IsLeaf(const Napi::CallbackInfo& info);
  Napi::Value RetainGrad(const Napi::CallbackInfo& info);
  Napi::Value GradFnName(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value Data(const Napi::CallbackInfo& info);
  Napi::Value DataPtrId(const Napi::CallbackInfo& info);
};

// Native state kept per addon instance.
struct AddonData {
  Napi::FunctionReference nativeTensorClass;
  Napi::FunctionReference tensorClass;  // the JS subclass used for results
};

// Wraps a tensor into a new JS Tensor (null for an undefined tensor).
Napi::Value WrapTensor(Napi::Env env, at::Tensor t);
// Unwraps a JS Tensor; throws a JS error naming `what` (and `detail`, e.g. the argument) if it is
// not a live tensor. Messages are built only on failure: this runs for every argument of every op.
const at::Tensor& UnwrapTensor(Napi::Env env, const Napi::Value& v, const char* what, const char* detail = nullptr);
bool IsTensor(Napi::Env env, const Napi::Value& v);

// Converts a thrown C++ exception into a JS error that names the operation.
[[noreturn]] void ThrowAsJs(Napi::Env env, const std::string& where);

c10::Device ParseDevice(Napi::Env env, const std::string& s);
int64_t LiveTensorCount();

void InitOps(Napi::Env env, Napi::Object exports);
void InitAllocator(Napi::Env env, Napi::Object exports);
void InitSerialize(Napi::Env env, Napi::Object exports);

}  // namespace distill
