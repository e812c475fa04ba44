// A fixed set of worker threads that live as long as their engine. `run` hands task i to thread i
// (task 0 to the caller), so the split of work never depends on timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
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
  std::mutex mutex_;
  std::condition_variable wake_;
  Invoke invoke_ = nullptr;
  const void* task_ = nullptr;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stopping_ = false;
};

}  // namespace backprop
