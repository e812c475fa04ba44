// The parts of the SIMD kernels that do not depend on the ISA: the register tiles (dense and
// sparse) with their epilogue, the walk over column panels and row tiles, the packing, picking the
// tile for the edges, and the FMA peak. Each ISA file supplies its vector operations in a traits
// struct and instantiates gemm_driver<Isa>, sparse_gemm_driver<Isa>, sparse_scatter<Isa> and fma_peak<Isa>. Everything
// here has internal linkage: each ISA file gets its own copy compiled with its own flags, so the
// linker can never hand an AVX-512 copy to a CPU that runs the AVX2 kernels.
//
// A traits struct provides:
//   kLanes, kMaxVectors    floats per vector, vectors per widest tile
//   kSparseVectors         vectors per widest sparse tile (its rows are fewer: sparse_tile_rows)
//   tile_rows(vectors)     rows of the tile that is `vectors` wide
//   Vec, Lanes             a vector of floats, and which of its lanes a load or store touches
//   full(), tail(lanes)    every lane, or the first `lanes` (the partial last vector of a row)
//   load(p, lanes), store(p, lanes, v)     the lanes outside `lanes` read as zero, are not written
//   load_full(p), store_full(p, v)         every lane
//   zero(), set1(x), broadcast(p)          vectors of 0, of x, of *p
//   fmadd(a, b, c), add(a, b)              a·b + c rounded once, a + b
//   positive(z)            z > 0 ? z : 0 lane by lane (NaN and −0 give +0, as the scalar reference)
//   where_positive(g, v)   g > 0 ? v : 0 lane by lane
//   load_bytes(p, lanes)   the bytes p[0..lanes) as floats (0 … 255), the other lanes zero
//   nonzero(v)             a bit per lane: v ≠ 0 (NaN counts as non-zero, −0 does not)
//   nonzero_bytes(p)       a bit per byte of p[0..32): p[i] ≠ 0
//   compress_store(values, columns, v, k, lanes)   the lanes of v whose bit is set in `lanes` side by
//                          side into values, their indices k + lane into columns; returns how many
//                          (both lists may be written a whole vector past them)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels.h"

// The loops over a tile's rows and vectors must be unrolled completely: only then are the
// accumulators indexed by constants and kept in registers (otherwise GCC keeps the array on the
// stack and stores it back on every step of k).
#define UNROLL_TILE _Pragma("GCC unroll 16")

namespace backprop {
namespace {

// Inlined into its caller, so that the accumulators handed over stay in registers.
#define TILE_INLINE inline __attribute__((always_inline))

// Which lanes of a panel's NV vectors a load or store touches: every lane but in the last vector,
// whose lanes are `tail` (whole vectors are loaded and stored without a mask, which AVX2 would
// otherwise apply to every vector, at the cost of a slower load that cannot join an FMA).
template <typename Isa, int NV>
struct PanelLanes {
  typename Isa::Lanes tail;
  TILE_INLINE typename Isa::Vec load(const float* p, int v) const {
    return v == NV - 1 ? Isa::load(p, tail) : Isa::load_full(p);
  }
  TILE_INLINE void store(float* p, int v, typename Isa::Vec x) const {
    if (v == NV - 1) {
      Isa::store(p, tail, x);
    } else {
      Isa::store_full(p, x);
    }
  }
};

// Stores out[m][0:NV·kLanes] = epilogue(acc[m]) for the MR rows of a tile at column n0 of c (its bias
// from ep.bias[n0], its mask rows ldc apart).
template <typename Isa, int MR, int NV>
TILE_INLINE void store_tile(float* const* out, const typename Isa::Vec (&acc)[MR][NV], const PanelLanes<Isa, NV>& lanes,
                            const EpilogueArgs& ep, int n0, const float* mask, int ldc) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  // The epilogue is chosen once per tile, outside the unrolled loops.
  switch (ep.kind) {
    case Epilogue::Bias:
    case Epilogue::BiasRelu: {
      const bool relu = ep.kind == Epilogue::BiasRelu;
      const float* bias = ep.bias + n0;
      Vec bias_vec[NV];
      UNROLL_TILE
      for (int v = 0; v < NV; v++) bias_vec[v] = lanes.load(bias + v * kLanes, v);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          const Vec z = Isa::add(acc[m][v], bias_vec[v]);
          lanes.store(out[m] + v * kLanes, v, relu ? Isa::positive(z) : z);
        }
      }
      break;
    }
    case Epilogue::ReluMask:
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          const Vec act = lanes.load(mask + static_cast<std::ptrdiff_t>(m) * ldc + v * kLanes, v);
          lanes.store(out[m] + v * kLanes, v, Isa::where_positive(act, acc[m][v]));
        }
      }
      break;
    case Epilogue::Accumulate: {
      const Vec alpha = Isa::set1(ep.alpha);
      UNROLL_TILE
      for (int m = 0; m < MR; m++) {
        UNROLL_TILE
        for (int v = 0; v < NV; v++) {
          float* c = out[m] + v * kLanes;
          lanes.store(c, v, Isa::fmadd(alpha, acc[m][v], lanes.load(c, v)));
        }
      }
      break;
    }
  }
}

// c rows out[0..MR), NV vectors each = epilogue(a[0:MR, 0:K] · b[0:K, 0:NV·kLanes]). Only the last
// vector's lanes can be partial, so the same loop serves the edge.
template <typename Isa, int MR, int NV>
void tile(float* const* out, const float* a, int a_row, int a_col, const float* b, int ldb, int K,
          typename Isa::Lanes tail, const EpilogueArgs& ep, int n0, const float* mask, int ldc) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  const PanelLanes<Isa, NV> lanes{tail};
  Vec acc[MR][NV];
  UNROLL_TILE
  for (int m = 0; m < MR; m++) UNROLL_TILE
  for (int v = 0; v < NV; v++) acc[m][v] = Isa::zero();

  for (int k = 0; k < K; k++) {
    const float* b_row = b + static_cast<std::ptrdiff_t>(k) * ldb;
    const float* a_k = a + static_cast<std::ptrdiff_t>(k) * a_col;
    Vec b_vec[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) b_vec[v] = lanes.load(b_row + v * kLanes, v);
    UNROLL_TILE
    for (int m = 0; m < MR; m++) {
      const Vec a_bcast = Isa::broadcast(a_k + static_cast<std::ptrdiff_t>(m) * a_row);
      UNROLL_TILE
      for (int v = 0; v < NV; v++) acc[m][v] = Isa::fmadd(a_bcast, b_vec[v], acc[m][v]);
    }
  }
  store_tile<Isa, MR, NV>(out, acc, lanes, ep, n0, mask, ldc);
}

// b[rows, 0:width] → pack, rows `panel` floats apart; rows are 0..K-1, or b_rows[0..K) when given.
inline void pack_panel(float* pack, int panel, const float* b, int ldb, const int* b_rows, int K, int width) {
  for (int k = 0; k < K; k++) {
    const float* row = b + static_cast<std::ptrdiff_t>(b_rows ? b_rows[k] : k) * ldb;
    for (int j = 0; j < width; j++) pack[static_cast<std::ptrdiff_t>(k) * panel + j] = row[j];
  }
}

template <int... I, typename F>
TILE_INLINE void with_count_of(std::integer_sequence<int, I...>, int count, F& f) {
  ((count == I + 1 ? f(std::integral_constant<int, I + 1>()) : void()), ...);
}

// f(std::integral_constant<int, n>()) for the n in 1 … Max that equals `count`: a count known only
// at run time (a panel's vectors, an edge's rows) picks the instantiation unrolled for it.
template <int Max, typename F>
TILE_INLINE void with_count(int count, F&& f) {
  with_count_of(std::make_integer_sequence<int, Max>(), count, f);
}

// f(n0, width, vectors, tail) for each column panel of an N-wide c: Vectors vectors wide, the
// last one narrower, its last vector's lanes `tail`.
template <typename Isa, int Vectors, typename F>
TILE_INLINE void for_each_panel(int N, F&& f) {
  constexpr int kPanel = Vectors * Isa::kLanes;
  for (int n0 = 0; n0 < N; n0 += kPanel) {
    const int width = N - n0 < kPanel ? N - n0 : kPanel;
    const int vectors = (width + Isa::kLanes - 1) / Isa::kLanes;
    f(n0, width, vectors, Isa::tail(width - (vectors - 1) * Isa::kLanes));
  }
}

// All rows of one column panel (NV vectors wide, starting at column n0): full tiles, then one shorter.
template <typename Isa, int NV>
void gemm_panel(const Gemm& g, int n0, const float* b_panel, int ld_panel, typename Isa::Lanes tail) {
  constexpr int kRows = Isa::tile_rows(NV);
  const float* mask = g.ep.mask ? g.ep.mask + n0 : nullptr;
  float* out[kRows];
  for (int m0 = 0; m0 < g.M; m0 += kRows) {
    const int rows = g.M - m0 < kRows ? g.M - m0 : kRows;
    for (int i = 0; i < rows; i++)
      out[i] = g.c + static_cast<std::ptrdiff_t>(g.c_rows ? g.c_rows[m0 + i] : m0 + i) * g.ldc + n0;
    const float* a_tile = g.a + static_cast<std::ptrdiff_t>(m0) * g.a_row;
    const float* mask_tile = mask ? mask + static_cast<std::ptrdiff_t>(m0) * g.ldc : nullptr;
    if (rows == kRows) {
      tile<Isa, kRows, NV>(out, a_tile, g.a_row, g.a_col, b_panel, ld_panel, g.K, tail, g.ep, n0, mask_tile, g.ldc);
    } else {
      with_count<kRows - 1>(rows, [&](auto edge) {
        tile<Isa, decltype(edge)::value, NV>(out, a_tile, g.a_row, g.a_col, b_panel, ld_panel, g.K, tail, g.ep, n0,
                                             mask_tile, g.ldc);
      });
    }
  }
}

template <typename Isa>
void gemm_driver(const Gemm& g, float* pack) {
  constexpr int kPanel = Isa::kMaxVectors * Isa::kLanes;
  static_assert(kPanel <= kPackColumns, "a packed panel must fit the caller's buffer");
  for_each_panel<Isa, Isa::kMaxVectors>(g.N, [&](int n0, int width, int vectors, typename Isa::Lanes tail) {
    const float* b_panel = g.b + n0;
    int ld_panel = g.ldb;
    // Gathered rows are always packed; otherwise packing pays when several row tiles read the panel
    // and its rows are far apart in b.
    if (g.b_rows || (pack && g.M > Isa::tile_rows(vectors) && g.ldb >= 2 * kPanel)) {
      pack_panel(pack, kPanel, g.b + n0, g.ldb, g.b_rows, g.K, width);
      b_panel = pack;
      ld_panel = kPanel;
    }
    with_count<Isa::kMaxVectors>(
        vectors, [&](auto nv) { gemm_panel<Isa, decltype(nv)::value>(g, n0, b_panel, ld_panel, tail); });
  });
}

// R rows of a sparse a, NV vectors of c each, from a panel of b (rows ld floats apart; when Packed,
// the lanes past its width are zero, so every load is whole): their sums run in step for as many
// entries as the shortest row has (R independent chains hide the FMA latency), then each row
// finishes alone.
template <typename Isa, int R, int NV, bool Packed>
void sparse_tile(const SparseGemm& g, const int* rows, const float* panel, int ld, int n0, typename Isa::Lanes tail) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  const PanelLanes<Isa, NV> lanes{tail};
  Vec acc[R][NV];
  int begin[R];
  int end[R];
  int common = g.row_start[rows[0] + 1] - g.row_start[rows[0]];
  UNROLL_TILE
  for (int r = 0; r < R; r++) {
    begin[r] = g.row_start[rows[r]];
    end[r] = g.row_start[rows[r] + 1];
    if (end[r] - begin[r] < common) common = end[r] - begin[r];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) acc[r][v] = Isa::zero();
  }
  for (int j = 0; j < common; j++) {
    UNROLL_TILE
    for (int r = 0; r < R; r++) {
      const int i = begin[r] + j;
      const Vec a = Isa::broadcast(g.values + i);
      const float* b_row = panel + static_cast<std::ptrdiff_t>(g.columns[i]) * ld;
      UNROLL_TILE
      for (int v = 0; v < NV; v++)
        acc[r][v] =
            Isa::fmadd(a, Packed ? Isa::load_full(b_row + v * kLanes) : lanes.load(b_row + v * kLanes, v), acc[r][v]);
    }
  }
  UNROLL_TILE
  for (int r = 0; r < R; r++) {
    for (int i = begin[r] + common; i < end[r]; i++) {
      const Vec a = Isa::broadcast(g.values + i);
      const float* b_row = panel + static_cast<std::ptrdiff_t>(g.columns[i]) * ld;
      UNROLL_TILE
      for (int v = 0; v < NV; v++)
        acc[r][v] =
            Isa::fmadd(a, Packed ? Isa::load_full(b_row + v * kLanes) : lanes.load(b_row + v * kLanes, v), acc[r][v]);
    }
  }
  float* out[R];
  UNROLL_TILE
  for (int r = 0; r < R; r++) out[r] = g.c + static_cast<std::ptrdiff_t>(rows[r]) * g.ldc + n0;
  // (A sparse product has no ReluMask epilogue: its mask is never read.)
  store_tile<Isa, R, NV>(out, acc, lanes, g.ep, n0, g.ep.mask, g.ldc);
}

// Rows side by side per sparse tile: 4 to 8 chains of accumulators in all (enough to hide the FMA
// latency). A wider tile spends a row entry's index and broadcast on more columns.
constexpr int sparse_tile_rows(int vectors) { return vectors <= 2 ? 4 : vectors <= 4 ? 2 : 1; }

template <typename Isa, int NV, bool Packed>
void sparse_panel(const SparseGemm& g, const float* panel, int ld, int n0, typename Isa::Lanes tail) {
  constexpr int kRows = sparse_tile_rows(NV);
  int i = 0;
  for (; i + kRows <= g.count; i += kRows) sparse_tile<Isa, kRows, NV, Packed>(g, g.rows + i, panel, ld, n0, tail);
  if (i < g.count) {
    with_count<kRows - 1>(g.count - i, [&](auto edge) {
      sparse_tile<Isa, decltype(edge)::value, NV, Packed>(g, g.rows + i, panel, ld, n0, tail);
    });
  }
}

// Each column panel of b is first copied into `pack` (aligned to a cache line, its rows whole
// vectors) when the product has at least two entries per row of b: a gathered row of the panel then
// spans as few cache lines as it can, and the panel of a narrow layer is a smaller working set than
// b's rows (MNIST's 784 × 30 weights: 94 KB in b, of which the tiles read each row in 2 or 3 lines;
// 100 KB packed, each row in 2). With fewer entries (online learning's single sample), copying the
// panel would cost more than reading b where it lies.
template <typename Isa>
void sparse_gemm_driver(const SparseGemm& g, float* pack) {
  static_assert(Isa::kSparseVectors * Isa::kLanes <= kPackColumns, "a packed panel must fit the caller's buffer");
  float* aligned = line_aligned(pack);
  long long entries = 0;
  for (int i = 0; i < g.count; i++) entries += g.row_start[g.rows[i] + 1] - g.row_start[g.rows[i]];
  const bool packed = entries >= 2LL * g.K;
  for_each_panel<Isa, Isa::kSparseVectors>(g.N, [&](int n0, int, int vectors, typename Isa::Lanes tail) {
    if (!packed) {
      with_count<Isa::kSparseVectors>(
          vectors, [&](auto nv) { sparse_panel<Isa, decltype(nv)::value, false>(g, g.b + n0, g.ldb, n0, tail); });
      return;
    }
    const int ld = vectors * Isa::kLanes;
    for (int k = 0; k < g.K; k++) {
      const float* from = g.b + static_cast<std::ptrdiff_t>(k) * g.ldb + n0;
      float* to = aligned + static_cast<std::ptrdiff_t>(k) * ld;
      for (int v = 0; v < vectors - 1; v++)
        Isa::store_full(to + v * Isa::kLanes, Isa::load_full(from + v * Isa::kLanes));
      const int last = (vectors - 1) * Isa::kLanes;
      Isa::store_full(to + last, Isa::load(from + last, tail));
    }
    with_count<Isa::kSparseVectors>(
        vectors, [&](auto nv) { sparse_panel<Isa, decltype(nv)::value, true>(g, aligned, ld, n0, tail); });
  });
}

// Adds x · b[r] into the sums of row k for each entry (r, k, x) of a with k below k1 (those below
// the block's start were added before), for one panel of NV vectors at column n0 of b; b's row stays
// in registers for the row's entries, and each row's next entry is kept in s.cursors. (The fields
// are read into locals: every store to the sums might otherwise have changed them.)
template <typename Isa, int NV>
void scatter_panel(const SparseScatter& s, int k1, int n0, typename Isa::Lanes tail) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  const PanelLanes<Isa, NV> lanes{tail};
  const int* const columns = s.columns;
  const float* const values = s.values;
  const std::ptrdiff_t lds = s.lds;
  float* const sums = s.sums + n0;
  int* const cursors = s.cursors;
  for (int r = 0; r < s.rows; r++) {
    int e = cursors[r];
    const int end = s.row_start[r + 1];
    if (e == end || columns[e] >= k1) continue;
    const float* b_row = s.b + static_cast<std::ptrdiff_t>(r) * s.ldb + n0;
    Vec b_vec[NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) b_vec[v] = lanes.load(b_row + v * kLanes, v);
    for (; e < end && columns[e] < k1; e++) {
      const Vec a = Isa::broadcast(values + e);
      float* sum = sums + columns[e] * lds;
      UNROLL_TILE
      for (int v = 0; v < NV; v++)
        Isa::store_full(sum + v * kLanes, Isa::fmadd(a, b_vec[v], Isa::load_full(sum + v * kLanes)));
    }
    cursors[r] = e;
  }
}

// Rows k0 … k1 of one panel of the sums through the epilogue into c, and back to zero.
template <typename Isa, int NV>
void scatter_store_panel(const SparseScatter& s, int k0, int k1, int n0, typename Isa::Lanes tail) {
  using Vec = typename Isa::Vec;
  constexpr int kLanes = Isa::kLanes;
  const PanelLanes<Isa, NV> lanes{tail};
  for (int k = k0; k < k1; k++) {
    float* sum = s.sums + static_cast<std::ptrdiff_t>(k) * s.lds + n0;
    Vec acc[1][NV];
    UNROLL_TILE
    for (int v = 0; v < NV; v++) {
      acc[0][v] = Isa::load_full(sum + v * kLanes);
      Isa::store_full(sum + v * kLanes, Isa::zero());
    }
    float* out[1] = {s.c + static_cast<std::ptrdiff_t>(k) * s.ldc + n0};
    // (A weight gradient has no ReluMask epilogue: its mask is never read.)
    store_tile<Isa, 1, NV>(out, acc, lanes, s.ep, n0, s.ep.mask, s.ldc);
  }
}

// A block of the sums' rows (kScatterBlockFloats) takes every row of a's entries for it, then goes
// through the epilogue while it is still in the caches.
template <typename Isa>
void sparse_scatter(const SparseScatter& s) {
  constexpr int kVectors = Isa::kSparseVectors;
  const int block = kScatterBlockFloats / s.lds > 0 ? kScatterBlockFloats / s.lds : 1;
  for_each_panel<Isa, kVectors>(s.N, [&](int n0, int, int vectors, typename Isa::Lanes tail) {
    for (int r = 0; r < s.rows; r++) s.cursors[r] = s.row_start[r];
    for (int k0 = 0; k0 < s.K; k0 += block) {
      const int k1 = s.K - k0 < block ? s.K : k0 + block;
      with_count<kVectors>(vectors, [&](auto nv) {
        scatter_panel<Isa, decltype(nv)::value>(s, k1, n0, tail);
        scatter_store_panel<Isa, decltype(nv)::value>(s, k0, k1, n0, tail);
      });
    }
  });
}

// The correctly rounded b / 255 of a vector of byte values b, as widened() computes it (elementwise.h).
template <typename Isa>
TILE_INLINE typename Isa::Vec widen(typename Isa::Vec b) {
  const typename Isa::Vec inverse = Isa::set1(1.0f / 255.0f);
  const typename Isa::Vec q = Isa::fmadd(b, inverse, Isa::zero());
  return Isa::fmadd(Isa::fmadd(q, Isa::set1(-255.0f), b), inverse, q);
}

// The non-zero x[k] of x[0..n) and their indices (CompressFn), a vector at a time.
template <typename Isa>
int compress_nonzero(const float* x, int n, int* columns, float* values) {
  constexpr int kLanes = Isa::kLanes;
  int count = 0;
  for (int k = 0; k < n; k += kLanes) {
    const typename Isa::Vec v = n - k >= kLanes ? Isa::load_full(x + k) : Isa::load(x + k, Isa::tail(n - k));
    count += Isa::compress_store(values + count, columns + count, v, k, Isa::nonzero(v));
  }
  return count;
}

// The same for bytes (CompressBytesFn), widened on the way. Which bytes are non-zero is read from
// the bytes, 32 at a time, which also skips the blank blocks (half of an MNIST digit's are).
template <typename Isa>
int compress_bytes(const std::uint8_t* x, int n, int* columns, float* values) {
  constexpr int kLanes = Isa::kLanes;
  constexpr int kBlock = 32;
  static_assert(kBlock % kLanes == 0, "a block is whole vectors");
  int count = 0;
  int k = 0;
  for (; k + kBlock <= n; k += kBlock) {
    const std::uint32_t nonzero = Isa::nonzero_bytes(x + k);
    if (nonzero == 0) continue;
    UNROLL_TILE
    for (int j = 0; j < kBlock; j += kLanes) {
      const typename Isa::Vec v = widen<Isa>(Isa::load_bytes(x + k + j, kLanes));
      count += Isa::compress_store(values + count, columns + count, v, k + j, nonzero >> j);
    }
  }
  for (; k < n; k += kLanes) {
    const typename Isa::Vec v = widen<Isa>(Isa::load_bytes(x + k, n - k < kLanes ? n - k : kLanes));
    count += Isa::compress_store(values + count, columns + count, v, k, Isa::nonzero(v));
  }
  return count;
}

// kPeakChains independent chains of x ← x·0.999999 + 1e-7, enough to hide the FMA latency.
template <typename Isa>
float fma_peak(long long iterations, float seed) {
  using Vec = typename Isa::Vec;
  Vec chains[kPeakChains];
  UNROLL_TILE
  for (int i = 0; i < kPeakChains; i++) chains[i] = Isa::set1(seed + static_cast<float>(i));
  const Vec scale = Isa::set1(0.999999f);
  const Vec shift = Isa::set1(1e-7f);
  for (long long n = 0; n < iterations; n++) {
    UNROLL_TILE
    for (int i = 0; i < kPeakChains; i++) chains[i] = Isa::fmadd(chains[i], scale, shift);
  }
  Vec sum = chains[0];
  UNROLL_TILE
  for (int i = 1; i < kPeakChains; i++) sum = Isa::add(sum, chains[i]);
  // Summed through memory: GCC 12's horizontal-sum intrinsics read an undefined vector and warn.
  float lanes[Isa::kLanes];
  Isa::store(lanes, Isa::full(), sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace
}  // namespace backprop
