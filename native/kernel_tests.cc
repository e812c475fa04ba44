// Checks every kernel variant this CPU can run against the scalar reference, for every epilogue,
// both layouts of a, dense and sparse a, over every size from 1 to 70 in each dimension (so that every tail of every
// tile shape is hit) and a few layer-sized shapes. Exits non-zero on the first mismatch.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cpu_features.h"

using namespace backprop;

namespace {

struct Shape {
  int M, N, K;
};

int failures = 0;

// Scalar and SIMD round differently (separate multiply and add against FMA), so each element is
// compared against a bound on its rounding error: a few ulps of the sum of absolute products.
// With `sparse`, most of a is zero and whole rows of it are, like MNIST pixels that are blank in
// every image of a batch (the kernels skip such tiles of a weight gradient).
bool check(const Kernels& kernels, Shape s, Epilogue kind, bool transposed_a, bool sparse, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const int a_row = transposed_a ? 1 : s.K;
  const int a_col = transposed_a ? s.M : 1;
  std::vector<float> a(static_cast<std::size_t>(s.M) * s.K), b(static_cast<std::size_t>(s.K) * s.N);
  std::vector<float> bias(s.N), mask(static_cast<std::size_t>(s.M) * s.N), c0(mask.size());
  for (float& v : a) v = sparse && uniform(rng) < 0.8f ? 0.0f : normal(rng);
  if (sparse)
    for (int m = 0; m < s.M; m++)
      if (m % 16 < 13)
        for (int k = 0; k < s.K; k++) a[m * a_row + k * a_col] = 0.0f;
  for (float& v : b) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  for (float& v : mask) v = normal(rng);
  for (float& v : c0) v = normal(rng);
  const EpilogueArgs ep = {kind, bias.data(), mask.data(), -0.25f};
  std::vector<float> expected = c0, actual = c0, packed = c0;
  std::vector<float> pack(static_cast<std::size_t>(s.K) * kPackColumns);
  kernels_scalar.gemm(expected.data(), s.N, a.data(), a_row, a_col, b.data(), s.N, s.M, s.N, s.K, ep, nullptr);
  kernels.gemm(actual.data(), s.N, a.data(), a_row, a_col, b.data(), s.N, s.M, s.N, s.K, ep, nullptr);
  kernels.gemm(packed.data(), s.N, a.data(), a_row, a_col, b.data(), s.N, s.M, s.N, s.K, ep, pack.data());
  if (packed != actual) {
    std::printf("FAIL %s gemm M=%d N=%d K=%d: packing b changed the result\n", kernels.isa, s.M, s.N, s.K);
    failures++;
    return false;
  }
  for (int m = 0; m < s.M; m++) {
    for (int n = 0; n < s.N; n++) {
      double magnitude = std::fabs(c0[m * s.N + n]) + std::fabs(bias[n]);
      for (int k = 0; k < s.K; k++) magnitude += std::fabs(a[m * a_row + k * a_col] * b[k * s.N + n]);
      const float e = expected[m * s.N + n];
      const float g = actual[m * s.N + n];
      if (std::fabs(e - g) > 4e-7 * (s.K + 2) * magnitude) {
        std::printf("FAIL %s gemm M=%d N=%d K=%d epilogue=%d a%s%s: c[%d,%d] = %.9g, scalar %.9g\n", kernels.isa, s.M,
                    s.N, s.K, static_cast<int>(kind), transposed_a ? "ᵀ" : "", sparse ? " sparse" : "", m, n, g, e);
        failures++;
        return false;
      }
    }
  }
  return true;
}

}  // namespace

int main() {
  std::vector<Shape> shapes;
  for (int i = 1; i <= 70; i++) {
    shapes.push_back({i, 37, 19});
    shapes.push_back({13, i, 11});
    shapes.push_back({7, 23, i});
  }
  shapes.push_back({100, 30, 784});
  shapes.push_back({784, 30, 100});
  shapes.push_back({100, 10, 30});
  shapes.push_back({64, 257, 129});
  const Epilogue kinds[] = {Epilogue::Bias, Epilogue::BiasRelu, Epilogue::ReluMask, Epilogue::Accumulate};
  int tested = 0, passed = 0;
  for (const IsaEntry& entry : compiled_isas()) {
    if (entry.kernels == &kernels_scalar) continue;
    if (!(supported_isas() & entry.bit)) {
      std::printf("skip %s: not supported by this CPU\n", entry.kernels->isa);
      continue;
    }
    std::mt19937 rng(42);
    int cases = 0;
    for (const Shape& shape : shapes)
      for (Epilogue kind : kinds)
        for (bool transposed : {false, true})
          for (bool sparse : {false, true}) {
            cases++;
            tested++;
            if (check(*entry.kernels, shape, kind, transposed, sparse, rng)) passed++;
          }
    std::printf("%s: %d cases against scalar\n", entry.kernels->isa, cases);
  }
  std::printf("%d passed, %d failed\n", passed, tested - passed);
  return failures == 0 ? 0 : 1;
}
