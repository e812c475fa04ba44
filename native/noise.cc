#include "engine.h"

namespace backprop {

void noise_forward(const Context& ctx, const Noise& noise, const float* out, float* noisy, float* factor, int rows,
                   int width, const NoiseMask& mask, int layer) {
  parallel_rows(ctx, rows, width,
                [&](int begin, int end) { apply_noise(noise, out, noisy, factor, begin, end, width, mask, layer); });
}

void noise_backward(const Context& ctx, float* delta, const float* factor, int rows, int width) {
  parallel_rows(ctx, rows, width, [&](int begin, int end) {
    for (std::size_t i = static_cast<std::size_t>(begin) * width; i < static_cast<std::size_t>(end) * width; i++)
      delta[i] *= factor[i];
  });
}

}  // namespace backprop
