#include "engine.h"

namespace backprop {
namespace {

// The GEMM epilogue applies ReLU itself (linear needs nothing, softmax is the loss's); the smooth
// activations are a pass over the output after it.
bool needs_activation_pass(Activation activation) {
  return activation != Activation::Relu && activation != Activation::Linear && activation != Activation::Softmax;
}

}  // namespace

void activation_forward(const Context& ctx, Activation activation, float* out, float* pre, int rows, int width) {
  if (!needs_activation_pass(activation)) return;
  parallel_rows(ctx, rows, width, [&](int begin, int end) {
    const std::size_t first = static_cast<std::size_t>(begin) * width;
    ctx.kernels->activate(activation, out + first, pre ? pre + first : nullptr,
                          static_cast<std::size_t>(end - begin) * width);
  });
}

void activation_backward(const Context& ctx, Activation activation, float* delta, const float* kept, int rows,
                         int width) {
  if (activation == Activation::Relu) return;
  parallel_rows(ctx, rows, width, [&](int begin, int end) {
    const std::size_t first = static_cast<std::size_t>(begin) * width;
    ctx.kernels->scale_by_derivative(activation, delta + first, kept + first,
                                     static_cast<std::size_t>(end - begin) * width);
  });
}

}  // namespace backprop
