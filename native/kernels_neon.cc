// NEON variant of the kernels (arm64, where NEON is always present).
#include <arm_neon.h>

#include <cstddef>

#include "kernels.h"
#include "simd_shared.h"

namespace backprop {
namespace {

constexpr int kLanes = 4;
// 6 rows × 4 vectors = 24 accumulators, plus 4 vectors of b and a of a: 29 of 32 registers.
constexpr int kTileRows = 6;
constexpr int kTileVectors = 4;
constexpr int kPanel = kTileVectors * kLanes;

// NEON has no masked loads: a partial vector goes through a zero-padded copy.
inline float32x4_t load_lanes(const float* p, int count) {
  if (count == kLanes) return vld1q_f32(p);
  float padded[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; i < count; i++) padded[i] = p[i];
  return vld1q_f32(padded);
}

inline void store_lanes(float* p, float32x4_t value, int count) {
  if (count == kLanes) {
    vst1q_f32(p, value);
    return;
  }
  float padded[kLanes];
  vst1q_f32(padded, value);
  for (int i = 0; i < count; i++) p[i] = padded[i];
}

// One register tile: c[0:MR, 0:NV*4] from a[0:MR, 0:K] and b[0:K, 0:NV*4]; only the last vector can
// be partial (`tail` lanes).
template <int MR, int NV>
void gemm_tile(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int K, int tail,
               const EpilogueArgs& ep, const float* bias, const float* mask) {
  if (ep.kind == Epilogue::Accumulate && a_row == 1 && transposed_tile_is_zero(a, a_col, MR, K)) return;
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
    const float* a_col_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
    float32x4_t b_vec[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) b_vec[v] = load_lanes(b_row + v * kLanes, lanes[v]);
    UNROLL_TILE
    for (int m = 0; m < MR; m++) {
      const float a_mk = a_col_k[static_cast<std::ptrdiff_t>(m) * a_row];
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
      for (int v = 0; v < NV; v++) bias_vec[v] = load_lanes(bias + v * kLanes, lanes[v]);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          float32x4_t result = vaddq_f32(acc[m][v], bias_vec[v]);
          if (relu) result = vmaxq_f32(result, zero);
          store_lanes(c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, result, lanes[v]);
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
          const uint32x4_t active = vcgtq_f32(load_lanes(mask + at, lanes[v]), zero);
          store_lanes(c + at, vreinterpretq_f32_u32(vandq_u32(active, vreinterpretq_u32_f32(acc[m][v]))), lanes[v]);
        }
      }
      break;
    case Epilogue::Accumulate:
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          float* out = c + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes;
          store_lanes(out, vfmaq_n_f32(load_lanes(out, lanes[v]), acc[m][v], ep.alpha), lanes[v]);
        }
      }
      break;
  }
}

// All rows of one column panel (NV vectors wide): full tiles of kTileRows, then one shorter tile.
template <int NV>
void gemm_panel(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int K, int tail,
                const EpilogueArgs& ep, const float* bias, const float* mask) {
  using TileFn = void (*)(float*, int, const float*, int, int, const float*, int, int, int, const EpilogueArgs&,
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
void gemm_neon(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int M, int N, int K,
               const EpilogueArgs& ep, float* pack) {
  static_assert(kTileVectors * kLanes <= kPackColumns, "a packed panel must fit the caller's buffer");
  for (int n0 = 0; n0 < N; n0 += kPanel) {
    const int width = N - n0 < kPanel ? N - n0 : kPanel;
    const int vectors = (width + kLanes - 1) / kLanes;
    const int tail = width - (vectors - 1) * kLanes;
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
    switch (vectors) {
      case 1: gemm_panel<1>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      case 2: gemm_panel<2>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      case 3: gemm_panel<3>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
      default: gemm_panel<4>(c_panel, ldc, a, a_row, a_col, b_panel, ld_panel, M, K, tail, ep, bias, mask); break;
    }
  }
}

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

const Kernels kernels_neon = {"neon", gemm_neon, fma_peak_neon, kPeakChains * kLanes * 2};

}  // namespace backprop
