// The dense kernels behind every layer, one implementation per instruction set. Each ISA file
// (kernels_scalar.cc, kernels_avx2.cc, kernels_avx512.cc, kernels_neon.cc) defines one table with
// identical signatures; cpu_features.cc says which of them this CPU can run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tables.h"

// The lists of tables.h (X-macros) make an enum with BACKPROP_ENUMERATOR and a table of the names,
// in the same order, with BACKPROP_NAME; the other fields are the rows' properties.
#define BACKPROP_ENUMERATOR(enumerator, name, ...) enumerator,
#define BACKPROP_NAME(enumerator, name, ...) name,

namespace backprop {

enum class Activation { BACKPROP_ACTIVATIONS(BACKPROP_ENUMERATOR) };

// Labels are bytes, so an output layer has at most this many classes (the binding checks it).
constexpr int kMaxClasses = 256;

// What a GEMM does with a finished sum before it stores it. Fusing these saves a pass over the
// output: the forward pass adds the bias and applies the activation, the backward pass through a
// ReLU zeroes the inactive units, and the SGD step adds -lr * gradient straight into the weights.
enum class Epilogue {
  Bias,        // c = sum + bias[n]
  BiasRelu,    // c = max(sum + bias[n], 0)
  ReluMask,    // c = mask[m, n] > 0 ? sum : 0      (mask has the layout of c)
  Accumulate,  // c = c + alpha * sum
};

struct EpilogueArgs {
  Epilogue kind;
  const float* bias;
  const float* mask;
  float alpha;
};

// One product c = epilogue(a · b):
//   a is (M, K), element (m, k) at a[m * a_row + k * a_col], so a row-major matrix and the
//     transpose of one are both read in place;
//   b is (K, N), row k at b + k * ldb, or with b_rows at b + b_rows[k] * ldb (rows gathered);
//   c is (M, N), row m at c + m * ldc, or with c_rows at c + c_rows[m] * ldc (rows scattered).
// The row lists let the input layer work on only the inputs that are non-zero somewhere in the batch
// (most MNIST pixels are blank): the forward product gathers those weight rows, the weight update
// scatters into them. Skipped terms are exact zeros, so the result is the same.
// Every c[m, n] is one sum over k = 0, 1, …, K-1, in that order, started from zero: the result of an
// element does not depend on how the caller splits M or N (threads stay bitwise deterministic).
struct Gemm {
  float* c;
  int ldc;
  const int* c_rows;
  const float* a;
  int a_row;
  int a_col;
  const float* b;
  int ldb;
  const int* b_rows;
  int M, N, K;
  EpilogueArgs ep;  // ep.mask has the layout of c and is not used together with c_rows
};

// `pack` is scratch for a contiguous copy of a column panel of b, at least K * kPackColumns floats;
// it may be null only when b_rows is. Rows of b that lie 4 KiB apart fall in the same L1 sets, so
// without the copy a wide layer would evict its own panel.
using GemmFn = void (*)(const Gemm& g, float* pack);

constexpr int kPackColumns = 64;
// Floats in a cache line: the slack a scratch buffer (a packing buffer, the scattered gradient's
// sums) is given so that it can be used from the start of its first whole line, line_aligned(p).
constexpr int kLineFloats = 16;
inline float* line_aligned(float* p) {
  constexpr std::uintptr_t kLine = kLineFloats * sizeof(float);
  return reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(p) + kLine - 1) & ~(kLine - 1));
}

// One product c = epilogue(a · b) with a sparse a: its rows compressed, row r's entries values[i]
// at columns[i] for i in row_start[r] … row_start[r + 1], in increasing column order. Only the rows
// listed in rows[0..count) are computed, in that order (callers list rows of similar length side by
// side: their sums run in step); c row r is at c + r * ldc. b is (K, N), row k at b + k * ldb.
// Every c[r, n] is one sum over row r's entries in order, started from zero: the sum of the dense
// product without its zero terms, which are exact zeros, so the result is the dense product's.
// The epilogue is Bias, BiasRelu or Accumulate.
struct SparseGemm {
  float* c;
  int ldc;
  const int* row_start;
  const int* columns;
  const float* values;
  const int* rows;
  int count;
  const float* b;
  int ldb;
  int K;
  int N;
  EpilogueArgs ep;
};
// `pack` is scratch for a copy of a column panel of b: at least K * kPackColumns + kLineFloats floats.
using SparseGemmFn = void (*)(const SparseGemm& g, float* pack);

// The weight gradient c = epilogue(aᵀ · b) of a sparse a (rows × K, compressed rows as in SparseGemm)
// and b (rows × N, row r at b + r * ldb), read from a's rows: each entry (r, k, x) adds x · b[r] into
// row k of `sums` (K rows lds floats apart, lds ≥ N rounded up to a whole vector, line-aligned).
// Every c[k, n] is one sum over the rows in increasing order, started from zero: the sum that the
// SparseGemm of a's columns forms, without listing a by column first. Every row of c goes through
// the epilogue, a row k without entries with a zero sum (under Accumulate c + alpha · 0 = c, bit
// for bit). `sums` is zero on entry and left zero.
struct SparseScatter {
  float* c;
  int ldc;
  const int* row_start;
  const int* columns;
  const float* values;
  int rows;
  const float* b;
  int ldb;
  int K;
  int N;
  float* sums;
  int lds;
  int* cursors;  // scratch: `rows` ints
  EpilogueArgs ep;
};
using SparseScatterFn = void (*)(const SparseScatter& s);
// Floats a row of SparseScatter's sums is rounded up to: a whole vector of every ISA.
constexpr int kScatterAlign = 16;
// Floats of the sums that one block of weight rows holds while every row of a adds into it (512 of
// MNIST's 784 inputs at 30 units): 2–4 % faster than one pass over all of them on Zen 4, 5–10 %
// faster than blocks of 4,096 (whose cursors went over the rows once more each).
constexpr int kScatterBlockFloats = 16384;

// The machine's peak for the benchmark: `iterations` rounds of independent FMA chains, enough of them
// to hide the FMA latency. Returns a value that depends on every chain, so none can be optimised away.
using FmaPeakFn = float (*)(long long iterations, float seed);

// One optimizer step over n parameters (elementwise.h): p -= lr · g for SGD, with a velocity
// (first) for momentum, first and second moments for Adam and AdamW, a mean square (second) for
// RMSprop. Float arithmetic, every operation rounded (no FMA), as the ts backend's Math.fround
// after each one; `decay` is true for weights (weight decay applies), false for biases.
enum class StepKind { BACKPROP_OPTIMIZERS(BACKPROP_ENUMERATOR) };
struct Step {
  StepKind kind;
  bool decay;
  float learning_rate, weight_decay, momentum;
  float beta1, one_minus_beta1, beta2, one_minus_beta2, epsilon;
  // Adam's bias corrections at step t, as PyTorch applies them: lr / (1 − β1^t), and 1 / √(1 − β2^t)
  // (multiplied where PyTorch divides by √(1 − β2^t): one division per parameter, not two).
  float step_size, inverse_root_correction2;
};
using StepFn = void (*)(const Step& s, float* params, const float* grads, float* first, float* second, std::size_t n);

// Byte features (image pixels, kept as the files hold them) as the floats they stand for: byte / 255.
using WidenBytesFn = void (*)(const std::uint8_t* bytes, float* out, std::size_t n);

// The non-zero x[k] of x[0..n) into values[0..), and each one's k into columns: returns how many.
// Both lists need room for n + kCompressSlack entries (a kernel may write whole vectors past them).
using CompressFn = int (*)(const float* x, int n, int* columns, float* values);
// The same for byte features, each value widened as WidenBytesFn widens it.
using CompressBytesFn = int (*)(const std::uint8_t* x, int n, int* columns, float* values);
constexpr int kCompressSlack = 16;

// The element-wise passes of the smooth activations (elementwise.h), each value computed in double
// and rounded once: out[i] = f(out[i]), keeping z in pre[i] when pre is not null; and the backward
// pass's delta[i] = delta[i] · f'(kept[i]), kept being y = f(z), or z for the activations that keep it.
using ActivateFn = void (*)(Activation activation, float* out, float* pre, std::size_t n);
using ScaleByDerivativeFn = void (*)(Activation activation, float* delta, const float* kept, std::size_t n);
// Rows begin … end of logits (rows × classes) overwritten with their softmax (elementwise.h); with
// labels, each row's cross-entropy into row_loss[r] and whether its largest logit is the label into
// row_correct[r].
using SoftmaxRowsFn = void (*)(float* logits, int begin, int end, int classes, const std::uint8_t* labels,
                               double* row_loss, std::uint8_t* row_correct);
// sums[0..width) = the column sums of rows (count × width), each summed in row order in float (the
// bias gradient from the error signals of a batch).
using ColumnSumsFn = void (*)(const float* rows, int count, int width, float* sums);

struct Kernels {
  const char* isa;
  GemmFn gemm;
  SparseGemmFn sparse_gemm;
  SparseScatterFn sparse_scatter;
  FmaPeakFn fma_peak;
  int fma_peak_flops;  // floating-point operations per iteration of fma_peak
  StepFn step;
  WidenBytesFn widen_bytes;
  CompressFn compress_nonzero;
  CompressBytesFn compress_bytes;
  ActivateFn activate;
  ScaleByDerivativeFn scale_by_derivative;
  ColumnSumsFn column_sums;
  SoftmaxRowsFn softmax_rows;
  // The widest first layer whose products are sparse when most of its inputs are zero (MNIST's
  // pixels). The sparse product gathers a weight row for every non-zero input where the dense one
  // streams each row once for many samples; which wins at what width was measured per ISA.
  int sparse_widest;
  // The widest sparse first layer whose weight gradient is scattered from the rows (SparseScatter):
  // for a narrow layer, listing a batch's inputs by column cost more than its product.
  int scatter_widest;
};

constexpr int kPeakChains = 12;

extern const Kernels kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const Kernels kernels_avx2;
extern const Kernels kernels_avx512;
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
extern const Kernels kernels_neon;
#endif

}  // namespace backprop
