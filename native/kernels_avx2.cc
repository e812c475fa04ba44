// AVX2 + FMA variant of the kernels. Only this file is compiled with AVX2 enabled; it runs only
// when cpu_features.cc found AVX2 and FMA in CPUID and the OS saving the YMM state (XCR0).
#include <immintrin.h>

#include <cstddef>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

struct Avx2 {
  static constexpr int kLanes = 8;
  static constexpr int kMaxVectors = 2;
  // 6 rows × 2 vectors = 12 accumulators, plus 2 vectors of b and a broadcast of a: 15 of 16 registers.
  static constexpr int tile_rows(int /*vectors*/) { return 6; }

  using Tail = __m256i;
  static Tail tail(int lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  // c rows out[0..MR), NV vectors each = epilogue(a[0:MR, 0:K] · b[0:K, 0:NV*8]). Every load and
  // store is masked; only the last vector's mask can be partial, so the same loop serves the edge.
  template <int MR, int NV>
  static void tile(float* const* out, const float* a, int a_row, int a_col, const float* b, int ldb, int K, Tail tail,
                   const EpilogueArgs& ep, const float* bias, const float* mask, int ldc) {
    __m256i lanes[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) lanes[v] = v == NV - 1 ? tail : _mm256_set1_epi32(-1);
    __m256 acc[MR][NV];
    UNROLL_TILE
    for (int m = 0; m < MR; m++)
      UNROLL_TILE
      for (int v = 0; v < NV; v++) acc[m][v] = _mm256_setzero_ps();

    for (int k = 0; k < K; k++) {
      const float* b_row = b + static_cast<std::ptrdiff_t>(k) * ldb;
      const float* a_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
      __m256 b_vec[NV];
      UNROLL_TILE
      for (int v = 0; v < NV; v++) b_vec[v] = _mm256_maskload_ps(b_row + v * kLanes, lanes[v]);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        const __m256 a_bcast = _mm256_broadcast_ss(a_k + static_cast<std::ptrdiff_t>(m) * a_row);
        UNROLL_TILE
        for (int v = 0; v < NV; v++) acc[m][v] = _mm256_fmadd_ps(a_bcast, b_vec[v], acc[m][v]);
      }
    }

    // The epilogue is chosen once per tile, outside the unrolled loops.
    const __m256 zero = _mm256_setzero_ps();
    switch (ep.kind) {
      case Epilogue::Bias:
      case Epilogue::BiasRelu: {
        const bool relu = ep.kind == Epilogue::BiasRelu;
        __m256 bias_vec[NV];
        UNROLL_TILE
        for (int v = 0; v < NV; v++) bias_vec[v] = _mm256_maskload_ps(bias + v * kLanes, lanes[v]);
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            __m256 result = _mm256_add_ps(acc[m][v], bias_vec[v]);
            if (relu) result = _mm256_max_ps(result, zero);
            _mm256_maskstore_ps(out[m] + v * kLanes, lanes[v], result);
          }
        }
        break;
      }
      case Epilogue::ReluMask:
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            const __m256 act = _mm256_maskload_ps(mask + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, lanes[v]);
            _mm256_maskstore_ps(out[m] + v * kLanes, lanes[v], _mm256_and_ps(_mm256_cmp_ps(act, zero, _CMP_GT_OQ), acc[m][v]));
          }
        }
        break;
      case Epilogue::Accumulate: {
        const __m256 alpha = _mm256_set1_ps(ep.alpha);
        UNROLL_TILE
        for (int m = 0; m < MR; m++) {
          UNROLL_TILE
          for (int v = 0; v < NV; v++) {
            float* c = out[m] + v * kLanes;
            _mm256_maskstore_ps(c, lanes[v], _mm256_fmadd_ps(alpha, acc[m][v], _mm256_maskload_ps(c, lanes[v])));
          }
        }
        break;
      }
    }
  }
};

void gemm_avx2(const Gemm& g, float* pack) { gemm_driver<Avx2>(g, pack); }

float fma_peak_avx2(long long iterations, float seed) {
  __m256 chains[kPeakChains];
  UNROLL_TILE
  for (int i = 0; i < kPeakChains; i++) chains[i] = _mm256_set1_ps(seed + static_cast<float>(i));
  const __m256 scale = _mm256_set1_ps(0.999999f);
  const __m256 shift = _mm256_set1_ps(1e-7f);
  for (long long n = 0; n < iterations; n++) {
    UNROLL_TILE
    for (int i = 0; i < kPeakChains; i++) chains[i] = _mm256_fmadd_ps(chains[i], scale, shift);
  }
  __m256 sum = chains[0];
  UNROLL_TILE
  for (int i = 1; i < kPeakChains; i++) sum = _mm256_add_ps(sum, chains[i]);
  alignas(32) float lanes[Avx2::kLanes];
  _mm256_store_ps(lanes, sum);
  return lanes[0] + lanes[Avx2::kLanes - 1];
}

}  // namespace

const Kernels kernels_avx2 = {"avx2", gemm_avx2, fma_peak_avx2, kPeakChains * Avx2::kLanes * 2, optimizer_step_elements, widen_bytes_elements};

}  // namespace backprop
