// AVX-512F variant of the kernels. Only this file is compiled with AVX-512 enabled; it runs only
// when cpu_features.cc found AVX-512F in CPUID and the OS saving the ZMM state (XCR0).
#include <immintrin.h>

#include <cstddef>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

struct Avx512 {
  static constexpr int kLanes = 16;
  static constexpr int kMaxVectors = 4;
  // As many rows as the 32 registers hold beside NV vectors of b and a broadcast of a: 12×1, 12×2,
  // 8×3 and 6×4 (24 to 27 accumulators).
  static constexpr int tile_rows(int vectors) { return vectors <= 2 ? 12 : vectors == 3 ? 8 : 6; }

  using Tail = __mmask16;
  static Tail tail(int lanes) { return static_cast<__mmask16>((1u << lanes) - 1u); }

  // c rows out[0..MR), NV vectors each = epilogue(a[0:MR, 0:K] · b[0:K, 0:NV*16]). Every load and
  // store is masked; only the last vector's mask can be partial, so the same loop serves the edge.
  template <int MR, int NV>
  static void tile(float* const* out, const float* a, int a_row, int a_col, const float* b, int ldb, int K, Tail tail,
                   const EpilogueArgs& ep, const float* bias, const float* mask, int ldc) {
    __mmask16 lanes[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) lanes[v] = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
    __m512 acc[MR][NV];
    UNROLL_TILE
    for (int m = 0; m < MR; m++)
      UNROLL_TILE
      for (int v = 0; v < NV; v++) acc[m][v] = _mm512_setzero_ps();

    for (int k = 0; k < K; k++) {
      const float* b_row = b + static_cast<std::ptrdiff_t>(k) * ldb;
      const float* a_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
      __m512 b_vec[NV];
      UNROLL_TILE
      for (int v = 0; v < NV; v++) b_vec[v] = _mm512_maskz_loadu_ps(lanes[v], b_row + v * kLanes);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        const __m512 a_bcast = _mm512_set1_ps(a_k[static_cast<std::ptrdiff_t>(m) * a_row]);
        UNROLL_TILE
        for (int v = 0; v < NV; v++) acc[m][v] = _mm512_fmadd_ps(a_bcast, b_vec[v], acc[m][v]);
      }
    }

    // The epilogue is chosen once per tile, outside the unrolled loops.
    const __m512 zero = _mm512_setzero_ps();
    switch (ep.kind) {
      case Epilogue::Bias:
      case Epilogue::BiasRelu: {
        const bool relu = ep.kind == Epilogue::BiasRelu;
        __m512 bias_vec[NV];
        UNROLL_TILE
        for (int v = 0; v < NV; v++) bias_vec[v] = _mm512_maskz_loadu_ps(lanes[v], bias + v * kLanes);
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            __m512 result = _mm512_add_ps(acc[m][v], bias_vec[v]);
            // z > 0 ? z : 0, as the scalar reference (NaN and −0 give +0); _mm512_max_ps would do the
            // same, but GCC 12 warns about the undefined vector inside it.
            if (relu) result = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(result, zero, _CMP_GT_OQ), result);
            _mm512_mask_storeu_ps(out[m] + v * kLanes, lanes[v], result);
          }
        }
        break;
      }
      case Epilogue::ReluMask:
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            const __m512 act = _mm512_maskz_loadu_ps(lanes[v], mask + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes);
            const __mmask16 active = _mm512_mask_cmp_ps_mask(lanes[v], act, zero, _CMP_GT_OQ);
            _mm512_mask_storeu_ps(out[m] + v * kLanes, lanes[v], _mm512_maskz_mov_ps(active, acc[m][v]));
          }
        }
        break;
      case Epilogue::Accumulate: {
        const __m512 alpha = _mm512_set1_ps(ep.alpha);
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            float* c = out[m] + v * kLanes;
            _mm512_mask_storeu_ps(c, lanes[v], _mm512_fmadd_ps(alpha, acc[m][v], _mm512_maskz_loadu_ps(lanes[v], c)));
          }
        }
        break;
      }
    }
  }
};

void gemm_avx512(const Gemm& g, float* pack) { gemm_driver<Avx512>(g, pack); }

float fma_peak_avx512(long long iterations, float seed) {
  __m512 chains[kPeakChains];
  UNROLL_TILE
  for (int i = 0; i < kPeakChains; i++) chains[i] = _mm512_set1_ps(seed + static_cast<float>(i));
  const __m512 scale = _mm512_set1_ps(0.999999f);
  const __m512 shift = _mm512_set1_ps(1e-7f);
  for (long long n = 0; n < iterations; n++) {
    UNROLL_TILE
    for (int i = 0; i < kPeakChains; i++) chains[i] = _mm512_fmadd_ps(chains[i], scale, shift);
  }
  __m512 sum = chains[0];
  UNROLL_TILE
  for (int i = 1; i < kPeakChains; i++) sum = _mm512_add_ps(sum, chains[i]);
  // Summed through memory: GCC 12's _mm512_reduce_add_ps reads an undefined vector and warns.
  alignas(64) float lanes[Avx512::kLanes];
  _mm512_store_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace

const Kernels kernels_avx512 = {"avx512", gemm_avx512, fma_peak_avx512, kPeakChains * Avx512::kLanes * 2, optimizer_step_elements, widen_bytes_elements};

}  // namespace backprop
