#include "augment.h"

#include <algorithm>
#include <vector>

namespace backprop {
namespace {

// The images are read through a copy with a border of zeros this wide, so that a tap needs no
// bounds check: a coordinate farther out is clamped into the border, where every tap reads zero,
// as the taps outside the image read zero in src/data/warp.ts.
constexpr int kBorder = 2;

// floor(x) for a finite x: the engine is built for the baseline ISA, where std::floor is a call.
long floor_of(double x) {
  const long truncated = static_cast<long>(x);
  return x < static_cast<double>(truncated) ? truncated - 1 : truncated;
}

long clamp(long v, long low, long high) { return v < low ? low : v > high ? high : v; }

// One image, as src/data/warp.ts's warpImages computes it, operation for operation. `padded`
// holds (rows + 2·kBorder) × (cols + 2·kBorder) values.
void warp_image(const std::uint8_t* image, int rows, int cols, const double* p, const float* bank, double* padded,
                std::uint8_t* out) {
  const std::size_t size = static_cast<std::size_t>(rows) * cols;
  const int width = cols + 2 * kBorder;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) padded[(r + kBorder) * width + c + kBorder] = image[r * cols + c];
  const double cy = (rows - 1) / 2.0;
  const double cx = (cols - 1) / 2.0;
  const double a = p[0], b = p[1], dy = p[2], dx = p[3];
  const long field = static_cast<long>(p[4]);
  const float* field_y = field >= 0 ? bank + 2 * field * size : nullptr;
  const float* field_x = field >= 0 ? bank + (2 * field + 1) * size : nullptr;
  // The products of a row's and a column's offsets, each computed once: the same operations on the
  // same values as per pixel, so the same bits.
  double a_ox[kMaxWarpCols], b_ox[kMaxWarpCols];
  for (int c = 0; c < cols; c++) {
    const double ox = c - cx - dx;
    a_ox[c] = a * ox;
    b_ox[c] = b * ox;
  }
  for (int r = 0; r < rows; r++) {
    const double oy = r - cy - dy;
    const double a_oy = a * oy;
    const double b_oy = b * oy;
    for (int c = 0; c < cols; c++) {
      double sy = a_oy - b_ox[c] + cy;
      double sx = b_oy + a_ox[c] + cx;
      if (field_y) {
        sy += field_y[r * cols + c];
        sx += field_x[r * cols + c];
      }
      const long y0 = floor_of(sy);
      const long x0 = floor_of(sx);
      const double fy = sy - static_cast<double>(y0);
      const double fx = sx - static_cast<double>(x0);
      const long y = clamp(y0, -kBorder, rows + kBorder - 2) + kBorder;
      const long x = clamp(x0, -kBorder, cols + kBorder - 2) + kBorder;
      const double* at = padded + y * width + x;
      const double top = at[0] * (1 - fx) + at[1] * fx;
      const double bottom = at[width] * (1 - fx) + at[width + 1] * fx;
      // Not negative: truncation is the floor.
      out[r * cols + c] = static_cast<std::uint8_t>(top * (1 - fy) + bottom * fy + 0.5);
    }
  }
}

}  // namespace

void warp_images(const Context& ctx, const std::uint8_t* images, int count, int rows, int cols, const double* params,
                 const float* bank, std::uint8_t* out) {
  const std::size_t size = static_cast<std::size_t>(rows) * cols;
  // Each image is one thread's, so the bytes do not depend on the thread count.
  constexpr int kImagesPerChunk = 256;
  const int chunks = (count + kImagesPerChunk - 1) / kImagesPerChunk;
  const std::size_t padded_size = static_cast<std::size_t>(rows + 2 * kBorder) * (cols + 2 * kBorder);
  ctx.pool->run(chunks, [&](int chunk, int) {
    std::vector<double> padded(padded_size, 0.0);
    const int end = std::min(count, (chunk + 1) * kImagesPerChunk);
    for (int i = chunk * kImagesPerChunk; i < end; i++)
      warp_image(images + i * size, rows, cols, params + static_cast<std::size_t>(i) * kParamsPerImage, bank,
                 padded.data(), out + i * size);
  });
}

}  // namespace backprop
