// The noise layers, as src/backends/noise.ts draws them: while training, each unit of a layer's
// output times a random factor drawn for it (the backward pass multiplies the error signal by the
// same factors). A unit's draw is a hash of (the run's seed, the step, the layer, the row in the
// batch, the unit), so any thread can draw any row and a resumed run draws what it would have
// drawn. The two files compute the same bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "glibc_floor.h"
#include "kernels.h"

namespace backprop {

enum class NoiseKind { BACKPROP_NOISE(BACKPROP_ENUMERATOR) };

// A layer's noise; a rate of 0 is none.
struct Noise {
  NoiseKind kind;
  double rate;
};

// Which draws a batch gets: the run's seed, and the optimizer steps taken before this batch.
struct NoiseMask {
  std::uint32_t seed;
  double step;
};

// murmur3's 32-bit finaliser.
inline std::uint32_t mix32(std::uint32_t x) {
  x = (x ^ (x >> 16)) * 0x85ebca6bu;
  x = (x ^ (x >> 13)) * 0xc2b2ae35u;
  return x ^ (x >> 16);
}

inline std::uint32_t row_key(const NoiseMask& mask, int layer, int row) {
  const double high = std::floor(mask.step / 4294967296.0);
  const std::uint32_t step_low = static_cast<std::uint32_t>(mask.step - high * 4294967296.0);
  const std::uint32_t step_high = static_cast<std::uint32_t>(high);
  std::uint32_t key = mix32(mask.seed ^ (static_cast<std::uint32_t>(layer + 1) * 0x9e3779b9u));
  key = mix32(key ^ step_low);
  key = mix32(key ^ step_high);
  return mix32(key ^ static_cast<std::uint32_t>(row));
}

// Inverted dropout: a unit is dropped (factor 0) when the top 24 bits of its hash fall below p·2^24,
// the others are scaled by 1/(1 − p).
struct DropoutDraw {
  explicit DropoutDraw(double p)
      : threshold(static_cast<std::uint32_t>(std::floor(p * 16777216.0 + 0.5))),
        scale(static_cast<float>(1.0 / (1.0 - p))) {}
  float operator()(std::uint32_t key, int j) const {
    return (mix32(key + static_cast<std::uint32_t>(j)) >> 8) >= threshold ? scale : 0.0f;
  }
  std::uint32_t threshold;
  float scale;
};

// Gaussian dropout: a factor from N(1, p/(1 − p)), by Box–Muller from two 24-bit uniforms, computed
// in double and rounded to float once.
struct GaussianDropoutDraw {
  explicit GaussianDropoutDraw(double p) : deviation(std::sqrt(p / (1.0 - p))) {}
  float operator()(std::uint32_t key, int j) const {
    const std::uint32_t first = mix32(key + static_cast<std::uint32_t>(j));
    const double u1 = (static_cast<double>(first >> 8) + 1.0) / 16777216.0;
    const double u2 = static_cast<double>(mix32(first) >> 8) / 16777216.0;
    return static_cast<float>(1.0 + deviation * (std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2)));
  }
  static constexpr double kPi = 3.141592653589793;
  double deviation;
};

// Rows begin … end − 1 of a layer's output acts (rows × width): factor gets each unit's factor,
// noisy gets acts · factor.
template <typename Draw>
void apply_draw(const Draw& draw, const float* acts, float* noisy, float* factor, int begin, int end, int width,
                const NoiseMask& mask, int layer) {
  for (int r = begin; r < end; r++) {
    const std::uint32_t key = row_key(mask, layer, r);
    const std::size_t row = static_cast<std::size_t>(r) * width;
    for (int j = 0; j < width; j++) {
      const float f = draw(key, j);
      factor[row + j] = f;
      noisy[row + j] = acts[row + j] * f;
    }
  }
}

inline void apply_noise(const Noise& noise, const float* acts, float* noisy, float* factor, int begin, int end,
                        int width, const NoiseMask& mask, int layer) {
  switch (noise.kind) {
    case NoiseKind::Dropout:
      return apply_draw(DropoutDraw(noise.rate), acts, noisy, factor, begin, end, width, mask, layer);
    case NoiseKind::GaussianDropout:
      return apply_draw(GaussianDropoutDraw(noise.rate), acts, noisy, factor, begin, end, width, mask, layer);
  }
}

}  // namespace backprop
