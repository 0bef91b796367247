// A size-bucketed caching CPU allocator.
//
// Why: a training step frees and re-allocates the same buffer sizes every iteration. With
// glibc alone, small long-lived allocations fragment the heap between large tensor buffers
// and RSS grows step after step (engine-notes.md). Reusing freed blocks of the same bucket
// keeps memory flat and avoids page faults. ATen frees through raw_deallocate, so the
// deleter must work from the pointer alone: each block carries its bucket in a header.
#include "common.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace distill {
namespace {

constexpr size_t kAlign = 64;  // c10's alignment; also the header size
constexpr size_t kMaxCachedBytes = size_t(2) << 30;

struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t cachedBytes = 0;
  size_t liveBytes = 0;
  size_t peakLiveBytes = 0;
  size_t hits = 0;
  size_t misses = 0;
};

Pool& GetPool() {
  static Pool* pool = new Pool();  // never destroyed: tensors may be freed during exit
  return *pool;
}

// Rounds up to one of four steps per power of two (waste at most 25%).
size_t BucketSize(size_t n) {
  if (n <= 256) return (n + 63) & ~size_t(63);
  size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two below n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

void Release(void* user) {
  if (!user) return;
  char* base = static_cast<char*>(user) - kAlign;
  size_t bucket = *reinterpret_cast<size_t*>(base);
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.liveBytes -= bucket;
  if (pool.cachedBytes + bucket <= kMaxCachedBytes) {
    pool.free[bucket].push_back(base);
    pool.cachedBytes += bucket;
  } else {
    std::free(base);
  }
}

class CachingCpuAllocator final : public at::Allocator {
 public:
  at::DataPtr allocate(size_t n) const override {
    if (n == 0) return {nullptr, nullptr, &Release, at::Device(at::kCPU)};
    size_t bucket = BucketSize(n);
    void* base = nullptr;
    Pool& pool = GetPool();
    {
      std::lock_guard<std::mutex> lock(pool.mutex);
      auto it = pool.free.find(bucket);
      if (it != pool.free.end() && !it->second.empty()) {
        base = it->second.back();
        it->second.pop_back();
        pool.cachedBytes -= bucket;
        pool.hits++;
      } else {
        pool.misses++;
      }
      pool.liveBytes += bucket;
      if (pool.liveBytes > pool.peakLiveBytes) pool.peakLiveBytes = pool.liveBytes;
    }
    if (!base) {
      if (posix_memalign(&base, kAlign, bucket + kAlign) != 0) {
        std::lock_guard<std::mutex> lock(pool.mutex);
        pool.liveBytes -= bucket;
        TORCH_CHECK(false, "out of memory: could not allocate ", n, " bytes on the CPU");
      }
    }
    *reinterpret_cast<size_t*>(base) = bucket;
    void* user = static_cast<char*>(base) + kAlign;
    return {user, user, &Release, at::Device(at::kCPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &Release; }
};

CachingCpuAllocator gAllocator;
bool gInstalled = false;

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  Napi::Object out = Napi::Object::New(env);
  out.Set("enabled", gInstalled);
  out.Set("liveBytes", double(pool.liveBytes));
  out.Set("peakLiveBytes", double(pool.peakLiveBytes));
  out.Set("cachedBytes", double(pool.cachedBytes));
  out.Set("hits", double(pool.hits));
  out.Set("misses", double(pool.misses));
  return out;
}

Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.peakLiveBytes = pool.liveBytes;
  return info.Env().Undefined();
}

// Returns every cached block to the system.
Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  for (auto& kv : pool.free)
    for (void* p : kv.second) std::free(p);
  pool.free.clear();
  pool.cachedBytes = 0;
  return info.Env().Undefined();
}

}  // namespace

void InitAllocator(Napi::Env env, Napi::Object exports) {
  const char* flag = std::getenv("DISTILL_CACHING_ALLOCATOR");
  if (!gInstalled && !(flag && std::string(flag) == "0")) {
    c10::SetCPUAllocator(&gAllocator, /*priority=*/10);
    gInstalled = true;
  }
  exports.Set("allocatorStats", Napi::Function::New(env, Stats));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeak));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
}

}  // namespace distill
