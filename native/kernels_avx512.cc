// AVX-512F variant of the kernels. Only this file is compiled with AVX-512 enabled; it runs only
// when cpu_features.cc found AVX-512F in CPUID and the OS saving the ZMM state (XCR0).
#include <immintrin.h>

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

  using Vec = __m512;
  using Lanes = __mmask16;
  static Lanes full() { return static_cast<__mmask16>(0xFFFF); }
  static Lanes tail(int lanes) { return static_cast<__mmask16>((1u << lanes) - 1u); }

  static Vec load(const float* p, Lanes lanes) { return _mm512_maskz_loadu_ps(lanes, p); }
  static void store(float* p, Lanes lanes, Vec v) { _mm512_mask_storeu_ps(p, lanes, v); }
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // _mm512_max_ps would do the same, but GCC 12 warns about the undefined vector inside it.
  static Vec positive(Vec z) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, zero(), _CMP_GT_OQ), z); }
  static Vec where_positive(Vec gate, Vec v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(gate, zero(), _CMP_GT_OQ), v); }
};

// Compressed in registers and stored whole: a compress straight to memory is microcoded and slow
// on AMD Zen 4. NaN counts as non-zero, −0 as zero, as in compress_nonzero_elements.
int compress_nonzero_avx512(const float* x, int n, int* columns, float* values) {
  int count = 0;
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(Avx512::kLanes);
  for (int k = 0; k < n; k += Avx512::kLanes) {
    const __mmask16 lanes = n - k >= Avx512::kLanes ? Avx512::full() : Avx512::tail(n - k);
    const __m512 v = _mm512_maskz_loadu_ps(lanes, x + k);
    const __mmask16 nonzero = _mm512_mask_cmp_ps_mask(lanes, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    _mm512_storeu_ps(values + count, _mm512_maskz_compress_ps(nonzero, v));
    _mm512_storeu_si512(columns + count, _mm512_maskz_compress_epi32(nonzero, index));
    count += __builtin_popcount(nonzero);
    index = _mm512_add_epi32(index, step);
  }
  return count;
}

}  // namespace

const Kernels kernels_avx512 = {"avx512", gemm_driver<Avx512>, sparse_gemm_driver<Avx512>, fma_peak<Avx512>, kPeakChains * Avx512::kLanes * 2, optimizer_step_elements, widen_bytes_elements, compress_nonzero_avx512,
                                  activate_elements, scale_by_derivative_elements, column_sums_elements,
                                  softmax_rows_elements};

}  // namespace backprop
