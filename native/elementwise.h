// The element-wise kernels: the smooth activations and their derivatives, softmax, the bias
// gradient's column sums, the optimizer step, the widening of byte features and the gathering of
// non-zero inputs. Included by every ISA file so that each compiles them with its own instructions
// (GCC vectorizes the loops without a branch inside); the arithmetic is the same everywhere, so the
// ISA changes only the speed. Values are computed in double precision, rounded to float once per
// stored value, as the ts backend computes them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "glibc_floor.h"
#include "kernels.h"

namespace backprop {
// Internal linkage: each ISA file must keep its own copy (one inline definition shared by the
// linker could put AVX-512 code in the scalar table).
namespace {

template <bool kDecay>
inline void step_run(const Step& s, float* __restrict params, const float* __restrict grads, float* __restrict first,
                     float* __restrict second, std::size_t n) {
  const float lr = s.learning_rate;
  // L2 decay joins the gradient; AdamW's decoupled decay shrinks the weight apart from it.
  const bool decoupled = s.kind == StepKind::Adamw;
  const float l2 = kDecay && !decoupled ? s.weight_decay : 0.0f;
  const float shrink = kDecay && decoupled ? 1.0f - lr * s.weight_decay : 1.0f;
  auto gradient = [&](std::size_t i) -> float { return kDecay && l2 != 0.0f ? grads[i] + l2 * params[i] : grads[i]; };
  switch (s.kind) {
    case StepKind::Sgd:
      for (std::size_t i = 0; i < n; i++) params[i] = params[i] - lr * gradient(i);
      break;
    case StepKind::Momentum: {
      const float mu = s.momentum;
      for (std::size_t i = 0; i < n; i++) {
        first[i] = mu * first[i] + gradient(i);
        params[i] = params[i] - lr * first[i];
      }
      break;
    }
    case StepKind::Adam:
    case StepKind::Adamw: {
      const float b1 = s.beta1, c1 = s.one_minus_beta1, b2 = s.beta2, c2 = s.one_minus_beta2, epsilon = s.epsilon;
      const float step_size = s.step_size, inverse_root = s.inverse_root_correction2;
      for (std::size_t i = 0; i < n; i++) {
        const float g = gradient(i);
        first[i] = b1 * first[i] + c1 * g;
        second[i] = b2 * second[i] + c2 * g * g;
        const float denominator = std::sqrt(second[i]) * inverse_root + epsilon;
        params[i] = params[i] * shrink - step_size * (first[i] / denominator);
      }
      break;
    }
    case StepKind::Rmsprop: {
      const float b2 = s.beta2, c2 = s.one_minus_beta2, epsilon = s.epsilon;
      for (std::size_t i = 0; i < n; i++) {
        const float g = gradient(i);
        second[i] = b2 * second[i] + c2 * g * g;
        params[i] = params[i] - lr * g / (std::sqrt(second[i]) + epsilon);
      }
      break;
    }
  }
}

inline void optimizer_step_elements(const Step& s, float* params, const float* grads, float* first, float* second,
                                    std::size_t n) {
  if (s.decay) {
    step_run<true>(s, params, grads, first, second, n);
  } else {
    step_run<false>(s, params, grads, first, second, n);
  }
}

// A float division by 255 is the correctly rounded quotient, which is also what the ts backend's
// Math.fround(byte / 255) gives: the quotient's bits repeat the byte's every 8 places, so the
// double it is first rounded to never sits on a float's rounding tie. With FMA the quotient comes
// from a product and one correction step instead of a division (a fifth of its cost): q = b·(1/255)
// is off by an ulp for 126 of the 256 bytes, b − 255·q is then exact, and q + (b − 255·q)/255
// rounds to the correctly rounded quotient for every byte (kernel_tests checks all 256).
inline float widened(std::uint8_t byte) {
#if defined(__FMA__) || defined(__aarch64__)
  constexpr float kInverse = 1.0f / 255.0f;
  const float b = static_cast<float>(byte);
  const float q = b * kInverse;
  return std::fma(std::fma(-q, 255.0f, b), kInverse, q);
#else
  return static_cast<float>(byte) / 255.0f;
#endif
}

inline void widen_bytes_elements(const std::uint8_t* __restrict bytes, float* __restrict out, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) out[i] = widened(bytes[i]);
}

// GELU in its tanh form (PyTorch's approximate='tanh'), with the ts backend's constants.
const double kGeluScale = std::sqrt(2.0 / 3.14159265358979323846);
constexpr double kGeluCubic = 0.044715;

inline double activate(Activation activation, double z) {
  switch (activation) {
    case Activation::Relu:
      return z > 0.0 ? z : 0.0;
    case Activation::Sigmoid:
      return 1.0 / (1.0 + std::exp(-z));
    case Activation::Tanh:
      return std::tanh(z);
    case Activation::Bipolar:
      return 2.0 / (1.0 + std::exp(-z)) - 1.0;
    case Activation::Gelu:
      return 0.5 * z * (1.0 + std::tanh(kGeluScale * (z + kGeluCubic * z * z * z)));
    case Activation::Silu:
      return z / (1.0 + std::exp(-z));
    case Activation::Linear:
    case Activation::Softmax:
      break;
  }
  return z;
}

// f'(z), from the output y = f(z), or from z itself for the activations that keep it.
inline double derivative(Activation activation, double kept) {
  const double y = kept, z = kept;
  switch (activation) {
    case Activation::Relu:
      return y > 0.0 ? 1.0 : 0.0;
    case Activation::Sigmoid:
      return y * (1.0 - y);
    case Activation::Tanh:
      return 1.0 - y * y;
    case Activation::Bipolar:
      return 0.5 * (1.0 + y) * (1.0 - y);
    case Activation::Gelu: {
      const double t = std::tanh(kGeluScale * (z + kGeluCubic * z * z * z));
      return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * kGeluScale * (1.0 + 3.0 * kGeluCubic * z * z);
    }
    case Activation::Silu: {
      const double s = 1.0 / (1.0 + std::exp(-z));
      return s + z * s * (1.0 - s);
    }
    case Activation::Linear:
    case Activation::Softmax:
      break;
  }
  return 1.0;
}

inline void activate_elements(Activation activation, float* __restrict out, float* __restrict pre, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) {
    if (pre) pre[i] = out[i];
    out[i] = static_cast<float>(activate(activation, out[i]));
  }
}

inline void scale_by_derivative_elements(Activation activation, float* __restrict delta, const float* __restrict kept,
                                         std::size_t n) {
  for (std::size_t i = 0; i < n; i++) delta[i] = static_cast<float>(delta[i] * derivative(activation, kept[i]));
}

inline void column_sums_elements(const float* __restrict rows, int count, int width, float* __restrict sums) {
  for (int o = 0; o < width; o++) sums[o] = 0.0f;
  for (int r = 0; r < count; r++) {
    const float* row = rows + static_cast<std::size_t>(r) * width;
    for (int o = 0; o < width; o++) sums[o] += row[o];
  }
}

// logits is (rows, classes), overwritten with softmax probabilities. Works in double, subtracting
// the row maximum so exp cannot overflow. With labels, row_loss[r] gets the row's cross-entropy
// (computed from the logits, so never log 0) and row_correct[r] whether its largest logit is the label.
inline void softmax_rows_elements(float* logits, int begin, int end, int classes, const std::uint8_t* labels,
                                  double* row_loss, std::uint8_t* row_correct) {
  double exps[kMaxClasses];
  for (int r = begin; r < end; r++) {
    float* z = logits + static_cast<std::size_t>(r) * classes;
    int argmax = 0;
    for (int j = 1; j < classes; j++)
      if (z[j] > z[argmax]) argmax = j;
    const double max = z[argmax];
    double sum = 0.0;
    for (int j = 0; j < classes; j++) {
      exps[j] = std::exp(z[j] - max);
      sum += exps[j];
    }
    if (labels) {
      row_loss[r] = std::log(sum) - (z[labels[r]] - max);
      row_correct[r] = argmax == labels[r];
    }
    for (int j = 0; j < classes; j++) z[j] = static_cast<float>(exps[j] / sum);
  }
}

// Without a branch on the data (a fifth of MNIST's pixels are non-zero, at random: a branch would
// miss at every other one), every element is written and the count advances past the non-zero ones.
template <typename Element>
inline int compress_nonzero_run(const Element* __restrict x, int n, int* __restrict columns, float* __restrict values) {
  int count = 0;
  for (int k = 0; k < n; k++) {
    float value;
    if constexpr (std::is_same_v<Element, std::uint8_t>) {
      value = widened(x[k]);
    } else {
      value = x[k];
    }
    columns[count] = k;
    values[count] = value;
    count += value != 0.0f;
  }
  return count;
}

inline int compress_nonzero_elements(const float* x, int n, int* columns, float* values) {
  return compress_nonzero_run(x, n, columns, values);
}

inline int compress_bytes_elements(const std::uint8_t* x, int n, int* columns, float* values) {
  return compress_nonzero_run(x, n, columns, values);
}

}  // namespace
}  // namespace backprop
