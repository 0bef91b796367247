// Reading and writing PyTorch's own file format (torch.save / torch.load).
//
// The unpickler used here is libtorch's: it rebuilds tensors, dicts, lists, tuples and
// primitives, and has no way to import or call Python code. Anything that is not plain data
// (a class instance) is refused with an error.
#include "common.h"

#include <torch/csrc/jit/serialization/pickle.h>

namespace distill {
namespace {

c10::IValue FromJs(Napi::Env env, const Napi::Value& v, const std::string& path) {
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
      dict.insert(k, FromJs(env, kv.Get(uint32_t(1)), path.empty() ? name : path + "." + name));
    }
    return dict;
  }
  if (v.IsArray()) {
    Napi::Array arr = v.As<Napi::Array>();
    c10::impl::GenericList list(c10::AnyType::get());
    for (uint32_t i = 0; i < arr.Length(); i++) list.push_back(FromJs(env, arr.Get(i), path + "[" + std::to_string(i) + "]"));
    return list;
  }
  if (v.IsObject() && !v.IsFunction()) {
    Napi::Object obj = v.As<Napi::Object>();
    Napi::Array keys = obj.GetPropertyNames();
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string key = keys.Get(i).ToString();
      dict.insert(key, FromJs(env, obj.Get(key), path.empty() ? key : path + "." + key));
    }
    return dict;
  }
  throw Napi::TypeError::New(env, "save: value at '" + path + "' cannot be saved (tensors, objects, arrays, numbers, "
                                  "strings, booleans and null only)");
}

Napi::Value ToJs(Napi::Env env, const c10::IValue& v, const std::string& path) {
  if (v.isTensor()) return WrapTensor(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, double(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isGenericDict()) {
    Napi::Object obj = Napi::Object::New(env);
    for (const auto& kv : v.toGenericDict()) {
      const c10::IValue& k = kv.key();
      std::string key = k.isString() ? k.toStringRef()
                        : k.isInt()  ? std::to_string(k.toInt())
                                     : throw Napi::Error::New(env, "load: unsupported dict key type at '" + path + "'");
      obj.Set(key, ToJs(env, kv.value(), path.empty() ? key : path + "." + key));
    }
    return obj;
  }
  if (v.isList() || v.isTuple() || v.isTensorList() || v.isIntList() || v.isDoubleList() || v.isBoolList()) {
    std::vector<c10::IValue> items;
    if (v.isTuple()) {
      for (const auto& e : v.toTupleRef().elements()) items.push_back(e);
    } else {
      for (const auto& e : v.toListRef()) items.push_back(e);
    }
    Napi::Array arr = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size(); i++) arr.Set(uint32_t(i), ToJs(env, items[i], path + "[" + std::to_string(i) + "]"));
    return arr;
  }
  throw Napi::Error::New(env, "load: refused a value of type " + v.tagKind() + " at '" + path +
                                  "': only tensors, dicts, lists, numbers and strings are loaded");
}

Napi::Value Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10::IValue value = FromJs(env, info[0], "");
  std::vector<char> bytes;
  try {
    bytes = torch::jit::pickle_save(value);
  } catch (...) {
    ThrowAsJs(env, "save");
  }
  return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
}

Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "load: expected a Buffer");
  auto buf = info[0].As<Napi::Buffer<char>>();
  std::vector<char> bytes(buf.Data(), buf.Data() + buf.Length());
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(bytes);
  } catch (...) {
    ThrowAsJs(env, "load");
  }
  return ToJs(env, value, "");
}

}  // namespace

void InitSerialize(Napi::Env env, Napi::Object exports) {
  exports.Set("save", Napi::Function::New(env, Save));
  exports.Set("load", Napi::Function::New(env, Load));
}

}  // namespace distill
