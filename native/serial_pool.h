// The thread pool of a build without threads (WebAssembly): every chunk runs on the caller, in
// order, which is what ThreadPool does with no workers, so results are the same.
#pragma once

namespace backprop {

class ThreadPool {
 public:
  explicit ThreadPool(int /*threads*/, int /*straggler_micros*/ = 0) {}
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return 1; }

  template <typename Task>
  void run(int chunks, const Task& task) {
    for (int chunk = 0; chunk < chunks; chunk++) task(chunk, 0);
  }

  template <typename Own, typename Task>
  void run_beside(const Own& own, const Task& task) {
    own();
    task();
  }
};

}  // namespace backprop
