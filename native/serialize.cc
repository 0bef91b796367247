// Writing PyTorch's own file format (torch.save) with libtorch's pickler. Reading is done in
// TypeScript (src/tensor/serialize.ts) by a restricted unpickler that validates every value
// before anything is allocated.
#include "common.h"

#include <torch/csrc/jit/serialization/pickle.h>

namespace distill {
namespace {

// Deeper than any checkpoint; a cyclic object would otherwise recurse until the stack overflows.
constexpr int kMaxDepth = 256;

c10::IValue FromJs(Napi::Env env, const Napi::Value& v, const std::string& path, int depth = 0) {
  if (depth > kMaxDepth) {
    std::string at = path.size() > 80 ? "..." + path.substr(path.size() - 80) : path;
    throw Napi::RangeError::New(env, "save: value at '" + at + "' is nested more than " + std::to_string(kMaxDepth) +
                                         " levels deep (a cyclic object?)");
  }
  if (v.IsNull() || v.IsUndefined()) return c10::IValue();
  if (IsTensor(env, v)) return UnwrapTensor(env, v, "save", path.c_str()).detach();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == double(int64_t(d)) && !(d == 0 && std::signbit(d)) && std::abs(d) < 9.0e15) {
      return int64_t(d);
    }
    return d;
  }
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsObject() && v.As<Napi::Object>().InstanceOf(env.Global().Get("Map").As<Napi::Function>())) {
    // A Map with integer keys becomes a dict with int keys, as PyTorch's optimizer state uses.
    Napi::Object map = v.As<Napi::Object>();
    Napi::Function arrayFrom = env.Global().Get("Array").As<Napi::Object>().Get("from").As<Napi::Function>();
    Napi::Array entries = arrayFrom.Call({map.Get("entries").As<Napi::Function>().Call(map, {})}).As<Napi::Array>();
    bool intKeys = true;
    for (uint32_t i = 0; i < entries.Length(); i++) {
      Napi::Value key = entries.Get(i).As<Napi::Array>().Get(uint32_t(0));
      if (!key.IsNumber() || key.As<Napi::Number>().DoubleValue() != double(key.As<Napi::Number>().Int64Value())) intKeys = false;
    }
    c10::impl::GenericDict dict(intKeys ? c10::TypePtr(c10::IntType::get()) : c10::TypePtr(c10::StringType::get()), c10::AnyType::get());
    for (uint32_t i = 0; i < entries.Length(); i++) {
      Napi::Array kv = entries.Get(i).As<Napi::Array>();
      Napi::Value key = kv.Get(uint32_t(0));
      std::string name = key.ToString();
      c10::IValue k = intKeys ? c10::IValue(key.As<Napi::Number>().Int64Value()) : c10::IValue(name);
      dict.insert(k, FromJs(env, kv.Get(uint32_t(1)), path.empty() ? name : path + "." + name, depth + 1));
    }
    return dict;
  }
  if (v.IsArray()) {
    Napi::Array arr = v.As<Napi::Array>();
    c10::impl::GenericList list(c10::AnyType::get());
    for (uint32_t i = 0; i < arr.Length(); i++) list.push_back(FromJs(env, arr.Get(i), path + "[" + std::to_string(i) + "]", depth + 1));
    return list;
  }
  if (v.IsObject() && !v.IsFunction()) {
    Napi::Object obj = v.As<Napi::Object>();
    Napi::Array keys = obj.GetPropertyNames();
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string key = keys.Get(i).ToString();
      dict.insert(key, FromJs(env, obj.Get(key), path.empty() ? key : path + "." + key, depth + 1));
    }
    return dict;
  }
  throw Napi::TypeError::New(env, "save: value at '" + path + "' cannot be saved (tensors, objects, arrays, numbers, "
                                  "strings, booleans and null only)");
}

Napi::Value Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<char> bytes;
  try {
    bytes = torch::jit::pickle_save(FromJs(env, info[0], ""));
  } catch (...) {
    ThrowAsJs(env, "save");
  }
  return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
}

}  // namespace

void InitSerialize(Napi::Env env, Napi::Object exports) {
  exports.Set("save", Napi::Function::New(env, Save));
}

}  // namespace distill
