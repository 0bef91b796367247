// Distributed training on libtorch's own c10d: a TCPStore rendezvous, Gloo (or NCCL) process
// groups, collectives, an allreduce that autograd differentiates (SyncBatchNorm), and the
// gradient reducer of DistributedDataParallel.
//
// The reducer follows the design of c10d::Reducer: parameters are grouped into buckets in
// reverse order (gradients become ready roughly from the last layer back), a post hook on each
// parameter's gradient accumulator marks it ready during backward, and a full bucket is
// flattened and all-reduced asynchronously while backward goes on. Buckets are launched
// strictly in index order so that every rank issues the same collectives in the same order.
// At the end of backward (an autograd engine callback) the rest are launched, every result is
// awaited, averaged gradients are copied back. Each bucket carries one extra element per
// parameter, 1 where this rank produced a gradient: a parameter no rank used keeps its gradient
// untouched (PyTorch's find_unused_parameters semantics) without a graph traversal.
#include "common.h"

#ifdef DISTILL_DISTRIBUTED
#include <thread>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef DISTILL_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

namespace distill {

#ifdef DISTILL_DISTRIBUTED
namespace {

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// libtorch 1.x derives its Gloo and NCCL groups from ProcessGroup, 2.x from Backend (with the
// same collective signatures): the group is held as whichever base this libtorch uses.
using CollectiveBase = std::conditional_t<std::is_base_of_v<c10d::Backend, c10d::ProcessGroupGloo>, c10d::Backend, c10d::ProcessGroup>;

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<CollectiveBase> pg;
  int rank;
  int size;
  std::string backend;
};

std::map<int, std::shared_ptr<Group>>& Groups() {
  static auto* groups = new std::map<int, std::shared_ptr<Group>>();
  return *groups;
}
int nextGroupId = 1;

std::shared_ptr<Group> GetGroup(Napi::Env env, const Napi::Value& v) {
  int id = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  auto it = Groups().find(id);
  if (it == Groups().end())
    throw Napi::Error::New(env, "distributed: the process group was destroyed or never created (id " + v.ToString().Utf8Value() + ")");
  return it->second;
}

void Wait(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(); }

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string Get(c10d::Store& store, const std::string& key) {
  auto v = store.get(key);
  return std::string(v.begin(), v.end());
}
void Set(c10d::Store& store, const std::string& key, const std::string& value) {
  store.set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

// Before Gloo connects the ranks (which would wait out the timeout on a bad world), every rank
// states its world size on the store and rank 0 rules: a disagreement or a rank taken twice ends
// every rank at once with the same message.
void CheckWorld(c10d::Store& store, int rank, int size) {
  store.add("distill/world/joined", 1);
  int64_t claims = store.add("distill/rank/" + std::to_string(rank), 1);
  Set(store, "distill/world/" + std::to_string(rank), std::to_string(size));
  if (claims > 1) {
    Set(store, "distill/world/verdict", "two processes have RANK=" + std::to_string(rank) + "; each worker needs its own rank");
  }
  if (rank == 0) {
    std::string verdict = "ok";
    for (int r = 1; r < size && verdict == "ok"; r++) {
      std::string theirs = Get(store, "distill/world/" + std::to_string(r));
      if (theirs != std::to_string(size))
        verdict = "rank " + std::to_string(r) + " has WORLD_SIZE=" + theirs + " but rank 0 has " + std::to_string(size) +
                  "; start every worker with the same world size";
    }
    if (!store.check({"distill/world/verdict"})) Set(store, "distill/world/verdict", verdict);
  }
  std::string verdict = Get(store, "distill/world/verdict");
  if (verdict == "ok") return;
  if (rank != 0) {
    store.add("distill/world/read", 1);
  } else {
    // Rank 0 serves the store: leaving before the others have read the verdict would hand them a
    // broken pipe instead of the reason. Wait (briefly, bounded) until every rank that joined read it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      int64_t joined = store.add("distill/world/joined", 0);
      if (store.add("distill/world/read", 0) >= joined - 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  throw std::runtime_error("world check: " + verdict);
}

// initProcessGroup(backend, host, port, rank, worldSize, timeoutMs): the TCPStore (served by rank
// 0, which waits for every rank to connect) and the process group on it. Blocks until all ranks
// have joined or the timeout passes.
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string backend = info[0].As<Napi::String>();
  std::string host = info[1].As<Napi::String>();
  int port = info[2].As<Napi::Number>().Int32Value();
  int rank = info[3].As<Napi::Number>().Int32Value();
  int size = info[4].As<Napi::Number>().Int32Value();
  double timeoutMs = info[5].As<Napi::Number>().DoubleValue();
  auto timeout = std::chrono::milliseconds(int64_t(timeoutMs));
  auto group = std::make_shared<Group>();
  group->rank = rank;
  group->size = size;
  group->backend = backend;
  std::string stage = "rendezvous";
  try {
    c10d::TCPStoreOptions opts;
    opts.port = uint16_t(port);
    opts.isServer = rank == 0;
    opts.numWorkers = size_t(size);
    opts.waitWorkers = false;  // the world check below waits for every rank, once
    opts.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    stage = "rendezvous";
    CheckWorld(*group->store, rank, size);
    stage = "process group";
    if (backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (IsLoopback(host))
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, rank, size, options);
    } else if (backend == "nccl") {
#ifdef DISTILL_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      group->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(group->store, rank, size, options);
#else
      throw Napi::Error::New(env, "distributed: this libtorch has no NCCL; use backend gloo, or build against a CUDA libtorch (LIBTORCH=/path npm ci)");
#endif
    } else {
      throw Napi::Error::New(env, "distributed: unknown backend '" + backend + "'; expected gloo or nccl");
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, "distributed " + stage + " failed: " + e.what());
  }
  int id = nextGroupId++;
  Groups()[id] = group;
  return Napi::Number::New(env, id);
}

Napi::Value DestroyProcessGroup(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  Groups().erase(id);
  return info.Env().Undefined();
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw Napi::Error::New(env, "allReduce: unknown op '" + op + "'; expected sum, max, min or product");
}

// allReduce(group, tensor, op): in place, blocking.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  at::Tensor t = UnwrapTensor(env, info[1], "allReduce");
  c10d::AllreduceOptions opts;
  opts.reduceOp = ParseOp(env, info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "sum");
  try {
    if (!t.is_contiguous()) throw std::runtime_error("the tensor must be contiguous");
    std::vector<at::Tensor> ts{t};
    Wait(g->pg->allreduce(ts, opts));
  } catch (...) {
    ThrowAsJs(env, "allReduce");
  }
  return env.Undefined();
}

// Flattens same-dtype tensors into one, runs `collective` on it, copies the result back.
void Coalesced(const std::vector<at::Tensor>& tensors, const std::function<void(at::Tensor&)>& collective) {
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> byType;
  for (const auto& t : tensors) byType[{int(t.scalar_type()), t.device().str()}].push_back(t);
  for (auto& [key, group] : byType) {
    std::vector<at::Tensor> flat;
    for (const auto& t : group) flat.push_back(t.detach().reshape({-1}));
    at::Tensor buffer = at::cat(flat);
    collective(buffer);
    int64_t offset = 0;
    at::NoGradGuard noGrad;
    for (auto& t : group) {
      t.detach().copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

std::vector<at::Tensor> TensorList(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of tensors");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(UnwrapTensor(env, arr.Get(i), what));
  return out;
}

// broadcast(group, tensors, root): every tensor takes root's values (coalesced by dtype), blocking.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  auto tensors = TensorList(env, info[1], "broadcast");
  int root = info[2].As<Napi::Number>().Int32Value();
  try {
    Coalesced(tensors, [&](at::Tensor& buffer) {
      std::vector<at::Tensor> ts{buffer};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      Wait(g->pg->broadcast(ts, opts));
    });
  } catch (...) {
    ThrowAsJs(env, "broadcast");
  }
  return env.Undefined();
}

// allReduceCoalesced(group, tensors): sums each tensor across ranks in place (one collective per dtype).
Napi::Value AllReduceCoalesced(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  auto tensors = TensorList(env, info[1], "allReduceCoalesced");
  try {
    Coalesced(tensors, [&](at::Tensor& buffer) {
      std::vector<at::Tensor> ts{buffer};
      Wait(g->pg->allreduce(ts));
    });
  } catch (...) {
    ThrowAsJs(env, "allReduceCoalesced");
  }
  return env.Undefined();
}

// allGather(group, tensor): every rank's tensor, in rank order.
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  at::Tensor t = UnwrapTensor(env, info[1], "allGather");
  std::vector<std::vector<at::Tensor>> outputs(1);
  try {
    for (int r = 0; r < g->size; r++) outputs[0].push_back(at::empty_like(t, at::MemoryFormat::Contiguous));
    std::vector<at::Tensor> in{t.contiguous()};
    Wait(g->pg->allgather(outputs, in));
  } catch (...) {
    ThrowAsJs(env, "allGather");
  }
  Napi::Array arr = Napi::Array::New(env, outputs[0].size());
  for (size_t r = 0; r < outputs[0].size(); r++) arr.Set(uint32_t(r), WrapTensor(env, outputs[0][r]));
  return arr;
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  try {
    Wait(g->pg->barrier());
  } catch (...) {
    ThrowAsJs(env, "barrier");
  }
  return env.Undefined();
}

// Store access for small agreements between ranks (the launcher's checks, who resumes what).
Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  std::string key = info[1].As<Napi::String>();
  std::string value = info[2].As<Napi::String>();
  try {
    Set(*g->store, key, value);
  } catch (...) {
    ThrowAsJs(env, "store.set");
  }
  return env.Undefined();
}
Napi::Value StoreGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  std::string key = info[1].As<Napi::String>();
  try {
    return Napi::String::New(env, Get(*g->store, key));  // waits for the key up to the store's timeout
  } catch (...) {
    ThrowAsJs(env, "store.get");
  }
}
Napi::Value StoreAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  std::string key = info[1].As<Napi::String>();
  int64_t by = info[2].As<Napi::Number>().Int64Value();
  try {
    return Napi::Number::New(env, double(g->store->add(key, by)));
  } catch (...) {
    ThrowAsJs(env, "store.add");
  }
}

// ---- An allreduce that autograd differentiates: y = Σ_ranks x, dL/dx = Σ_ranks dL/dy. ----
// SyncBatchNorm builds its statistics from it; the gradient of every rank's loss reaches the
// inputs of every other rank, as PyTorch's SyncBatchNorm backward all-reduces its sums.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t groupId) {
    ctx->saved_data["group"] = groupId;
    auto it = Groups().find(int(groupId));
    TORCH_CHECK(it != Groups().end(), "the process group was destroyed");
    at::Tensor out = x.clone(at::MemoryFormat::Contiguous);
    std::vector<at::Tensor> ts{out};
    Wait(it->second->pg->allreduce(ts));
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto it = Groups().find(int(ctx->saved_data["group"].toInt()));
    TORCH_CHECK(it != Groups().end(), "the process group was destroyed before backward");
    at::Tensor g = grads[0].clone(at::MemoryFormat::Contiguous);
    std::vector<at::Tensor> ts{g};
    Wait(it->second->pg->allreduce(ts));
    return {g, at::Tensor()};
  }
};

Napi::Value AllReduceDifferentiable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  at::Tensor t = UnwrapTensor(env, info[1], "allReduceDifferentiable");
  try {
    return WrapTensor(env, AllReduceSum::apply(t, int64_t(info[0].As<Napi::Number>().Int32Value())));
  } catch (...) {
    ThrowAsJs(env, "allReduceDifferentiable");
  }
}

// ---- The gradient reducer of DistributedDataParallel. ----
struct Bucket {
  std::vector<size_t> params;  // indices into Reducer::params
  std::vector<int64_t> offsets;
  int64_t numel = 0;           // gradient elements (the used flags follow)
  at::Tensor buffer;
  size_t pending = 0;
  c10::intrusive_ptr<c10d::Work> work;
  Clock::time_point launched;
  std::shared_ptr<std::atomic<int64_t>> doneNs;  // completion, ns after `launched` (set by Gloo's thread)
};

struct Reducer : std::enable_shared_from_this<Reducer> {
  std::shared_ptr<Group> group;
  std::vector<at::Tensor> params;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hookKeys;
  std::vector<size_t> bucketOf;
  std::vector<Bucket> buckets;
  std::vector<bool> ready;
  size_t nextToLaunch = 0;
  bool inBackward = false;
  // Measured over the last backward pass: each bucket's allreduce from launch to result, summed,
  // and how long the end of backward waited for the last result (communication not overlapped).
  double lastCommSeconds = 0, lastWaitSeconds = 0, totalCommSeconds = 0, totalWaitSeconds = 0;
  int64_t reductions = 0;
  std::string error;

  void markReady(size_t i) {
    if (!inBackward) {
      inBackward = true;
      std::weak_ptr<Reducer> self = shared_from_this();
      torch::autograd::Engine::get_default_engine().queue_callback([self]() {
        if (auto r = self.lock()) r->finalize();
      });
    }
    if (ready[i]) return;  // a second accumulation in the same backward (a parameter reached twice)
    ready[i] = true;
    Bucket& b = buckets[bucketOf[i]];
    try {
      if (--b.pending == 0) launchReady();
    } catch (...) {
      // The backward pass ends here (its callback is dropped): start the next one afresh.
      reset();
      throw;
    }
  }

  void launchReady() {
    while (nextToLaunch < buckets.size() && buckets[nextToLaunch].pending == 0) launch(nextToLaunch++);
  }

  void launch(size_t bi) {
    Bucket& b = buckets[bi];
    at::NoGradGuard noGrad;
    std::vector<double> used(b.params.size(), 0.0);
    for (size_t k = 0; k < b.params.size(); k++) {
      size_t i = b.params[k];
      const at::Tensor& grad = params[i].grad();
      at::Tensor view = b.buffer.narrow(0, b.offsets[k], params[i].numel());
      if (ready[i] && grad.defined()) {
        view.copy_(grad.reshape({-1}));
        view.div_(group->size);  // averaged, divided before the sum as PyTorch's reducer does
        used[k] = 1;
      } else {
        view.zero_();
      }
    }
    b.buffer.narrow(0, b.numel, int64_t(used.size())).copy_(at::tensor(used, at::kDouble));
    std::vector<at::Tensor> ts{b.buffer};
    b.launched = Clock::now();
    b.doneNs->store(-1);
    b.work = group->pg->allreduce(ts);
    auto fut = b.work->getFuture();
    if (fut) {
      auto done = b.doneNs;
      auto t0 = b.launched;
      fut->addCallback([done, t0](c10::ivalue::Future&) {
        done->store(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      });
    }
  }

  void finalize() {
    inBackward = false;
    auto backwardEnd = Clock::now();
    // Buckets whose parameters were not all reached: launched now, in order, zeros for the rest.
    for (auto& b : buckets) b.pending = 0;
    launchReady();
    at::NoGradGuard noGrad;
    Clock::time_point lastDone = backwardEnd;
    double busy = 0;
    try {
      for (auto& b : buckets) {
        b.work->wait();
        int64_t ns = b.doneNs->load();
        auto done = ns >= 0 ? b.launched + std::chrono::nanoseconds(ns) : Clock::now();
        lastDone = std::max(lastDone, done);
        busy += std::chrono::duration<double>(done - b.launched).count();
        at::Tensor used = b.buffer.narrow(0, b.numel, int64_t(b.params.size())).to(at::kCPU, at::kDouble);
        const double* usedBy = used.data_ptr<double>();
        for (size_t k = 0; k < b.params.size(); k++) {
          size_t i = b.params[k];
          // No rank produced a gradient: leave it as it was (an optimizer then skips the parameter).
          if (usedBy[k] == 0) continue;
          at::Tensor view = b.buffer.narrow(0, b.offsets[k], params[i].numel()).view(params[i].sizes());
          at::Tensor& grad = params[i].mutable_grad();
          if (grad.defined())
            grad.copy_(view);
          else
            grad = view.clone();
        }
      }
    } catch (const std::exception& e) {
      reset();
      throw std::runtime_error(std::string("DistributedDataParallel: gradient allreduce failed (is another rank gone?): ") + e.what());
    }
    auto waited = std::chrono::duration<double>(std::max(lastDone, backwardEnd) - backwardEnd).count();
    lastCommSeconds = busy;
    lastWaitSeconds = waited;
    totalCommSeconds += lastCommSeconds;
    totalWaitSeconds += lastWaitSeconds;
    reductions++;
    reset();
  }

  void reset() {
    inBackward = false;
    nextToLaunch = 0;
    std::fill(ready.begin(), ready.end(), false);
    for (auto& b : buckets) {
      b.pending = b.params.size();
      b.work.reset();
    }
  }

  void removeHooks() {
    for (size_t i = 0; i < accumulators.size(); i++) accumulators[i]->del_post_hook(hookKeys[i]);
    accumulators.clear();
    hookKeys.clear();
  }
};

struct ReadyHook : public torch::autograd::FunctionPostHook {
  std::weak_ptr<Reducer> reducer;
  size_t index;
  ReadyHook(std::weak_ptr<Reducer> r, size_t i) : reducer(std::move(r)), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto r = reducer.lock()) r->markReady(index);
    return outputs;
  }
};

std::map<int, std::shared_ptr<Reducer>>& Reducers() {
  static auto* reducers = new std::map<int, std::shared_ptr<Reducer>>();
  return *reducers;
}
int nextReducerId = 1;

std::shared_ptr<Reducer> GetReducer(Napi::Env env, const Napi::Value& v) {
  int id = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  auto it = Reducers().find(id);
  if (it == Reducers().end()) throw Napi::Error::New(env, "DistributedDataParallel: this reducer was disposed");
  return it->second;
}

// reducerCreate(group, params, bucketCapBytes, firstBucketCapBytes): hooks on every parameter
// that requires a gradient; buckets in reverse parameter order, split by dtype and device.
Napi::Value ReducerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = GetGroup(env, info[0]);
  auto params = TensorList(env, info[1], "DistributedDataParallel");
  double cap = info[2].As<Napi::Number>().DoubleValue();
  double firstCap = info[3].As<Napi::Number>().DoubleValue();
  auto r = std::make_shared<Reducer>();
  r->group = g;
  try {
    for (auto& p : params) {
      if (!p.requires_grad()) continue;
      if (!p.is_leaf()) throw std::runtime_error("every parameter must be a leaf tensor");
      r->params.push_back(p);
    }
    size_t n = r->params.size();
    r->bucketOf.assign(n, 0);
    r->ready.assign(n, false);
    // PyTorch's rule: a bucket closes once it holds `cap` bytes; the first (the last layers,
    // ready first) closes at `firstCap` so that communication starts early.
    std::map<std::pair<int, std::string>, size_t> open;  // (dtype, device) -> bucket being filled
    std::map<std::pair<int, std::string>, int64_t> openBytes;
    for (size_t j = n; j-- > 0;) {
      const at::Tensor& p = r->params[j];
      auto key = std::make_pair(int(p.scalar_type()), p.device().str());
      if (open.find(key) == open.end()) {
        open[key] = r->buckets.size();
        openBytes[key] = 0;
        r->buckets.emplace_back();
        r->buckets.back().doneNs = std::make_shared<std::atomic<int64_t>>(-1);
      }
      size_t bi = open[key];
      Bucket& b = r->buckets[bi];
      b.params.push_back(j);
      b.offsets.push_back(b.numel);
      b.numel += p.numel();
      r->bucketOf[j] = bi;
      openBytes[key] += p.numel() * int64_t(p.element_size());
      if (double(openBytes[key]) >= (bi == 0 ? firstCap : cap)) open.erase(key);
    }
    for (auto& b : r->buckets) {
      const at::Tensor& p0 = r->params[b.params[0]];
      b.buffer = at::zeros({b.numel + int64_t(b.params.size())}, p0.options().requires_grad(false));
      b.pending = b.params.size();
    }
    std::weak_ptr<Reducer> weak = r;
    for (size_t i = 0; i < n; i++) {
      auto acc = torch::autograd::impl::grad_accumulator(r->params[i]);
      r->hookKeys.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(weak, i)));
      r->accumulators.push_back(std::move(acc));  // kept alive: the hook lives on this node
    }
  } catch (...) {
    r->removeHooks();
    ThrowAsJs(env, "DistributedDataParallel");
  }
  int id = nextReducerId++;
  Reducers()[id] = r;
  return Napi::Number::New(env, id);
}

Napi::Value ReducerStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto r = GetReducer(env, info[0]);
  Napi::Object o = Napi::Object::New(env);
  Napi::Array sizes = Napi::Array::New(env, r->buckets.size());
  for (size_t i = 0; i < r->buckets.size(); i++) sizes.Set(uint32_t(i), Napi::Number::New(env, double(r->buckets[i].numel)));
  o.Set("bucketElements", sizes);
  o.Set("parameters", Napi::Number::New(env, double(r->params.size())));
  o.Set("reductions", Napi::Number::New(env, double(r->reductions)));
  o.Set("lastCommSeconds", Napi::Number::New(env, r->lastCommSeconds));
  o.Set("lastWaitSeconds", Napi::Number::New(env, r->lastWaitSeconds));
  o.Set("totalCommSeconds", Napi::Number::New(env, r->totalCommSeconds));
  o.Set("totalWaitSeconds", Napi::Number::New(env, r->totalWaitSeconds));
  return o;
}

Napi::Value ReducerDispose(const Napi::CallbackInfo& info) {
  int id = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  auto it = Reducers().find(id);
  if (it != Reducers().end()) {
    it->second->removeHooks();
    Reducers().erase(it);
  }
  return info.Env().Undefined();
}

Napi::Value Available(const Napi::CallbackInfo& info) {
  Napi::Array arr = Napi::Array::New(info.Env());
  arr.Set(0u, Napi::String::New(info.Env(), "gloo"));
#ifdef DISTILL_NCCL
  arr.Set(1u, Napi::String::New(info.Env(), "nccl"));
#endif
  return arr;
}

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("backends", Napi::Function::New(env, Available));
  d.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup));
  d.Set("destroyProcessGroup", Napi::Function::New(env, DestroyProcessGroup));
  d.Set("allReduce", Napi::Function::New(env, AllReduce));
  d.Set("allReduceCoalesced", Napi::Function::New(env, AllReduceCoalesced));
  d.Set("broadcast", Napi::Function::New(env, Broadcast));
  d.Set("allGather", Napi::Function::New(env, AllGather));
  d.Set("barrier", Napi::Function::New(env, Barrier));
  d.Set("storeSet", Napi::Function::New(env, StoreSet));
  d.Set("storeGet", Napi::Function::New(env, StoreGet));
  d.Set("storeAdd", Napi::Function::New(env, StoreAdd));
  d.Set("allReduceDifferentiable", Napi::Function::New(env, AllReduceDifferentiable));
  d.Set("reducerCreate", Napi::Function::New(env, ReducerCreate));
  d.Set("reducerStats", Napi::Function::New(env, ReducerStats));
  d.Set("reducerDispose", Napi::Function::New(env, ReducerDispose));
  exports.Set("distributed", d);
}

#else  // built without c10d (no Gloo headers): the JS side reports distributed training as unavailable

void InitDistributed(Napi::Env env, Napi::Object exports) {}

#endif

}  // namespace distill
