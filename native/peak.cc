#include "peak.h"

#include <atomic>
#include <chrono>

namespace backprop {

double measure_peak_gflops(const Context& ctx, double seconds) {
  using Clock = std::chrono::steady_clock;
  const Kernels& kernels = *ctx.kernels;
  // Calibrate on one thread, then give every thread the same number of iterations.
  long long iterations = 1 << 16;
  double elapsed = 0.0;
  std::atomic<float> sink{0.0f};
  while (elapsed < 0.02) {
    iterations *= 2;
    const auto start = Clock::now();
    sink = sink + kernels.fma_peak(iterations, 1.0f);
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  iterations = static_cast<long long>(iterations * (seconds / elapsed)) + 1;
  const auto start = Clock::now();
  ctx.pool->run(ctx.pool->size(),
                [&](int chunk, int) { sink = sink + kernels.fma_peak(iterations, 1.0f + static_cast<float>(chunk)); });
  elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double flops = static_cast<double>(iterations) * kernels.fma_peak_flops * ctx.pool->size();
  return flops / elapsed / 1e9;
}

}  // namespace backprop
