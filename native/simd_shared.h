// Helpers shared by the SIMD kernel files. Everything here has internal linkage: each ISA file gets
// its own copy compiled with its own flags, so the linker can never hand an AVX-512 copy to a CPU
// that runs the AVX2 kernels.
#pragma once

#include <cstddef>

// The loops over a tile's rows and vectors must be unrolled completely: only then are the
// accumulators indexed by constants and kept in registers (otherwise GCC keeps the array on the
// stack and stores it back on every step of k).
#define UNROLL_TILE _Pragma("GCC unroll 8")

namespace backprop {
namespace {

// b[0:K, 0:width] → pack, rows `panel` floats apart (the columns past width are never read).
inline void pack_panel(float* pack, int panel, const float* b, int ldb, int K, int width) {
  for (int k = 0; k < K; k++)
    for (int j = 0; j < width; j++)
      pack[static_cast<std::ptrdiff_t>(k) * panel + j] = b[static_cast<std::ptrdiff_t>(k) * ldb + j];
}

}  // namespace
}  // namespace backprop
