// The parts of a SIMD GEMM that do not depend on the ISA: the walk over column panels and row
// tiles, the packing, and picking the tile for the edges. Each ISA file supplies its register tile
// in a traits struct and instantiates gemm_driver<Traits>. Everything here has internal linkage:
// each ISA file gets its own copy compiled with its own flags, so the linker can never hand an
// AVX-512 copy to a CPU that runs the AVX2 kernels.
//
// A traits struct provides:
//   kLanes, kMaxVectors    floats per vector, vectors per widest tile
//   tile_rows(vectors)     rows of the tile that is `vectors` wide
//   Tail, tail(lanes)      the mask (or lane count) of a partial last vector
//   tile<MR, NV>(out, a, a_row, a_col, b, ldb, K, tail, ep, bias, mask, ldc)
//                          c rows out[0..MR) (NV vectors each) = epilogue(a[0:MR, 0:K] · b[0:K, 0:NV])
#pragma once

#include <cstddef>
#include <utility>

#include "kernels.h"

// The loops over a tile's rows and vectors must be unrolled completely: only then are the
// accumulators indexed by constants and kept in registers (otherwise GCC keeps the array on the
// stack and stores it back on every step of k).
#define UNROLL_TILE _Pragma("GCC unroll 16")

namespace backprop {
namespace {

// b[rows, 0:width] → pack, rows `panel` floats apart; rows are 0..K-1, or b_rows[0..K) when given.
inline void pack_panel(float* pack, int panel, const float* b, int ldb, const int* b_rows, int K, int width) {
  for (int k = 0; k < K; k++) {
    const float* row = b + static_cast<std::ptrdiff_t>(b_rows ? b_rows[k] : k) * ldb;
    for (int j = 0; j < width; j++) pack[static_cast<std::ptrdiff_t>(k) * panel + j] = row[j];
  }
}

// The tile for the last `rows` rows of a panel: the one of tile<1..R, NV> that fits.
template <typename Isa, int NV, int... R>
void edge_tile(std::integer_sequence<int, R...>, int rows, float* const* out, const float* a, int a_row, int a_col,
               const float* b, int ldb, int K, typename Isa::Tail tail, const EpilogueArgs& ep, const float* bias,
               const float* mask, int ldc) {
  ((rows == R + 1 ? Isa::template tile<R + 1, NV>(out, a, a_row, a_col, b, ldb, K, tail, ep, bias, mask, ldc) : void()),
   ...);
}

// All rows of one column panel (NV vectors wide, starting at column n0): full tiles, then one shorter.
template <typename Isa, int NV>
void gemm_panel(const Gemm& g, int n0, const float* b_panel, int ld_panel, typename Isa::Tail tail) {
  constexpr int kRows = Isa::tile_rows(NV);
  const float* bias = g.ep.bias ? g.ep.bias + n0 : nullptr;
  const float* mask = g.ep.mask ? g.ep.mask + n0 : nullptr;
  float* out[kRows];
  for (int m0 = 0; m0 < g.M; m0 += kRows) {
    const int rows = g.M - m0 < kRows ? g.M - m0 : kRows;
    for (int i = 0; i < rows; i++) out[i] = g.c + static_cast<std::ptrdiff_t>(g.c_rows ? g.c_rows[m0 + i] : m0 + i) * g.ldc + n0;
    const float* a_tile = g.a + static_cast<std::ptrdiff_t>(m0) * g.a_row;
    const float* mask_tile = mask ? mask + static_cast<std::ptrdiff_t>(m0) * g.ldc : nullptr;
    if (rows == kRows) {
      Isa::template tile<kRows, NV>(out, a_tile, g.a_row, g.a_col, b_panel, ld_panel, g.K, tail, g.ep, bias, mask_tile, g.ldc);
    } else {
      edge_tile<Isa, NV>(std::make_integer_sequence<int, kRows - 1>(), rows, out, a_tile, g.a_row, g.a_col, b_panel,
                         ld_panel, g.K, tail, g.ep, bias, mask_tile, g.ldc);
    }
  }
}

template <typename Isa, int... V>
void panel_of_width(std::integer_sequence<int, V...>, int vectors, const Gemm& g, int n0, const float* b_panel,
                    int ld_panel, typename Isa::Tail tail) {
  ((vectors == V + 1 ? gemm_panel<Isa, V + 1>(g, n0, b_panel, ld_panel, tail) : void()), ...);
}

template <typename Isa>
void gemm_driver(const Gemm& g, float* pack) {
  constexpr int kPanel = Isa::kMaxVectors * Isa::kLanes;
  static_assert(kPanel <= kPackColumns, "a packed panel must fit the caller's buffer");
  for (int n0 = 0; n0 < g.N; n0 += kPanel) {
    const int width = g.N - n0 < kPanel ? g.N - n0 : kPanel;
    const int vectors = (width + Isa::kLanes - 1) / Isa::kLanes;
    const typename Isa::Tail tail = Isa::tail(width - (vectors - 1) * Isa::kLanes);
    const float* b_panel = g.b + n0;
    int ld_panel = g.ldb;
    // Gathered rows are always packed; otherwise packing pays when several row tiles read the panel
    // and its rows are far apart in b.
    if (g.b_rows || (pack && g.M > Isa::tile_rows(vectors) && g.ldb >= 2 * kPanel)) {
      pack_panel(pack, kPanel, g.b + n0, g.ldb, g.b_rows, g.K, width);
      b_panel = pack;
      ld_panel = kPanel;
    }
    panel_of_width<Isa>(std::make_integer_sequence<int, Isa::kMaxVectors>(), vectors, g, n0, b_panel, ld_panel, tail);
  }
}

}  // namespace
}  // namespace backprop
