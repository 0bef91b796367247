// A caching CPU allocator: size buckets for small blocks (under 64 KiB), first fit with splitting
// and coalescing for large ones.
//
// Why: a training step frees and re-allocates the same buffer sizes every iteration. With
// glibc alone, small long-lived allocations fragment the heap between large tensor buffers
// and RSS grows step after step (engine-notes.md); reusing freed blocks keeps memory flat and
// avoids page faults. Exact-size buckets alone hold, for every size, the most blocks of that size
// ever alive at once, which for large maps is far more than the most bytes ever alive at once (a
// step's forward and backward allocate different sizes at different moments). Large blocks are
// therefore carved out of segments: a request takes the free block at the lowest address that
// fits, splits off the rest, and a freed block merges with its free neighbours, as jemalloc's
// extents do. The segments are pieces of one arena, a range of address space reserved once (pages
// cost memory only when first written), so every block has its neighbours across the whole arena,
// and a request no free block serves extends the arena's last block when that one is free: only
// the shortfall is new memory, where a new segment of the whole size would leave the free block
// stranded. Blocks from 64 KiB up share the arena (below, per-size buckets held ~47 MB of a KD
// step's mid-sized blocks), and lowest-address first fit packs a step tighter than smallest-first
// best fit: what `node dist/bench/steps.js --child METHOD resnet32x4-resnet8x4 1 1 float32 direct
// --steps 4` prints as `held` (live peak in brackets) is DLB 454 MB (405), KD 281 (249), ReviewKD
// 1015 (975); best fit held 462, 284, 1016. First fit scans the free blocks in address order;
// a step has tens of them.
// Where the reservation is refused (a strict overcommit policy, ulimit -v), the arena is
// full, or for requests over 1 GiB, segments come from posix_memalign one by one. ATen frees
// through raw_deallocate, so the deleter must work from the pointer alone: each block carries a
// header before its user pointer.
#include "common.h"

#include <c10/core/CPUAllocator.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace distill {
namespace {

constexpr size_t kAlign = 64;                  // c10's alignment; also the header size
constexpr size_t kLargeMin = size_t(64) << 10;  // requests from 64 KiB up are carved from segments
constexpr size_t kLargeRound = size_t(4) << 10;  // their sizes are whole pages
constexpr size_t kMaxCachedBytes = size_t(2) << 30;
constexpr size_t kArenaReserve = size_t(1) << 38;  // 256 GiB of address space, not memory
// Requests above this take their own segment: the arena's reservation skips the kernel's
// overcommit check, which must still refuse an absurd request (a 40 GB tensor on a 24 GB machine
// is an out-of-memory error, not a process killed when its pages are first written).
constexpr size_t kArenaMaxRequest = size_t(1) << 30;

// A large block: a piece of a segment, free or in use, with its neighbours in the segment.
struct Block {
  char* base;  // start of the block: its header, then the user's bytes
  size_t size;
  bool free = false;
  Block* prev = nullptr;
  Block* next = nullptr;
};

// The header before a user pointer: bucket > 0 for a small block, 0 and the block for a large one.
struct Header {
  size_t bucket;
  Block* block;
};
static_assert(sizeof(Header) <= kAlign, "the header fits in the alignment padding");

// The reserved range large blocks are carved from, and how much of it blocks cover so far.
struct Arena {
  char* base = nullptr;
  size_t top = 0;
  Block* last = nullptr;  // the block ending at `top`
  bool refused = false;
  bool Holds(const Block* b) const { return base && b->base >= base && b->base < base + kArenaReserve; }
};

struct ByAddress {
  bool operator()(const Block* a, const Block* b) const { return a->base < b->base; }
};

struct Pool {
  std::mutex mutex;
  Arena arena;
  std::unordered_map<size_t, std::vector<void*>> free;  // small blocks by bucket
  std::set<Block*, ByAddress> freeLarge;                 // by address: first fit
  size_t segmentBytes = 0;
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

void* UserPointer(char* base, size_t bucket, Block* block) {
  *reinterpret_cast<Header*>(base) = {bucket, block};
  return base + kAlign;
}

// The free large block of at least `size` bytes at the lowest address, split to `size`; null if
// none fits. Called with the pool locked.
Block* TakeLarge(Pool& pool, size_t size) {
  auto fits = [size](const Block* b) { return b->size >= size; };
  auto it = std::find_if(pool.freeLarge.begin(), pool.freeLarge.end(), fits);
  if (it == pool.freeLarge.end()) return nullptr;
  Block* b = *it;
  pool.freeLarge.erase(it);
  pool.cachedBytes -= b->size;
  if (b->size > size) {  // the rest stays free, next to it
    Block* rest = new Block{b->base + size, b->size - size, true, b, b->next};
    if (b->next) b->next->prev = rest;
    b->next = rest;
    if (pool.arena.last == b) pool.arena.last = rest;
    b->size = size;
    pool.freeLarge.insert(rest);
    pool.cachedBytes += rest->size;
  }
  b->free = false;
  return b;
}

// Gives the arena's last block (free, not in freeLarge) back: its pages to the system, its range
// to the arena. Called with the pool locked.
void TrimArena(Pool& pool, Block* b) {
  Arena& a = pool.arena;
  madvise(b->base, b->size, MADV_DONTNEED);
  a.top -= b->size;
  pool.segmentBytes -= b->size;
  a.last = b->prev;
  if (b->prev) b->prev->next = nullptr;
  delete b;
}

// A block of `size` bytes at the arena's end (the free last block grown, or a new one); null
// when the arena is refused or full. Called with the pool locked, after TakeLarge found nothing.
Block* ExtendArena(Pool& pool, size_t size) {
  Arena& a = pool.arena;
  if (size > kArenaMaxRequest) return nullptr;
  if (!a.base && !a.refused) {
    void* p = mmap(nullptr, kArenaReserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      a.refused = true;
    else
      a.base = static_cast<char*>(p);
  }
  if (!a.base) return nullptr;
  Block* tail = a.last;
  if (tail && tail->free) {  // smaller than size (TakeLarge found nothing): grow it
    if (a.top + (size - tail->size) > kArenaReserve) return nullptr;
    pool.freeLarge.erase(tail);
    pool.cachedBytes -= tail->size;
    a.top += size - tail->size;
    pool.segmentBytes += size - tail->size;
    tail->size = size;
    tail->free = false;
    return tail;
  }
  if (a.top + size > kArenaReserve) return nullptr;
  Block* b = new Block{a.base + a.top, size, false, tail, nullptr};
  if (tail) tail->next = b;
  a.last = b;
  a.top += size;
  pool.segmentBytes += size;
  return b;
}

// Frees a large block: merged with free neighbours; a whole free segment goes back to the system
// when the cache is over its limit. Called with the pool locked.
void ReleaseLarge(Pool& pool, Block* b) {
  auto absorb = [&](Block* left, Block* right) {  // right disappears into left
    left->size += right->size;
    left->next = right->next;
    if (right->next) right->next->prev = left;
    if (pool.arena.last == right) pool.arena.last = left;
    delete right;
  };
  if (b->next && b->next->free) {
    pool.freeLarge.erase(b->next);
    pool.cachedBytes -= b->next->size;
    absorb(b, b->next);
  }
  if (b->prev && b->prev->free) {
    Block* left = b->prev;
    pool.freeLarge.erase(left);
    pool.cachedBytes -= left->size;
    absorb(left, b);
    b = left;
  }
  if (pool.cachedBytes + b->size > kMaxCachedBytes) {
    if (pool.arena.last == b) {
      TrimArena(pool, b);
      return;
    }
    if (!pool.arena.Holds(b) && !b->prev && !b->next) {
      pool.segmentBytes -= b->size;
      std::free(b->base);
      delete b;
      return;
    }
  }
  b->free = true;
  pool.freeLarge.insert(b);
  pool.cachedBytes += b->size;
}

void Release(void* user) {
  if (!user) return;
  char* base = static_cast<char*>(user) - kAlign;
  Header header = *reinterpret_cast<Header*>(base);
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  if (header.bucket == 0) {
    pool.liveBytes -= header.block->size;
    ReleaseLarge(pool, header.block);
    return;
  }
  pool.liveBytes -= header.bucket;
  if (pool.cachedBytes + header.bucket <= kMaxCachedBytes) {
    pool.free[header.bucket].push_back(base);
    pool.cachedBytes += header.bucket;
  } else {
    std::free(base);
  }
}

[[noreturn]] void OutOfMemory(size_t n) {
  TORCH_CHECK(false, "out of memory: could not allocate ", n, " bytes on the CPU");
}

class CachingCpuAllocator final : public at::Allocator {
 public:
  at::DataPtr allocate(size_t n) const override {
    if (n == 0) return {nullptr, nullptr, &Release, at::Device(at::kCPU)};
    void* user = n + kAlign >= kLargeMin ? AllocateLarge(n) : AllocateSmall(n);
    return {user, user, &Release, at::Device(at::kCPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &Release; }

 private:
  static void* AllocateSmall(size_t n) {
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
      Count(pool, bucket);
    }
    if (!base && posix_memalign(&base, kAlign, bucket + kAlign) != 0) {
      std::lock_guard<std::mutex> lock(pool.mutex);
      pool.liveBytes -= bucket;
      OutOfMemory(n);
    }
    return UserPointer(static_cast<char*>(base), bucket, nullptr);
  }

  static void* AllocateLarge(size_t n) {
    size_t size = (n + kAlign + kLargeRound - 1) / kLargeRound * kLargeRound;
    Pool& pool = GetPool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    Block* b = TakeLarge(pool, size);
    if (b) {
      pool.hits++;
    } else {
      pool.misses++;
      b = ExtendArena(pool, size);
      if (!b) {
        void* segment = nullptr;
        if (posix_memalign(&segment, kAlign, size) != 0) OutOfMemory(n);
        b = new Block{static_cast<char*>(segment), size};
        pool.segmentBytes += size;
      }
    }
    Count(pool, size);
    return UserPointer(b->base, 0, b);
  }

  static void Count(Pool& pool, size_t bytes) {
    pool.liveBytes += bytes;
    if (pool.liveBytes > pool.peakLiveBytes) pool.peakLiveBytes = pool.liveBytes;
  }
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
  out.Set("segmentBytes", double(pool.segmentBytes));
  out.Set("arena", pool.arena.base != nullptr);
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

// Returns every cached block to the system: the small ones, the large segments wholly free, the
// arena's free end, and the pages of the arena's other free blocks.
Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  Pool& pool = GetPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  for (auto& kv : pool.free)
    for (void* p : kv.second) std::free(p);
  pool.free.clear();
  for (auto it = pool.freeLarge.begin(); it != pool.freeLarge.end();) {
    Block* b = *it;
    if (b == pool.arena.last) {
      it = pool.freeLarge.erase(it);
      TrimArena(pool, b);
      continue;
    }
    if (pool.arena.Holds(b)) {  // between blocks in use: its pages go back, its range stays
      madvise(b->base, b->size, MADV_DONTNEED);
      ++it;
      continue;
    }
    if (b->prev || b->next) {
      ++it;
      continue;
    }
    pool.segmentBytes -= b->size;
    std::free(b->base);
    delete b;
    it = pool.freeLarge.erase(it);
  }
  pool.cachedBytes = 0;
  for (const Block* b : pool.freeLarge) pool.cachedBytes += b->size;
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
