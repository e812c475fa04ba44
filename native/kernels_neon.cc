// NEON variant of the kernels (arm64, where NEON is always present).
#include <arm_neon.h>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

struct Neon {
  static constexpr int kLanes = 4;
  static constexpr int kMaxVectors = 4;
  static constexpr int kSparseVectors = 4;
  // 6 rows × 4 vectors = 24 accumulators, plus 4 vectors of b and a of a: 29 of 32 registers.
  static constexpr int tile_rows(int /*vectors*/) { return 6; }

  // NEON has no masked loads: a partial vector goes through a zero-padded copy of its first lanes.
  using Vec = float32x4_t;
  using Lanes = int;
  static Lanes full() { return kLanes; }
  static Lanes tail(int lanes) { return lanes; }

  static Vec load(const float* p, Lanes count) {
    if (count == kLanes) return vld1q_f32(p);
    float padded[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < count; i++) padded[i] = p[i];
    return vld1q_f32(padded);
  }
  static void store(float* p, Lanes count, Vec v) {
    if (count == kLanes) {
      vst1q_f32(p, v);
      return;
    }
    float padded[kLanes];
    vst1q_f32(padded, v);
    for (int i = 0; i < count; i++) p[i] = padded[i];
  }
  static Vec load_full(const float* p) { return vld1q_f32(p); }
  static void store_full(float* p, Vec v) { vst1q_f32(p, v); }
  static Vec zero() { return vdupq_n_f32(0.0f); }
  static Vec set1(float x) { return vdupq_n_f32(x); }
  static Vec broadcast(const float* p) { return vld1q_dup_f32(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }
  static Vec add(Vec a, Vec b) { return vaddq_f32(a, b); }
  // Not vmaxq_f32: it returns NaN for NaN, where the other kernels give 0.
  static Vec positive(Vec z) { return where_positive(z, z); }
  static Vec where_positive(Vec gate, Vec v) {
    return vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(gate, zero()), vreinterpretq_u32_f32(v)));
  }
};

}  // namespace

const Kernels kernels_neon = {
    .isa = "neon",
    .gemm = gemm_driver<Neon>,
    .sparse_gemm = sparse_gemm_driver<Neon>,
    .sparse_scatter = sparse_scatter<Neon>,
    .fma_peak = fma_peak<Neon>,
    .fma_peak_flops = kPeakChains * Neon::kLanes * 2,
    .step = optimizer_step_elements,
    .widen_bytes = widen_bytes_elements,
    .compress_nonzero = compress_nonzero_elements,
    .compress_bytes = compress_bytes_elements,
    .activate = activate_elements,
    .scale_by_derivative = scale_by_derivative_elements,
    .column_sums = column_sums_elements,
    .softmax_rows = softmax_rows_elements,
    // Not measured on an arm64 machine: the AVX-512 choice.
    .sparse_widest = 256,
    // Not measured on an arm64 machine: the choice of the x86-64 ISAs.
    .scatter_widest = 32,
};  // not measured on an arm64 machine: the AVX-512 choice

}  // namespace backprop
