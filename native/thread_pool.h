// A fixed set of worker threads that live as long as their engine. `run` splits a call into
// chunks that any thread may claim, the caller's included: a worker that the OS has descheduled
// (the machine is busy with other work) is simply not waited for, its chunks go to whoever is
// running. What a chunk computes never depends on which thread runs it, so results do not either.
#pragma once

#if defined(__wasm__)
// WebAssembly as built here has no threads: the same interface, run on the caller alone.
#include "serial_pool.h"
#else

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace backprop {

class ThreadPool {
 public:
  // `straggler_micros` > 0 makes worker 1 sleep that long before each claim: tests use it to show
  // that a late thread changes no result.
  explicit ThreadPool(int threads, int straggler_micros = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(chunk, thread) once for every chunk in [0, chunks) and returns when all have
  // returned. `thread` in [0, size()) names the running thread (0 is the caller), for per-thread
  // scratch space. The task is borrowed, not copied (a std::function could allocate every batch).
  template <typename Task>
  void run(int chunks, const Task& task) {
    if (workers_.empty()) {
      for (int chunk = 0; chunk < chunks; chunk++) task(chunk, 0);
      return;
    }
    finish(publish(erased<Task>, &task, chunks), chunks);
  }

  // Runs own() on the caller and task() once on whichever thread claims it first (the caller
  // too, once own() has returned and no one has); returns when both have returned. Work that keeps
  // its data in the caller's caches (a batch's training) stays on the caller.
  template <typename Own, typename Task>
  void run_beside(const Own& own, const Task& task) {
    if (workers_.empty()) {
      own();
      task();
      return;
    }
    const auto chunk = [&task](int, int) { task(); };
    const std::uint32_t call = publish(erased<decltype(chunk)>, &chunk, 1);
    own();
    finish(call, 1);
  }

 private:
  using Invoke = void (*)(const void* task, int chunk, int thread);
  template <typename Task>
  static void erased(const void* task, int chunk, int thread) {
    (*static_cast<const Task*>(task))(chunk, thread);
  }
  // Makes `chunks` chunks of task claimable by the workers (there are some); returns the call's number.
  std::uint32_t publish(Invoke invoke, const void* task, int chunks);
  // Claims what is left of the call on the caller, then waits until all its chunks have returned.
  void finish(std::uint32_t call, int chunks);
  // Claims and runs chunks of call `call` until none is left or a newer call has begun.
  void claim_chunks(std::uint32_t call, int thread);
  void work(int thread);
  // Stops and joins the workers.
  void stop();

  std::vector<std::thread> workers_;
  const int straggler_micros_;
  // The current call: written by the caller between closing `claims_` and opening it for the call.
  // A worker that reads them late may see the next call's values, but then its claim fails (the
  // claims moved on).
  std::atomic<Invoke> invoke_{nullptr};
  std::atomic<const void*> task_{nullptr};
  std::atomic<int> chunks_{0};
  // The call number in the high 32 bits, the next unclaimed chunk in the low 32.
  std::atomic<std::uint64_t> claims_{0};
  std::atomic<int> done_{0};
  // Idle workers block on this counter with C++20 atomic wait (a futex on Linux) rather than a
  // condition variable: GCC 12's condition_variable::wait needs its own libstdc++, and the prebuilt
  // addon must load beside older ones.
  std::atomic<std::uint32_t> call_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace backprop

#endif  // defined(__wasm__)
