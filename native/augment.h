// Augmentation's pixel work: images warped by transforms that TypeScript drew (src/train/augmentation.ts),
// in the operations and order of src/data/warp.ts, so that both give the same bytes.
#pragma once

#include <cstdint>

#include "network.h"

namespace backprop {

// Numbers per image of a transform (src/data/warp.ts's PARAMS_PER_IMAGE).
constexpr int kParamsPerImage = 6;
// The widest and tallest image warped (a binding refuses larger ones).
constexpr int kMaxWarpCols = 1 << 12;

// `count` images of rows × cols bytes into out, image i by params[i·6 …]: (cos, sin)/scale, the
// shift (dy, dx), its field of `bank` (2 fields of rows × cols displacements each; −1 for none).
void warp_images(const Context& ctx, const std::uint8_t* images, int count, int rows, int cols, const double* params,
                 const float* bank, std::uint8_t* out);

}  // namespace backprop
