#include "engine.h"

namespace backprop {

void dropout_forward(const Context& ctx, const float* out, float* dropped, float* keep, int rows, int width,
                     double rate, const DropoutMask& mask, int layer) {
  parallel_rows(ctx, rows, width,
                [&](int begin, int end) { apply_dropout(out, dropped, keep, begin, end, width, rate, mask, layer); });
}

void dropout_backward(const Context& ctx, float* delta, const float* keep, int rows, int width) {
  parallel_rows(ctx, rows, width, [&](int begin, int end) {
    for (std::size_t i = static_cast<std::size_t>(begin) * width; i < static_cast<std::size_t>(end) * width; i++)
      delta[i] *= keep[i];
  });
}

}  // namespace backprop
