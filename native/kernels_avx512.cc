// AVX-512F variant of the kernels. Only this file is compiled with AVX-512 enabled; it runs only
// when cpu_features.cc found AVX-512F in CPUID and the OS saving the ZMM state (XCR0).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

struct Avx512 {
  static constexpr int kLanes = 16;
  static constexpr int kMaxVectors = 4;
  static constexpr int kSparseVectors = 4;
  // As many rows as the 32 registers hold beside NV vectors of b and a broadcast of a: 12×1, 12×2,
  // 8×3 and 6×4 (24 to 27 accumulators).
  static constexpr int tile_rows(int vectors) { return vectors <= 2 ? 12 : vectors == 3 ? 8 : 6; }

  using Vec = __m512;
  using Lanes = __mmask16;
  static Lanes full() { return static_cast<__mmask16>(0xFFFF); }
  static Lanes tail(int lanes) { return static_cast<__mmask16>((1u << lanes) - 1u); }

  static Vec load(const float* p, Lanes lanes) { return _mm512_maskz_loadu_ps(lanes, p); }
  static void store(float* p, Lanes lanes, Vec v) { _mm512_mask_storeu_ps(p, lanes, v); }
  static Vec load_full(const float* p) { return _mm512_loadu_ps(p); }
  static void store_full(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // _mm512_max_ps would do the same, but GCC 12 warns about the undefined vector inside it.
  static Vec positive(Vec z) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z, zero(), _CMP_GT_OQ), z); }
  static Vec where_positive(Vec gate, Vec v) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(gate, zero(), _CMP_GT_OQ), v);
  }

  // A whole group is a copy of constant length, which compiles to one load; only a row's tail
  // copies fewer bytes.
  static Vec load_bytes(const std::uint8_t* p, int lanes) {
    alignas(16) std::uint8_t group[kLanes] = {};
    if (lanes == kLanes) {
      std::memcpy(group, p, kLanes);
    } else {
      std::memcpy(group, p, static_cast<std::size_t>(lanes));
    }
    // The maskz forms: GCC 12's plain ones read an undefined vector and warn.
    const __m512i wide = _mm512_maskz_cvtepu8_epi32(full(), _mm_load_si128(reinterpret_cast<const __m128i*>(group)));
    return _mm512_maskz_cvtepi32_ps(full(), wide);
  }
  static unsigned nonzero(Vec v) { return _mm512_cmp_ps_mask(v, zero(), _CMP_NEQ_UQ); }
  // With AVX2's byte compare: AVX-512F has none (every AVX-512 CPU has AVX2).
  static std::uint32_t nonzero_bytes(const std::uint8_t* p) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return ~static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, _mm256_setzero_si256())));
  }
  // Compressed in registers and stored whole: a compress straight to memory is microcoded and slow
  // on AMD Zen 4.
  static int compress_store(float* values, int* columns, Vec v, int k, unsigned lanes) {
    const __mmask16 selected = static_cast<__mmask16>(lanes);
    const __m512i index =
        _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(k));
    _mm512_storeu_ps(values, _mm512_maskz_compress_ps(selected, v));
    _mm512_storeu_si512(columns, _mm512_maskz_compress_epi32(selected, index));
    return __builtin_popcount(selected);
  }
};

}  // namespace

const Kernels kernels_avx512 = {
    .isa = "avx512",
    .gemm = gemm_driver<Avx512>,
    .sparse_gemm = sparse_gemm_driver<Avx512>,
    .sparse_scatter = sparse_scatter<Avx512>,
    .fma_peak = fma_peak<Avx512>,
    .fma_peak_flops = kPeakChains * Avx512::kLanes * 2,
    .step = optimizer_step_elements,
    .widen_bytes = widen_bytes_elements,
    .compress_nonzero = compress_nonzero<Avx512>,
    .compress_bytes = compress_bytes<Avx512>,
    .activate = activate_elements,
    .scale_by_derivative = scale_by_derivative_elements,
    .column_sums = column_sums_elements,
    .softmax_rows = softmax_rows_elements,
    // Measured on Zen 5: H = 30 … 256 0.6–0.9× the dense epoch, H = 1024 1.4× (but see sparse_widest).
    .sparse_widest = 256,
    // Zen 4, MNIST, batch 100: H = 30 0.046 s an epoch scattered against 0.053 by column (2 threads
    // 0.038 against 0.053); H = 64 the same on 1 thread, slower on 2 (0.072 against 0.058).
    .scatter_widest = 32,
};

}  // namespace backprop
