// Inverted dropout's masks, as src/backends/dropout.ts draws them: a unit's fate is a hash of (the
// run's seed, the step, the layer, the row in the batch, the unit), so any thread can draw any row
// and a resumed run draws the masks it would have drawn. The two files compute the same bits.
#pragma once

#include <cmath>
#include <cstdint>

namespace backprop {

// Which masks a batch gets: the run's seed, and the optimizer steps taken before this batch.
struct DropoutMask {
  std::uint32_t seed;
  double step;
};

// murmur3's 32-bit finaliser.
inline std::uint32_t mix32(std::uint32_t x) {
  x = (x ^ (x >> 16)) * 0x85ebca6bu;
  x = (x ^ (x >> 13)) * 0xc2b2ae35u;
  return x ^ (x >> 16);
}

inline std::uint32_t row_key(const DropoutMask& mask, int layer, int row) {
  const double high = std::floor(mask.step / 4294967296.0);
  const std::uint32_t step_low = static_cast<std::uint32_t>(mask.step - high * 4294967296.0);
  const std::uint32_t step_high = static_cast<std::uint32_t>(high);
  std::uint32_t key = mix32(mask.seed ^ (static_cast<std::uint32_t>(layer + 1) * 0x9e3779b9u));
  key = mix32(key ^ step_low);
  key = mix32(key ^ step_high);
  return mix32(key ^ static_cast<std::uint32_t>(row));
}

// Rows begin … end − 1 of a layer's output acts (rows × width): keep gets each unit's factor, 0 where
// dropped and 1/(1 − p) elsewhere, dropped gets acts · keep. A unit is dropped when the top 24 bits
// of its hash fall below p·2^24.
inline void apply_dropout(const float* acts, float* dropped, float* keep, int begin, int end, int width, double p,
                          const DropoutMask& mask, int layer) {
  const std::uint32_t threshold = static_cast<std::uint32_t>(std::floor(p * 16777216.0 + 0.5));
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  for (int r = begin; r < end; r++) {
    const std::uint32_t key = row_key(mask, layer, r);
    const std::size_t row = static_cast<std::size_t>(r) * width;
    for (int j = 0; j < width; j++) {
      const float factor = (mix32(key + static_cast<std::uint32_t>(j)) >> 8) >= threshold ? scale : 0.0f;
      keep[row + j] = factor;
      dropped[row + j] = acts[row + j] * factor;
    }
  }
}

}  // namespace backprop
