// Entry point of the distill-ts native addon: tensor creation, global state and module init.
#include "common.h"

#include <ATen/autocast_mode.h>

#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cstring>
#include <mutex>

namespace distill {
namespace {

Napi::Value SetTensorClass(const Napi::CallbackInfo& info) {
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->tensorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// fromBuffer(typedArray, shape, dtypeCode, device, requiresGrad): copies the elements into a
// new tensor of the given dtype (the typed array's element type must match its size).
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  Napi::Array shapeArr = info[1].As<Napi::Array>();
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (uint32_t i = 0; i < shapeArr.Length(); i++) {
    double d = shapeArr.Get(i).As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < 9.0e15) || d != double(int64_t(d)) || (numel > 0 && int64_t(d) > INT64_MAX / numel)) {
      throw Napi::RangeError::New(env, "tensor: invalid shape: dimension " + std::to_string(i) + " is " +
                                           shapeArr.Get(i).ToString().Utf8Value());
    }
    shape.push_back(int64_t(d));
    numel *= int64_t(d);
  }
  auto dtype = c10::ScalarType(info[2].As<Napi::Number>().Int32Value());
  std::string device = info[3].As<Napi::String>();
  bool requiresGrad = info[4].ToBoolean().Value();
  size_t elem = c10::elementSize(dtype);
  if (arr.ByteLength() != size_t(numel) * elem) {
    throw Napi::Error::New(env, "tensor: " + std::to_string(arr.ElementLength()) + " values do not fill shape [" +
                                    c10::str(c10::IntArrayRef(shape)) + "] (" + std::to_string(numel) + " elements)");
  }
  try {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    if (numel) std::memcpy(t.data_ptr(), static_cast<char*>(arr.ArrayBuffer().Data()) + arr.ByteOffset(), arr.ByteLength());
    c10::Device dev = ParseDevice(env, device);
    if (!dev.is_cpu()) t = t.to(dev);
    if (requiresGrad) t.set_requires_grad(true);
    return WrapTensor(env, std::move(t));
  } catch (...) {
    ThrowAsJs(env, "tensor");
  }
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}
Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}
// autocastEnter(deviceType, dtypeCode) -> [enabled before, dtype code before];
// autocastExit(deviceType, enabled, dtypeCode) restores them. JS pairs the two (src/tensor/global.ts
// autocast()), so regions nest like torch.autocast; the cast cache is cleared when the outermost ends.
bool IsCuda(const Napi::CallbackInfo& info) {
  std::string device = info[0].As<Napi::String>();
  if (device != "cuda" && device != "cpu")
    throw Napi::Error::New(info.Env(), "autocast: device type must be cpu or cuda, got " + device);
  return device == "cuda";
}
void SetAutocastState(bool cuda, bool enabled, c10::ScalarType dtype) {
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
}
Napi::Value AutocastEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool cuda = IsCuda(info);
  bool before = cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  auto dtypeBefore = cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  SetAutocastState(cuda, true, c10::ScalarType(info[1].As<Napi::Number>().Int32Value()));
  at::autocast::increment_nesting();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, before));
  out.Set(1u, Napi::Number::New(env, int(dtypeBefore)));
  return out;
}
Napi::Value AutocastExit(const Napi::CallbackInfo& info) {
  bool cuda = IsCuda(info);
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetAutocastState(cuda, info[1].ToBoolean().Value(), c10::ScalarType(info[2].As<Napi::Number>().Int32Value()));
  return info.Env().Undefined();
}
Napi::Value AutocastEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), IsCuda(info) ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled());
}
Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  uint64_t seed = uint64_t(info[0].As<Napi::Number>().Int64Value());
  at::manual_seed(seed);
  return info.Env().Undefined();
}
// The CPU generator's state (a uint8 tensor), so checkpoints can restore random streams exactly.
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return WrapTensor(info.Env(), gen.get_state());
}
Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(UnwrapTensor(info.Env(), info[0], "setRngState"));
  } catch (...) {
    ThrowAsJs(info.Env(), "setRngState");
  }
  return info.Env().Undefined();
}
constexpr int kMaxThreads = 1024;
// A libtorch built on OpenBLAS (Debian's) runs its matrix products on OpenBLAS's own thread pool,
// which at::set_num_threads does not size (it sizes OpenMP's and MKL's): at 1 thread a product
// would still use every core. Looked up at run time, as the BLAS is whatever libblas.so.3 is.
void SetBlasThreads(int n) {
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
}
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  double n = info[0].As<Napi::Number>().DoubleValue();
  // An absurd count is accepted by ATen and only fails at the next op (a pool of 1e10 threads).
  if (!(n >= 1 && n <= kMaxThreads) || n != double(int(n))) {
    throw Napi::RangeError::New(info.Env(), "setNumThreads: need an integer from 1 to " + std::to_string(kMaxThreads) +
                                                ", got " + info[0].ToString().Utf8Value());
  }
  at::set_num_threads(int(n));
  SetBlasThreads(int(n));
  return info.Env().Undefined();
}
Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}
Napi::Value SetDeterministic(const Napi::CallbackInfo& info) {
  bool on = info[0].ToBoolean().Value();
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(on);
  at::globalContext().setBenchmarkCuDNN(!on && at::globalContext().benchmarkCuDNN());
  return info.Env().Undefined();
}
Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::hasCUDA() && at::getNumGPUs() > 0);
}
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? double(at::getNumGPUs()) : 0.0);
}
Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(LiveTensorCount()));
}
Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), TORCH_VERSION);
}

}  // namespace
}  // namespace distill

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace distill;
  auto* data = new AddonData();
  env.SetInstanceData(data);
  exports.Set("setTensorClass", Napi::Function::New(env, SetTensorClass));
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("autocastEnter", Napi::Function::New(env, AutocastEnter));
  exports.Set("autocastEnabled", Napi::Function::New(env, AutocastEnabled));
  exports.Set("autocastExit", Napi::Function::New(env, AutocastExit));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("getRngState", Napi::Function::New(env, GetRngState));
  exports.Set("setRngState", Napi::Function::New(env, SetRngState));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setDeterministic", Napi::Function::New(env, SetDeterministic));
  exports.Set("cudaIsAvailable", Napi::Function::New(env, CudaIsAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("liveTensors", Napi::Function::New(env, LiveTensors));
  exports.Set("torchVersion", Napi::Function::New(env, Version));
  InitTensor(env, exports);
  InitOps(env, exports);
  InitAllocator(env, exports);
  InitSerialize(env, exports);
  InitDistributed(env, exports);
  InitOneDnn(env, exports);
  return exports;
}

NODE_API_MODULE(distill_native, Init)
