// AVX2 + FMA variant of the kernels. Only this file is compiled with AVX2 enabled; it runs only
// when cpu_features.cc found AVX2 and FMA in CPUID and the OS saving the YMM state (XCR0).
#include <immintrin.h>

#include <cstddef>

#include "kernels.h"
#include "simd_shared.h"

namespace backprop {
namespace {

constexpr int kLanes = 8;
// 6 rows × 2 vectors = 12 accumulators, plus 2 vectors of b and a broadcast of a: 15 of 16 registers.
constexpr int kTileRows = 6;
constexpr int kTileVectors = 2;
constexpr int kPanel = kTileVectors * kLanes;

__m256i lanes_mask(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// One register tile: c[0:MR, 0:NV*8] from a[0:MR, 0:K] and b[0:K, 0:NV*8]. Every load and store is
// masked; only the last vector's mask (`tail`) can be partial, so the same loop serves the edge.
template <int MR, int NV>
void gemm_tile(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int K, __m256i tail,
               const EpilogueArgs& ep, const float* bias, const float* mask) {
  if (ep.kind == Epilogue::Accumulate && a_row == 1 && transposed_tile_is_zero(a, a_col, MR, K)) return;
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
    const float* a_col_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
    __m256 b_vec[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) b_vec[v] = _mm256_maskload_ps(b_row + v * kLanes, lanes[v]);
    UNROLL_TILE
    for (int m = 0; m < MR; m++) {
      const __m256 a_bcast = _mm256_broadcast_ss(a_col_k + static_cast<std::ptrdiff_t>(m) * a_row);
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
          _mm256_maskstore_ps(c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, lanes[v], result);
        }
      }
      break;
    }
    case Epilogue::ReluMask:
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes;
          const __m256 active = _mm256_cmp_ps(_mm256_maskload_ps(mask + at, lanes[v]), zero, _CMP_GT_OQ);
          _mm256_maskstore_ps(c + at, lanes[v], _mm256_and_ps(active, acc[m][v]));
        }
      }
      break;
    case Epilogue::Accumulate: {
      const __m256 alpha = _mm256_set1_ps(ep.alpha);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          float* out = c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes;
          _mm256_maskstore_ps(out, lanes[v], _mm256_fmadd_ps(alpha, acc[m][v], _mm256_maskload_ps(out, lanes[v])));
        }
      }
      break;
    }
  }
}

// All rows of one column panel (NV vectors wide): full tiles of kTileRows, then one shorter tile.
template <int NV>
void gemm_panel(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int K,
                __m256i tail, const EpilogueArgs& ep, const float* bias, const float* mask) {
  using TileFn = void (*)(float*, int, const float*, int, int, const float*, int, int, __m256i, const EpilogueArgs&,
                          const float*, const float*);
  static constexpr TileFn kTiles[kTileRows + 1] = {nullptr,          gemm_tile<1, NV>, gemm_tile<2, NV>,
                                                   gemm_tile<3, NV>, gemm_tile<4, NV>, gemm_tile<5, NV>,
                                                   gemm_tile<6, NV>};
  for (int m0 = 0; m0 < M; m0 += kTileRows) {
    const int rows = M - m0 < kTileRows ? M - m0 : kTileRows;
    const std::ptrdiff_t row_offset = static_cast<std::ptrdiff_t>(m0) * ldc;
    kTiles[rows](c + row_offset, ldc, a + static_cast<std::ptrdiff_t>(m0) * a_row, a_row, a_col, b, ldb, K, tail, ep,
                 bias, mask ? mask + row_offset : nullptr);
  }
}

// a is (M,K) strided, b is (K,N), c is (M,N); c is overwritten, or accumulated into by Accumulate.
void gemm_avx2(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int N, int K,
               const EpilogueArgs& ep, float* pack) {
  static_assert(kTileVectors * kLanes <= kPackColumns, "a packed panel must fit the caller's buffer");
  for (int n0 = 0; n0 < N; n0 += kPanel) {
    const int width = N - n0 < kPanel ? N - n0 : kPanel;
    const int vectors = (width + kLanes - 1) / kLanes;
    const __m256i tail = lanes_mask(width - (vectors - 1) * kLanes);
    float* c_panel = c + n0;
    const float* b_panel = b + n0;
    int ld_panel = ldb;
    // Packing pays when several row tiles read the panel and its rows are far apart in b.
    if (pack && M > kTileRows && ldb >= 2 * kPanel) {
      pack_panel(pack, kPanel, b_panel, ldb, K, width);
      b_panel = pack;
      ld_panel = kPanel;
    }
    const float* bias = ep.bias ? ep.bias + n0 : nullptr;
    const float* mask = ep.mask ? ep.mask + n0 : nullptr;
    if (vectors == 1) {
      gemm_panel<1>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask);
    } else {
      gemm_panel<2>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask);
    }
  }
}

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
  alignas(32) float lanes[kLanes];
  _mm256_store_ps(lanes, sum);
  return lanes[0] + lanes[kLanes - 1];
}

}  // namespace

const Kernels kernels_avx2 = {"avx2", gemm_avx2, fma_peak_avx2, kPeakChains * kLanes * 2};

}  // namespace backprop
