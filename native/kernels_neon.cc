// NEON variant of the kernels (arm64, where NEON is always present).
#include <arm_neon.h>

#include <cstddef>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

struct Neon {
  static constexpr int kLanes = 4;
  static constexpr int kMaxVectors = 4;
  // 6 rows × 4 vectors = 24 accumulators, plus 4 vectors of b and a of a: 29 of 32 registers.
  static constexpr int tile_rows(int /*vectors*/) { return 6; }

  // NEON has no masked loads: a partial vector goes through a zero-padded copy of `Tail` lanes.
  using Tail = int;
  static Tail tail(int lanes) { return lanes; }

  static float32x4_t load(const float* p, int count) {
    if (count == kLanes) return vld1q_f32(p);
    float padded[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < count; i++) padded[i] = p[i];
    return vld1q_f32(padded);
  }

  static void store(float* p, float32x4_t value, int count) {
    if (count == kLanes) {
      vst1q_f32(p, value);
      return;
    }
    float padded[kLanes];
    vst1q_f32(padded, value);
    for (int i = 0; i < count; i++) p[i] = padded[i];
  }

  // c rows out[0..MR), NV vectors each = epilogue(a[0:MR, 0:K] · b[0:K, 0:NV*4]); only the last
  // vector can be partial.
  template <int MR, int NV>
  static void tile(float* const* out, const float* a, int a_row, int a_col, const float* b, int ldb, int K, Tail tail,
                   const EpilogueArgs& ep, const float* bias, const float* mask, int ldc) {
    int lanes[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) lanes[v] = v == NV - 1 ? tail : kLanes;
    float32x4_t acc[MR][NV];
    UNROLL_TILE
    for (int m = 0; m < MR; m++)
      UNROLL_TILE
      for (int v = 0; v < NV; v++) acc[m][v] = vdupq_n_f32(0.0f);

    for (int k = 0; k < K; k++) {
      const float* b_row = b + static_cast<std::ptrdiff_t>(k) * ldb;
      const float* a_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
      float32x4_t b_vec[NV];
      UNROLL_TILE
      for (int v = 0; v < NV; v++) b_vec[v] = load(b_row + v * kLanes, lanes[v]);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        const float a_mk = a_k[static_cast<std::ptrdiff_t>(m) * a_row];
        UNROLL_TILE
        for (int v = 0; v < NV; v++) acc[m][v] = vfmaq_n_f32(acc[m][v], b_vec[v], a_mk);
      }
    }

    // The epilogue is chosen once per tile, outside the unrolled loops.
    const float32x4_t zero = vdupq_n_f32(0.0f);
    switch (ep.kind) {
      case Epilogue::Bias:
      case Epilogue::BiasRelu: {
        const bool relu = ep.kind == Epilogue::BiasRelu;
        float32x4_t bias_vec[NV];
        UNROLL_TILE
        for (int v = 0; v < NV; v++) bias_vec[v] = load(bias + v * kLanes, lanes[v]);
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            float32x4_t result = vaddq_f32(acc[m][v], bias_vec[v]);
            if (relu) result = vmaxq_f32(result, zero);
            store(out[m] + v * kLanes, result, lanes[v]);
          }
        }
        break;
      }
      case Epilogue::ReluMask:
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            const uint32x4_t active = vcgtq_f32(load(mask + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, lanes[v]), zero);
            store(out[m] + v * kLanes, vreinterpretq_f32_u32(vandq_u32(active, vreinterpretq_u32_f32(acc[m][v]))), lanes[v]);
          }
        }
        break;
      case Epilogue::Accumulate:
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            float* c = out[m] + v * kLanes;
            store(c, vfmaq_n_f32(load(c, lanes[v]), acc[m][v], ep.alpha), lanes[v]);
          }
        }
        break;
    }
  }
};

void gemm_neon(const Gemm& g, float* pack) { gemm_driver<Neon>(g, pack); }

float fma_peak_neon(long long iterations, float seed) {
  float32x4_t chains[kPeakChains];
  UNROLL_TILE
  for (int i = 0; i < kPeakChains; i++) chains[i] = vdupq_n_f32(seed + static_cast<float>(i));
  const float32x4_t shift = vdupq_n_f32(1e-7f);
  for (long long n = 0; n < iterations; n++) {
    UNROLL_TILE
    for (int i = 0; i < kPeakChains; i++) chains[i] = vfmaq_n_f32(shift, chains[i], 0.999999f);
  }
  float32x4_t sum = chains[0];
  UNROLL_TILE
  for (int i = 1; i < kPeakChains; i++) sum = vaddq_f32(sum, chains[i]);
  return vaddvq_f32(sum);
}

}  // namespace

const Kernels kernels_neon = {"neon", gemm_neon, fma_peak_neon, kPeakChains * Neon::kLanes * 2, optimizer_step_elements, widen_bytes_elements};

}  // namespace backprop
