// AVX-512F variant of the kernels. Only this file is compiled with AVX-512 enabled; it runs only
// when cpu_features.cc found AVX-512F in CPUID and the OS saving the ZMM state (XCR0).
#include <immintrin.h>

#include <cstddef>
#include <utility>

#include "kernels.h"
#include "simd_shared.h"

namespace backprop {
namespace {

constexpr int kLanes = 16;
constexpr int kTileVectors = 4;
// Rows per register tile, so that the accumulators, NV vectors of b and a broadcast of a fit the 32
// registers: 12×1, 12×2, 8×3 and 6×4 (24 to 27 accumulators).
constexpr int tile_rows(int vectors) { return vectors <= 2 ? 12 : vectors == 3 ? 8 : 6; }
constexpr int kPanel = kTileVectors * kLanes;

__mmask16 lanes_mask(int count) { return static_cast<__mmask16>((1u << count) - 1u); }

// One register tile: c[0:MR, 0:NV*16] from a[0:MR, 0:K] and b[0:K, 0:NV*16]. Every load and store
// is masked; only the last vector's mask (`tail`) can be partial, so the same loop serves the edge.
template <int MR, int NV>
void gemm_tile(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int K, __mmask16 tail,
               const EpilogueArgs& ep, const float* bias, const float* mask) {
  if (ep.kind == Epilogue::Accumulate && a_row == 1 && transposed_tile_is_zero(a, a_col, MR, K)) return;
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
    const float* a_col_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
    __m512 b_vec[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) b_vec[v] = _mm512_maskz_loadu_ps(lanes[v], b_row + v * kLanes);
    UNROLL_TILE
    for (int m = 0; m < MR; m++) {
      const __m512 a_bcast = _mm512_set1_ps(a_col_k[static_cast<std::ptrdiff_t>(m) * a_row]);
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
          if (relu) result = _mm512_max_ps(result, zero);
          _mm512_mask_storeu_ps(c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, lanes[v], result);
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
          const __mmask16 active = _mm512_mask_cmp_ps_mask(lanes[v], _mm512_maskz_loadu_ps(lanes[v], mask + at), zero, _CMP_GT_OQ);
          _mm512_mask_storeu_ps(c + at, lanes[v], _mm512_maskz_mov_ps(active, acc[m][v]));
        }
      }
      break;
    case Epilogue::Accumulate: {
      const __m512 alpha = _mm512_set1_ps(ep.alpha);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          float* out = c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes;
          _mm512_mask_storeu_ps(out, lanes[v], _mm512_fmadd_ps(alpha, acc[m][v], _mm512_maskz_loadu_ps(lanes[v], out)));
        }
      }
      break;
    }
  }
}

// The tile for the last `rows` rows of a panel: the one of gemm_tile<1..R, NV> that fits.
template <int NV, int... R>
void edge_tile(std::integer_sequence<int, R...>, int rows, float* c, int ldc, const float* a, int a_row, int a_col,
               const float* b, int ldb, int K, __mmask16 tail, const EpilogueArgs& ep, const float* bias,
               const float* mask) {
  ((rows == R + 1 ? gemm_tile<R + 1, NV>(c, ldc, a, a_row, a_col, b, ldb, K, tail, ep, bias, mask) : void()), ...);
}

// All rows of one column panel (NV vectors wide): full tiles, then one shorter tile.
template <int NV>
void gemm_panel(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int K,
                __mmask16 tail, const EpilogueArgs& ep, const float* bias, const float* mask) {
  constexpr int kRows = tile_rows(NV);
  for (int m0 = 0; m0 < M; m0 += kRows) {
    const std::ptrdiff_t row_offset = static_cast<std::ptrdiff_t>(m0) * ldc;
    float* c_tile = c + row_offset;
    const float* a_tile = a + static_cast<std::ptrdiff_t>(m0) * a_row;
    const float* mask_tile = mask ? mask + row_offset : nullptr;
    if (M - m0 >= kRows) {
      gemm_tile<kRows, NV>(c_tile, ldc, a_tile, a_row, a_col, b, ldb, K, tail, ep, bias, mask_tile);
    } else {
      edge_tile<NV>(std::make_integer_sequence<int, kRows - 1>(), M - m0, c_tile, ldc, a_tile, a_row, a_col, b, ldb, K,
                    tail, ep, bias, mask_tile);
    }
  }
}

// a is (M,K) strided, b is (K,N), c is (M,N); c is overwritten, or accumulated into by Accumulate.
void gemm_avx512(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int N, int K,
                 const EpilogueArgs& ep, float* pack) {
  static_assert(kTileVectors * kLanes <= kPackColumns, "a packed panel must fit the caller's buffer");
  for (int n0 = 0; n0 < N; n0 += kPanel) {
    const int width = N - n0 < kPanel ? N - n0 : kPanel;
    const int vectors = (width + kLanes - 1) / kLanes;
    const __mmask16 tail = lanes_mask(width - (vectors - 1) * kLanes);
    float* c_panel = c + n0;
    const float* b_panel = b + n0;
    int ld_panel = ldb;
    // Packing pays when several row tiles read the panel and its rows are far apart in b.
    if (pack && M > tile_rows(vectors) && ldb >= 2 * kPanel) {
      pack_panel(pack, kPanel, b_panel, ldb, K, width);
      b_panel = pack;
      ld_panel = kPanel;
    }
    const float* bias = ep.bias ? ep.bias + n0 : nullptr;
    const float* mask = ep.mask ? ep.mask + n0 : nullptr;
    switch (vectors) {
      case 1: gemm_panel<1>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      case 2: gemm_panel<2>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      case 3: gemm_panel<3>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      default: gemm_panel<4>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
    }
  }
}

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
  return _mm512_reduce_add_ps(sum);
}

}  // namespace

const Kernels kernels_avx512 = {"avx512", gemm_avx512, fma_peak_avx512, kPeakChains * kLanes * 2};

}  // namespace backprop
