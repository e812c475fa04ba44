#include "thread_pool.h"

#include <chrono>

namespace backprop {
namespace {
// Calls arrive every few microseconds during an epoch; a worker that slept between them would pay
// a wake-up each time, so it spins this many rounds before it blocks. Every kYieldEvery rounds it
// yields its core: on a busy machine a spinning worker otherwise takes the time slices the caller
// needs (measured: two threads went from 1.15–1.54× to 0.92–1.09× the time of one beside a busy
// process, and stayed faster than one on an idle machine).
constexpr int kSpinRounds = 20000;
constexpr int kYieldEvery = 256;
// The caller, once no chunk is left to claim, spins this long for the others to finish, then yields
// its core (a finishing worker may be waiting for it on a busy machine).
constexpr int kCallerSpinRounds = 2000;
// The low 32 bits of claims_: the next chunk to claim; all ones while a call is being published.
constexpr std::uint64_t kChunkMask = 0xffffffffu;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}
}  // namespace

// A thread that cannot start (no memory for its stack under `ulimit -v`, or the process's thread
// limit) throws std::system_error; the threads already started are stopped before it propagates,
// since a joinable std::thread destroyed unjoined would end the process.
ThreadPool::ThreadPool(int threads, int straggler_micros) : straggler_micros_(straggler_micros) {
  try {
    for (int i = 1; i < threads; i++) workers_.emplace_back([this, i] { work(i); });
  } catch (...) {
    stop();
    throw;
  }
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  call_.fetch_add(1, std::memory_order_release);
  call_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void ThreadPool::claim_chunks(std::uint32_t call, int thread) {
  for (;;) {
    if (thread == 1 && straggler_micros_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(straggler_micros_));
    std::uint64_t claims = claims_.load(std::memory_order_acquire);
    if ((claims >> 32) != call) return;
    // Read after the claims that name this call, and checked by the claim below: publish closes a
    // call before it writes the next one's task, so a claim that succeeds read this call's.
    const Invoke invoke = invoke_.load(std::memory_order_relaxed);
    const void* task = task_.load(std::memory_order_relaxed);
    const std::uint64_t chunks = static_cast<std::uint64_t>(chunks_.load(std::memory_order_relaxed));
    std::atomic_thread_fence(std::memory_order_acquire);
    if ((claims & kChunkMask) >= chunks) return;
    if (!claims_.compare_exchange_weak(claims, claims + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    invoke(task, static_cast<int>(claims & kChunkMask), thread);
    done_.fetch_add(1, std::memory_order_release);
  }
}

std::uint32_t ThreadPool::publish(Invoke invoke, const void* task, int chunks) {
  const std::uint32_t call = call_.load(std::memory_order_relaxed) + 1;
  // Closed first: a worker late from the previous call could otherwise read this call's chunk
  // count while the claims still named the previous call, claim a chunk past its end, and count it
  // done in this call (whose caller then waited forever for a count it had passed).
  claims_.store((static_cast<std::uint64_t>(call) << 32) | kChunkMask, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  invoke_.store(invoke, std::memory_order_relaxed);
  task_.store(task, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  claims_.store(static_cast<std::uint64_t>(call) << 32, std::memory_order_release);
  call_.store(call, std::memory_order_release);
  call_.notify_all();
  return call;
}

void ThreadPool::finish(std::uint32_t call, int chunks) {
  claim_chunks(call, 0);
  for (int spin = 0; done_.load(std::memory_order_acquire) != chunks; spin++) {
    if (spin < kCallerSpinRounds) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::work(int thread) {
  std::uint32_t seen = 0;
  for (;;) {
    for (int spin = 0; spin < kSpinRounds && call_.load(std::memory_order_acquire) == seen; spin++) {
      if (spin % kYieldEvery == kYieldEvery - 1) {
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
    call_.wait(seen, std::memory_order_acquire);
    seen = call_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_relaxed)) return;
    claim_chunks(seen, thread);
  }
}

}  // namespace backprop
