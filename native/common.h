// Shared declarations of the distill-ts native addon.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace distill {

// Every tensor JS holds lives in a slot of this table; a JS Tensor carries its slot number
// (`_h`). Why not an ObjectWrap: Node defers the finalizers of wrapped objects to a later turn
// of the event loop, so a synchronous training loop, which never yields, piles up the native
// part of every wrapper it made (about 160 bytes per op, forever growing RSS). A slot is freed
// by dispose() at once; a tensor never disposed is freed by the JS FinalizationRegistry.
struct TensorTable {
  std::vector<at::Tensor> slots;
  std::vector<uint32_t> free;
};

// Native state kept per addon instance (per thread that loads the addon).
struct AddonData {
  Napi::FunctionReference tensorClass;  // the JS Tensor class, constructed with a slot number
  TensorTable table;
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

void InitTensor(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitAllocator(Napi::Env env, Napi::Object exports);
void InitSerialize(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);
void InitOneDnn(Napi::Env env, Napi::Object exports);

}  // namespace distill
