// AVX2 + FMA variant of the kernels. Only this file is compiled with AVX2 enabled; it runs only
// when cpu_features.cc found AVX2 and FMA in CPUID and the OS saving the YMM state (XCR0).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "elementwise.h"
#include "simd_shared.h"

namespace backprop {
namespace {

// For each mask of 8 lanes, the lanes it selects in order, a byte each: the permutation that moves
// them to the front (AVX2 has no compress instruction).
struct FrontLanes {
  std::uint64_t of[256];
  constexpr FrontLanes() : of() {
    for (unsigned mask = 0; mask < 256; mask++) {
      int at = 0;
      for (unsigned lane = 0; lane < 8; lane++)
        if (mask >> lane & 1u) of[mask] |= static_cast<std::uint64_t>(lane) << (8 * at++);
    }
  }
};
constexpr FrontLanes kFrontLanes{};

struct Avx2 {
  static constexpr int kLanes = 8;
  static constexpr int kMaxVectors = 2;
  // A sparse tile of 8 vectors has a single row: 8 accumulators (measured 10–20 % faster per epoch
  // than 2 vectors at H = 30 … 256).
  static constexpr int kSparseVectors = 8;
  // 6 rows × 2 vectors = 12 accumulators, plus 2 vectors of b and a broadcast of a: 15 of 16 registers.
  static constexpr int tile_rows(int /*vectors*/) { return 6; }

  using Vec = __m256;
  using Lanes = __m256i;  // all ones in the lanes to touch
  static Lanes full() { return _mm256_set1_epi32(-1); }
  static Lanes tail(int lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  static Vec load(const float* p, Lanes lanes) { return _mm256_maskload_ps(p, lanes); }
  static void store(float* p, Lanes lanes, Vec v) { _mm256_maskstore_ps(p, lanes, v); }
  static Vec load_full(const float* p) { return _mm256_loadu_ps(p); }
  static void store_full(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  // max_ps returns its second operand for NaN and for two zeros: +0 in both cases.
  static Vec positive(Vec z) { return _mm256_max_ps(z, zero()); }
  static Vec where_positive(Vec gate, Vec v) { return _mm256_and_ps(_mm256_cmp_ps(gate, zero(), _CMP_GT_OQ), v); }

  // A whole group is a copy of constant length, which compiles to one load; only a row's tail
  // copies fewer bytes.
  static Vec load_bytes(const std::uint8_t* p, int lanes) {
    std::uint64_t group = 0;
    if (lanes == kLanes) {
      std::memcpy(&group, p, kLanes);
    } else {
      std::memcpy(&group, p, static_cast<std::size_t>(lanes));
    }
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(group))));
  }
  static unsigned nonzero(Vec v) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, zero(), _CMP_NEQ_UQ)));
  }
  static std::uint32_t nonzero_bytes(const std::uint8_t* p) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return ~static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, _mm256_setzero_si256())));
  }
  static int compress_store(float* values, int* columns, Vec v, int k, unsigned lanes) {
    const unsigned selected = lanes & 0xFFu;
    const __m256i order = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(kFrontLanes.of[selected])));
    _mm256_storeu_ps(values, _mm256_permutevar8x32_ps(v, order));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(columns), _mm256_add_epi32(order, _mm256_set1_epi32(k)));
    return __builtin_popcount(selected);
  }
};

}  // namespace

const Kernels kernels_avx2 = {
    .isa = "avx2",
    .gemm = gemm_driver<Avx2>,
    .sparse_gemm = sparse_gemm_driver<Avx2>,
    .sparse_scatter = sparse_scatter<Avx2>,
    .fma_peak = fma_peak<Avx2>,
    .fma_peak_flops = kPeakChains * Avx2::kLanes * 2,
    .step = optimizer_step_elements,
    .widen_bytes = widen_bytes_elements,
    .compress_nonzero = compress_nonzero<Avx2>,
    .compress_bytes = compress_bytes<Avx2>,
    .activate = activate_elements,
    .scale_by_derivative = scale_by_derivative_elements,
    .column_sums = column_sums_elements,
    .softmax_rows = softmax_rows_elements,
    // Sparse was faster at every width measured (H = 30 … 2048, 1 and 2 threads, Zen 3):
    // 64-column tiles keep a panel of the weights in L2.
    .sparse_widest = 1 << 30,
    // Zen 4, MNIST, batch 100: H = 30 0.049 s an epoch scattered against 0.058 by column (2 threads
    // 0.041 against 0.058); H = 64 0.080 against 0.082 on 1 thread, slower on 2 (0.082 against 0.060).
    .scatter_widest = 32,
};

}  // namespace backprop
