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

}  // namespace

const Kernels kernels_avx512 = {"avx512", gemm_driver<Avx512>, fma_peak<Avx512>, kPeakChains * Avx512::kLanes * 2, optimizer_step_elements, widen_bytes_elements};

}  // namespace backprop
