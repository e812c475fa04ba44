// A fixed set of worker threads that live as long as their engine. `run` hands task i to thread i
// (task 0 to the caller), so the split of work never depends on timing.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace backprop {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(i) for every i in [0, size()) and returns when all have returned. The task is
  // borrowed, not copied (a std::function could allocate on every batch).
  template <typename Task>
  void run(const Task& task) {
    run_erased([](const void* t, int i) { (*static_cast<const Task*>(t))(i); }, &task);
  }

 private:
  using Invoke = void (*)(const void* task, int index);
  void run_erased(Invoke invoke, const void* task);
  void work(int index);

  std::vector<std::thread> workers_;
  // Written by the caller before it bumps generation_, read by the workers after they see the bump.
  Invoke invoke_ = nullptr;
  const void* task_ = nullptr;
  // Idle workers block on this counter with C++20 atomic wait (a futex on Linux) rather than a
  // condition variable: GCC 12's condition_variable::wait needs its own libstdc++, and the prebuilt
  // addon must load beside older ones.
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace backprop
