// Helpers shared by the SIMD kernel files. Everything here has internal linkage: each ISA file gets
// its own copy compiled with its own flags, so the linker can never hand an AVX-512 copy to a CPU
// that runs the AVX2 kernels.
#pragma once

#include <cstddef>

// The loops over a tile's rows and vectors must be unrolled completely: only then are the
// accumulators indexed by constants and kept in registers (otherwise GCC keeps the array on the
// stack and stores it back on every step of k).
#define UNROLL_TILE _Pragma("GCC unroll 16")

namespace backprop {
namespace {

// b[0:K, 0:width] → pack, rows `panel` floats apart (the columns past width are never read).
inline void pack_panel(float* pack, int panel, const float* b, int ldb, int K, int width) {
  for (int k = 0; k < K; k++)
    for (int j = 0; j < width; j++)
      pack[static_cast<std::ptrdiff_t>(k) * panel + j] = b[static_cast<std::ptrdiff_t>(k) * ldb + j];
}

// True when a(0:rows, 0:K) of a transposed operand (rows contiguous, a_col apart) is all zero. The
// weight gradient of an MNIST input layer has many such tiles (pixels that are blank in every image
// of the batch); their update c += alpha · 0 leaves c as it is, so it can be skipped.
inline bool transposed_tile_is_zero(const float* a, int a_col, int rows, int K) {
  for (int k = 0; k < K; k++) {
    const float* column = a + static_cast<std::ptrdiff_t>(k) * a_col;
    for (int m = 0; m < rows; m++)
      if (column[m] != 0.0f) return false;
  }
  return true;
}

}  // namespace
}  // namespace backprop
