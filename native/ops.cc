// Generic access to every ATen operator through the c10 dispatcher.
//
// JS resolves an operator once by schema name ("aten::conv2d", overload ""), gets an id and
// the schema's argument names, then calls it with positional arguments. Arguments are
// converted by the schema's declared types, and the call goes through the full dispatcher
// (autograd included), so results and gradients are those of PyTorch itself.
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <vector>

namespace distill {

enum class Kind {
  Tensor, TensorList, OptTensorList, Int, IntList, Float, FloatList, Bool, BoolList, Scalar, String, Device,
  Generator, Unsupported
};

struct ArgSpec {
  std::string name;
  Kind kind;
  bool optional;
  int64_t n;  // fixed list length (int[2]) or 0
  c10::optional<c10::IValue> defaultValue;
  bool kwargOnly;
  std::string typeStr;
};

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;
  std::vector<ArgSpec> args;
  size_t numReturns;
};

static std::vector<OpEntry>& Registry() {
  static std::vector<OpEntry> ops;
  return ops;
}

static Kind Classify(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return Kind::Tensor;
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: return Kind::Int;
    case c10::TypeKind::FloatType: return Kind::Float;
    case c10::TypeKind::BoolType: return Kind::Bool;
    case c10::TypeKind::NumberType: return Kind::Scalar;
    case c10::TypeKind::StringType: return Kind::String;
    case c10::TypeKind::DeviceObjType: return Kind::Device;
    case c10::TypeKind::GeneratorType: return Kind::Generator;
    case c10::TypeKind::ListType: {
      auto elem = type->castRaw<c10::ListType>()->getElementType();
      if (elem->kind() == c10::TypeKind::OptionalType) {
        auto inner = elem->castRaw<c10::OptionalType>()->getElementType();
        return inner->kind() == c10::TypeKind::TensorType ? Kind::OptTensorList : Kind::Unsupported;
      }
      switch (elem->kind()) {
        case c10::TypeKind::TensorType: return Kind::TensorList;
        case c10::TypeKind::IntType:
        case c10::TypeKind::SymIntType: return Kind::IntList;
        case c10::TypeKind::FloatType: return Kind::FloatList;
        case c10::TypeKind::BoolType: return Kind::BoolList;
        default: return Kind::Unsupported;
      }
    }
    default: return Kind::Unsupported;
  }
}

static Napi::Value Resolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw Napi::Error::New(env, "unknown operator " + name + (overload.empty() ? "" : "." + overload));
  const c10::FunctionSchema& schema = handle->schema();
  OpEntry entry{*handle, name + (overload.empty() ? "" : "." + overload), {}, schema.returns().size()};
  Napi::Array names = Napi::Array::New(env, schema.arguments().size());
  uint32_t i = 0;
  for (const c10::Argument& a : schema.arguments()) {
    c10::TypePtr t = a.type();
    bool optional = false;
    if (t->kind() == c10::TypeKind::OptionalType) {
      optional = true;
      t = t->castRaw<c10::OptionalType>()->getElementType();
    }
    ArgSpec spec{a.name(), Classify(t), optional, a.N() ? int64_t(*a.N()) : 0, a.default_value(), a.kwarg_only(),
                 a.type()->str()};
    names.Set(i++, Napi::String::New(env, a.name()));
    entry.args.push_back(std::move(spec));
  }
  Registry().push_back(std::move(entry));
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, double(Registry().size() - 1)));
  out.Set("args", names);
  out.Set("schema", Napi::String::New(env, c10::toString(schema)));
  return out;
}

static int64_t BigIntToInt64(Napi::Env env, const Napi::Value& v, const OpEntry& op, const ArgSpec& a) {
  bool lossless = false;
  int64_t out = v.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(env, op.name + ": argument '" + a.name + "' does not fit in 64 bits");
  return out;
}

static int64_t ToInt(Napi::Env env, const Napi::Value& v, const OpEntry& op, const ArgSpec& a) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // The range test comes first: converting NaN or a double outside int64 is undefined behaviour.
    if (!(std::abs(d) < 9.2e18) || d != double(int64_t(d))) {
      throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be an integer, got " + std::to_string(d));
    }
    return int64_t(d);
  }
  if (v.IsBigInt()) return BigIntToInt64(env, v, op, a);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be an integer (" + a.typeStr + ")");
}

static c10::Scalar ToScalar(Napi::Env env, const Napi::Value& v, const OpEntry& op, const ArgSpec& a) {
  if (v.IsBoolean()) return c10::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // JS has one number type: integral values become int Scalars, the rest double.
    if (std::isfinite(d) && d == double(int64_t(d)) && std::abs(d) < 9.0e15) return c10::Scalar(int64_t(d));
    return c10::Scalar(d);
  }
  if (v.IsBigInt()) return c10::Scalar(BigIntToInt64(env, v, op, a));
  if (IsTensor(env, v)) {
    const at::Tensor& t = UnwrapTensor(env, v, op.name.c_str(), a.name.c_str());
    if (t.numel() != 1) {
      throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a number or a one-element tensor, got a tensor of shape " +
                                          c10::str(t.sizes()));
    }
    return t.item();
  }
  throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a number");
}

static c10::IValue Convert(Napi::Env env, const Napi::Value& v, const OpEntry& op, const ArgSpec& a) {
  if (v.IsUndefined() || v.IsNull()) {
    if (v.IsUndefined() && a.defaultValue) return *a.defaultValue;
    if (a.optional) return c10::IValue();
    throw Napi::TypeError::New(env, op.name + ": missing required argument '" + a.name + "' (" + a.typeStr + ")");
  }
  switch (a.kind) {
    case Kind::Tensor:
      if (v.IsNumber() || v.IsBoolean()) {
        // A scalar where a tensor is expected: a wrapped number, as Python does for `x + 1`.
        at::Tensor t = at::scalar_to_tensor(ToScalar(env, v, op, a));
        t.unsafeGetTensorImpl()->set_wrapped_number(true);
        return t;
      }
      return UnwrapTensor(env, v, op.name.c_str(), a.name.c_str());
    case Kind::TensorList:
    case Kind::OptTensorList: {
      if (!v.IsArray()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be an array of Tensors");
      Napi::Array arr = v.As<Napi::Array>();
      if (a.kind == Kind::TensorList) {
        c10::List<at::Tensor> list;
        list.reserve(arr.Length());
        for (uint32_t i = 0; i < arr.Length(); i++) list.push_back(UnwrapTensor(env, arr.Get(i), op.name.c_str(), a.name.c_str()));
        return list;
      }
      c10::List<c10::optional<at::Tensor>> list;
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value e = arr.Get(i);
        if (e.IsNull() || e.IsUndefined())
          list.push_back(c10::nullopt);
        else
          list.push_back(UnwrapTensor(env, e, op.name.c_str(), a.name.c_str()));
      }
      return list;
    }
    case Kind::Int: return ToInt(env, v, op, a);
    case Kind::IntList: {
      std::vector<int64_t> out;
      if (v.IsArray()) {
        Napi::Array arr = v.As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(ToInt(env, arr.Get(i), op, a));
      } else if (v.IsNumber() && a.n > 0) {
        out.assign(size_t(a.n), ToInt(env, v, op, a));  // int[2] stride=1 means [1, 1]
      } else if (v.IsNumber()) {
        out.push_back(ToInt(env, v, op, a));
      } else {
        throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be an array of integers");
      }
      return c10::IValue(out);
    }
    case Kind::Float:
      if (!v.IsNumber()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a number");
      return v.As<Napi::Number>().DoubleValue();
    case Kind::FloatList: {
      std::vector<double> out;
      if (v.IsArray()) {
        Napi::Array arr = v.As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(arr.Get(i).ToNumber().DoubleValue());
      } else {
        out.assign(size_t(std::max<int64_t>(a.n, 1)), v.ToNumber().DoubleValue());
      }
      return c10::IValue(out);
    }
    case Kind::Bool:
      if (!v.IsBoolean()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a boolean");
      return v.As<Napi::Boolean>().Value();
    case Kind::BoolList: {
      if (!v.IsArray()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be an array of booleans");
      Napi::Array arr = v.As<Napi::Array>();
      c10::List<bool> out;
      for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(arr.Get(i).ToBoolean().Value());
      return out;
    }
    case Kind::Scalar: return ToScalar(env, v, op, a);
    case Kind::String:
      if (!v.IsString()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a string");
      return v.As<Napi::String>().Utf8Value();
    case Kind::Device:
      if (!v.IsString()) throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' must be a device string");
      return ParseDevice(env, v.As<Napi::String>().Utf8Value());
    case Kind::Generator: return c10::IValue();
    case Kind::Unsupported: break;
  }
  throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' of type " + a.typeStr + " is not supported");
}

static Napi::Value ToJs(Napi::Env env, c10::IValue v) {
  if (v.isTensor()) return WrapTensor(env, std::move(v).toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, double(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(uint32_t(i), WrapTensor(env, list.get(i)));
    return out;
  }
  if (v.isTuple()) {
    auto elems = v.toTupleRef().elements();
    Napi::Array out = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) out.Set(uint32_t(i), ToJs(env, elems[i]));
    return out;
  }
  if (v.isIntList()) {
    auto list = v.toIntVector();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, double(list[i])));
    return out;
  }
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  throw Napi::Error::New(env, "operator returned an unsupported value of type " + v.tagKind());
}

static void Invoke(const Napi::CallbackInfo& info, torch::jit::Stack& stack, const OpEntry*& opOut) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto& reg = Registry();
  if (id >= reg.size()) throw Napi::Error::New(env, "invalid operator id");
  const OpEntry& op = reg[id];
  opOut = &op;
  Napi::Array args = info[1].As<Napi::Array>();
  uint32_t given = args.Length();
  if (given > op.args.size()) {
    throw Napi::TypeError::New(env, op.name + ": takes " + std::to_string(op.args.size()) + " arguments, got " +
                                        std::to_string(given));
  }
  // Conversion is inside the handler too: a C++ exception that escapes a N-API callback ends in
  // std::terminate (a process abort), never in a JS error.
  try {
    stack.reserve(op.args.size());
    for (size_t i = 0; i < op.args.size(); i++) {
      stack.push_back(Convert(env, i < given ? args.Get(uint32_t(i)) : env.Undefined(), op, op.args[i]));
    }
    op.handle.callBoxed(stack);
  } catch (...) {
    ThrowAsJs(env, op.name);
  }
}

static Napi::Value Call(const Napi::CallbackInfo& info) {
  torch::jit::Stack stack;
  const OpEntry* op = nullptr;
  Invoke(info, stack, op);
  Napi::Env env = info.Env();
  if (stack.size() == 1) return ToJs(env, std::move(stack[0]));
  if (stack.empty()) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) out.Set(uint32_t(i), ToJs(env, std::move(stack[i])));
  return out;
}

// For in-place operators: the result is the first argument itself, so no new handle is made.
static Napi::Value CallInplace(const Napi::CallbackInfo& info) {
  torch::jit::Stack stack;
  const OpEntry* op = nullptr;
  Invoke(info, stack, op);
  return info.Env().Undefined();
}

void InitOps(Napi::Env env, Napi::Object exports) {
  exports.Set("resolveOp", Napi::Function::New(env, Resolve));
  exports.Set("callOp", Napi::Function::New(env, Call));
  exports.Set("callOpInplace", Napi::Function::New(env, CallInplace));
}

}  // namespace distill
