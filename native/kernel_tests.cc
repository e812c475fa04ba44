// Checks every kernel variant this CPU can run against the scalar reference, for every epilogue,
// both layouts of a, with and without gathered b rows and scattered c rows, over every size from 1
// to 70 in each dimension (so that every tail of every tile shape is hit) and a few layer-sized
// shapes. Exits non-zero on the first mismatch of each kind.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "cpu_features.h"
#include "engine.h"
#include "thread_pool.h"
#include "validate.h"

using namespace backprop;

namespace {

struct Shape {
  int M, N, K;
};

// One problem: a, b and c with room for gathered and scattered rows (b has 2K rows, c has 2M).
struct Problem {
  Shape s;
  bool transposed_a;
  bool indexed;
  std::vector<float> a, b, bias, mask, c0;
  std::vector<int> b_rows, c_rows;

  Gemm gemm(float* c, Epilogue kind) const {
    const EpilogueArgs ep = {kind, bias.data(), indexed ? nullptr : mask.data(), -0.25f};
    return {c,
            s.N,
            indexed ? c_rows.data() : nullptr,
            a.data(),
            transposed_a ? 1 : s.K,
            transposed_a ? s.M : 1,
            b.data(),
            s.N,
            indexed ? b_rows.data() : nullptr,
            s.M,
            s.N,
            s.K,
            ep};
  }
};

// Every other row, in order, from a random start: a gather that skips rows like blank pixels do.
std::vector<int> every_other_row(int count, std::mt19937& rng) {
  std::vector<int> rows(count);
  const int start = static_cast<int>(rng() % 2);
  for (int i = 0; i < count; i++) rows[i] = start + 2 * i;
  return rows;
}

Problem make_problem(Shape s, bool transposed_a, bool indexed, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p{s, transposed_a, indexed, {}, {}, {}, {}, {}, {}, {}};
  p.a.resize(static_cast<std::size_t>(s.M) * s.K);
  p.b.resize(static_cast<std::size_t>(2 * s.K) * s.N);
  p.bias.resize(s.N);
  p.mask.resize(static_cast<std::size_t>(2 * s.M) * s.N);
  p.c0.resize(p.mask.size());
  for (std::vector<float>* v : {&p.a, &p.b, &p.bias, &p.mask, &p.c0})
    for (float& x : *v) x = normal(rng);
  p.b_rows = every_other_row(s.K, rng);
  p.c_rows = every_other_row(s.M, rng);
  return p;
}

int failures = 0;

bool fail(const char* isa, const Problem& p, Epilogue kind, const char* what, int m, int n, float got, float want) {
  std::printf("FAIL %s gemm M=%d N=%d K=%d epilogue=%d a%s%s: %s c[%d,%d] = %.9g, expected %.9g\n", isa, p.s.M, p.s.N,
              p.s.K, static_cast<int>(kind), p.transposed_a ? "ᵀ" : "", p.indexed ? " indexed" : "", what, m, n, got,
              want);
  failures++;
  return false;
}

// Scalar and SIMD round alike (one rounding per multiply-add), but the bound allows a few ulps of
// the sum of absolute products, so a future kernel that reassociates is judged fairly.
bool check(const Kernels& kernels, const Problem& p, Epilogue kind) {
  std::vector<float> expected = p.c0, actual = p.c0, unpacked = p.c0;
  std::vector<float> pack(static_cast<std::size_t>(p.s.K) * kPackColumns);
  kernels_scalar.gemm(p.gemm(expected.data(), kind), nullptr);
  kernels.gemm(p.gemm(actual.data(), kind), pack.data());
  if (!p.indexed) kernels.gemm(p.gemm(unpacked.data(), kind), nullptr);
  const Gemm g = p.gemm(nullptr, kind);
  for (int row = 0; row < 2 * p.s.M; row++) {
    for (int n = 0; n < p.s.N; n++) {
      const std::size_t i = static_cast<std::size_t>(row) * p.s.N + n;
      if (!p.indexed && unpacked[i] != actual[i])
        return fail(kernels.isa, p, kind, "packing b changed", row, n, actual[i], unpacked[i]);
      const int m = p.indexed ? (row - p.c_rows[0]) / 2 : row;
      const bool written = p.indexed ? (row - p.c_rows[0]) % 2 == 0 && m >= 0 && m < p.s.M : row < p.s.M;
      if (!written) {
        if (actual[i] != p.c0[i])
          return fail(kernels.isa, p, kind, "row outside c_rows changed", row, n, actual[i], p.c0[i]);
        continue;
      }
      double magnitude = std::fabs(p.c0[i]) + std::fabs(p.bias[n]);
      for (int k = 0; k < p.s.K; k++) {
        const int b_row = p.indexed ? p.b_rows[k] : k;
        magnitude += std::fabs(p.a[m * g.a_row + k * g.a_col] * p.b[static_cast<std::size_t>(b_row) * p.s.N + n]);
      }
      if (std::fabs(expected[i] - actual[i]) > 4e-7 * (p.s.K + 2) * magnitude)
        return fail(kernels.isa, p, kind, "", m, n, actual[i], expected[i]);
    }
  }
  return true;
}

// The scalar reference's gather and scatter against a plain triple loop on the same rows.
bool check_scalar_indexing(const Problem& p) {
  std::vector<float> c = p.c0;
  kernels_scalar.gemm(p.gemm(c.data(), Epilogue::Accumulate), nullptr);
  for (int m = 0; m < p.s.M; m++) {
    for (int n = 0; n < p.s.N; n++) {
      double sum = 0.0;
      for (int k = 0; k < p.s.K; k++)
        sum += static_cast<double>(p.a[p.transposed_a ? k * p.s.M + m : m * p.s.K + k]) *
               p.b[static_cast<std::size_t>(p.b_rows[k]) * p.s.N + n];
      const std::size_t i = static_cast<std::size_t>(p.c_rows[m]) * p.s.N + n;
      const double want = p.c0[i] - 0.25 * sum;
      if (std::fabs(c[i] - want) > 1e-5 * (1.0 + std::fabs(want)))
        return fail("scalar", p, Epilogue::Accumulate, "indexing", m, n, c[i], static_cast<float>(want));
    }
  }
  return true;
}

}  // namespace

// The step of `kernels` over random parameters, gradients and state, bitwise against the scalar
// table's, for every optimizer with and without weight decay and lengths that leave vector tails.
bool check_step(const Kernels& kernels, std::mt19937& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
#define STEP_KIND(enumerator, name, first, second) StepKind::enumerator,
  const StepKind kinds[] = {BACKPROP_OPTIMIZERS(STEP_KIND)};
#undef STEP_KIND
  for (StepKind kind : kinds)
    for (bool decay : {false, true})
      for (std::size_t n : {1, 3, 7, 8, 15, 16, 17, 31, 33, 1000}) {
        std::vector<float> grads(n), params(n), first(n), second(n);
        for (std::size_t i = 0; i < n; i++) {
          grads[i] = value(rng);
          params[i] = value(rng);
          first[i] = value(rng);
          second[i] = std::fabs(value(rng));
        }
        const Step step = {kind, decay, 0.01f, 1e-3f, 0.9f, 0.9f, 0.1f, 0.999f, 0.001f, 1e-8f, 0.0526f, 22.4f};
        std::vector<float> want_params = params, want_first = first, want_second = second;
        kernels_scalar.step(step, want_params.data(), grads.data(), want_first.data(), want_second.data(), n);
        kernels.step(step, params.data(), grads.data(), first.data(), second.data(), n);
        if (std::memcmp(params.data(), want_params.data(), n * sizeof(float)) != 0 ||
            std::memcmp(first.data(), want_first.data(), n * sizeof(float)) != 0 ||
            std::memcmp(second.data(), want_second.data(), n * sizeof(float)) != 0) {
          std::printf("FAIL %s: optimizer step %d (decay %d), n = %zu differs from scalar\n", kernels.isa,
                      static_cast<int>(kind), decay, n);
          failures++;
          return false;
        }
      }
  return true;
}

// Every byte, at lengths that leave vector tails, widened as the ts backend does: byte / 255 in
// double, rounded to float once.
bool check_widen_bytes(const Kernels& kernels) {
  for (std::size_t n : {1, 15, 16, 17, 63, 64, 65, 256, 784, 1000}) {
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; i++) bytes[i] = static_cast<std::uint8_t>(i * 167 + 3);
    std::vector<float> out(n);
    kernels.widen_bytes(bytes.data(), out.data(), n);
    for (std::size_t i = 0; i < n; i++) {
      const float want = static_cast<float>(bytes[i] / 255.0);
      if (std::memcmp(&out[i], &want, sizeof(float)) != 0) {
        std::printf("FAIL %s: byte %d widened to %.9g, not %.9g\n", kernels.isa, bytes[i], out[i], want);
        failures++;
        return false;
      }
    }
  }
  return true;
}

// A NaN through either ReLU epilogue gives +0, as the scalar reference's z > 0 ? z : 0 does: a
// diverging network then reads the same on every ISA. The row is wider than a vector, with a tail.
bool check_relu_of_nan(const Kernels& kernels) {
  constexpr int N = 21;
  const float nan = std::nanf("");
  std::vector<float> a = {nan}, b(N, 1.0f), bias(N, 0.0f), mask(N, nan), sum(N, 5.0f);
  std::vector<float> gated(N, 5.0f);
  kernels.gemm({sum.data(),
                N,
                nullptr,
                a.data(),
                1,
                1,
                b.data(),
                N,
                nullptr,
                1,
                N,
                1,
                {Epilogue::BiasRelu, bias.data(), nullptr, 0.0f}},
               nullptr);
  kernels.gemm({gated.data(),
                N,
                nullptr,
                a.data(),
                1,
                1,
                b.data(),
                N,
                nullptr,
                1,
                N,
                1,
                {Epilogue::ReluMask, nullptr, mask.data(), 0.0f}},
               nullptr);
  for (int n = 0; n < N; n++) {
    for (float got : {sum[n], gated[n]}) {
      if (got != 0.0f || std::signbit(got)) {
        std::printf("FAIL %s: a NaN through the ReLU epilogue gave %.9g at column %d, not +0\n", kernels.isa, got, n);
        failures++;
        return false;
      }
    }
  }
  return true;
}

// A random M × K matrix with every fourth row empty and the others of random density up to
// max_density, dense (its zeros written out) and in compressed rows.
struct RandomSparse {
  std::vector<float> dense;
  std::vector<int> row_start, columns;
  std::vector<float> values;
};
RandomSparse random_sparse(int M, int K, float max_density, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  RandomSparse a{std::vector<float>(static_cast<std::size_t>(M) * K, 0.0f), std::vector<int>(M + 1, 0), {}, {}};
  for (int m = 0; m < M; m++) {
    const float density = m % 4 == 3 ? 0.0f : max_density * uniform(rng);
    for (int k = 0; k < K; k++) {
      if (uniform(rng) >= density) continue;
      const float x = normal(rng);
      a.dense[static_cast<std::size_t>(m) * K + k] = x;
      a.columns.push_back(k);
      a.values.push_back(x);
    }
    a.row_start[m + 1] = static_cast<int>(a.columns.size());
  }
  return a;
}

// The sparse product of `kernels` against its own dense product of the same matrix with the zeros
// written out, bit for bit: the sums are the same sums without their zero terms. Rows are listed
// in a shuffled order, some rows are empty, and every width from 1 to 70 leaves a tail.
bool check_sparse(const Kernels& kernels, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Epilogue kinds[] = {Epilogue::Bias, Epilogue::BiasRelu, Epilogue::Accumulate};
  for (int M : {1, 2, 3, 5, 9, 23})
    for (int K : {1, 7, 50})
      for (int N = 1; N <= 70; N += (N < 20 ? 1 : 7)) {
        const RandomSparse a = random_sparse(M, K, 1.0f, rng);
        std::vector<float> b(static_cast<std::size_t>(K) * N), bias(N), c0(static_cast<std::size_t>(M) * N);
        std::vector<int> order(M);
        for (float& x : b) x = normal(rng);
        for (float& x : bias) x = normal(rng);
        for (float& x : c0) x = normal(rng);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        for (Epilogue kind : kinds) {
          const EpilogueArgs ep = {kind, bias.data(), nullptr, -0.25f};
          std::vector<float> want = c0, got = c0;
          kernels.gemm({want.data(), N, nullptr, a.dense.data(), K, 1, b.data(), N, nullptr, M, N, K, ep}, nullptr);
          std::vector<float> pack(static_cast<std::size_t>(K) * kPackColumns + kLineFloats);
          kernels.sparse_gemm({got.data(), N, a.row_start.data(), a.columns.data(), a.values.data(), order.data(), M,
                               b.data(), N, K, N, ep},
                              pack.data());
          if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0) {
            std::printf("FAIL %s: sparse product M=%d N=%d K=%d epilogue=%d differs from the dense one\n", kernels.isa,
                        M, N, K, static_cast<int>(kind));
            failures++;
            return false;
          }
        }
      }
  return true;
}

// The weight gradient scattered from a sparse a's rows against the dense product aᵀ · b with a's
// zeros written out, bit for bit, with the sums left zero for the next call (each case runs twice).
// Some rows are empty, so some weight rows get no entry; every width from 1 to 70 leaves a tail.
bool check_scatter(const Kernels& kernels, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Epilogue kinds[] = {Epilogue::Bias, Epilogue::BiasRelu, Epilogue::Accumulate};
  for (int rows : {1, 3, 31, 100})
    for (int K : {1, 7, 50, 784})
      for (int N = 1; N <= 70; N += (N < 20 ? 1 : 7)) {
        const RandomSparse a = random_sparse(rows, K, 0.3f, rng);
        std::vector<float> b(static_cast<std::size_t>(rows) * N), bias(N), c0(static_cast<std::size_t>(K) * N);
        for (float& x : b) x = normal(rng);
        for (float& x : bias) x = normal(rng);
        for (float& x : c0) x = normal(rng);
        const int lds = (N + kScatterAlign - 1) / kScatterAlign * kScatterAlign;
        std::vector<float> sums(static_cast<std::size_t>(K) * lds + kLineFloats, 0.0f);
        float* aligned = line_aligned(sums.data());
        std::vector<int> cursors(rows);
        for (Epilogue kind : kinds) {
          const EpilogueArgs ep = {kind, bias.data(), nullptr, -0.25f};
          std::vector<float> want = c0;
          kernels.gemm({want.data(), N, nullptr, a.dense.data(), 1, K, b.data(), N, nullptr, K, N, rows, ep}, nullptr);
          for (int pass = 0; pass < 2; pass++) {
            std::vector<float> got = c0;
            kernels.sparse_scatter({got.data(), N, a.row_start.data(), a.columns.data(), a.values.data(), rows,
                                    b.data(), N, K, N, aligned, lds, cursors.data(), ep});
            const bool zeroed = std::all_of(sums.begin(), sums.end(), [](float x) { return x == 0.0f; });
            if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0 || !zeroed) {
              std::printf("FAIL %s: scattered gradient rows=%d N=%d K=%d epilogue=%d pass %d %s\n", kernels.isa, rows,
                          N, K, static_cast<int>(kind), pass, zeroed ? "differs from the dense product" : "left sums");
              failures++;
              return false;
            }
          }
        }
      }
  return true;
}

// The non-zero elements and their indices, in order, at every length up to 70 and MNIST's 784:
// NaN counts as non-zero and −0 as zero, as the sparse products need (a zero adds nothing). Bytes
// come widened as the ts backend widens them, from inputs with blank stretches (as a digit's border).
bool check_compress(const Kernels& kernels, std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 9);
  for (int n = 1; n <= 785; n += (n < 70 ? 1 : 714)) {
    std::vector<float> x(n);
    std::vector<std::uint8_t> bytes(n);
    std::vector<int> want_columns, want_byte_columns;
    std::vector<float> want_values, want_byte_values;
    for (int k = 0; k < n; k++) {
      const int pick = kind(rng);
      x[k] = pick < 6 ? 0.0f : pick == 6 ? -0.0f : pick == 7 ? std::nanf("") : static_cast<float>(k) / 7.0f + 1.0f;
      if (!(x[k] == 0.0f)) {
        want_columns.push_back(k);
        want_values.push_back(x[k]);
      }
      const bool blank = (k / 40) % 3 == 0;
      bytes[k] = blank || pick < 5 ? 0 : static_cast<std::uint8_t>(k * 31 + pick);
      if (bytes[k] != 0) {
        want_byte_columns.push_back(k);
        want_byte_values.push_back(static_cast<float>(bytes[k] / 255.0));
      }
    }
    std::vector<int> columns(n + kCompressSlack);
    std::vector<float> values(n + kCompressSlack);
    auto same = [&](int count, const std::vector<int>& want_c, const std::vector<float>& want_v) {
      return count == static_cast<int>(want_c.size()) && std::equal(want_c.begin(), want_c.end(), columns.begin()) &&
             (want_v.empty() || std::memcmp(want_v.data(), values.data(), want_v.size() * sizeof(float)) == 0);
    };
    const int count = kernels.compress_nonzero(x.data(), n, columns.data(), values.data());
    if (!same(count, want_columns, want_values)) {
      std::printf("FAIL %s: compress_nonzero of %d elements kept %d, expected %zu\n", kernels.isa, n, count,
                  want_columns.size());
      failures++;
      return false;
    }
    const int byte_count = kernels.compress_bytes(bytes.data(), n, columns.data(), values.data());
    if (!same(byte_count, want_byte_columns, want_byte_values)) {
      std::printf("FAIL %s: compress_bytes of %d bytes kept %d, expected %zu, or widened them otherwise\n", kernels.isa,
                  n, byte_count, want_byte_columns.size());
      failures++;
      return false;
    }
  }
  return true;
}

// The smooth activations, their derivatives, softmax and the bias gradient's column sums of `kernels`,
// bit for bit against the scalar table's, at lengths that leave vector tails.
bool check_activations(const Kernels& kernels, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const Activation smooth[] = {Activation::Sigmoid, Activation::Tanh, Activation::Bipolar, Activation::Gelu,
                               Activation::Silu};
  for (Activation activation : smooth)
    for (std::size_t n : {1, 7, 16, 17, 33, 100}) {
      std::vector<float> z(n), kept(n), delta(n);
      for (std::size_t i = 0; i < n; i++) z[i] = normal(rng), kept[i] = normal(rng) / 4.0f, delta[i] = normal(rng);
      std::vector<float> want = z, got = z, want_pre(n), got_pre(n), want_delta = delta, got_delta = delta;
      kernels_scalar.activate(activation, want.data(), want_pre.data(), n);
      kernels.activate(activation, got.data(), got_pre.data(), n);
      kernels_scalar.scale_by_derivative(activation, want_delta.data(), kept.data(), n);
      kernels.scale_by_derivative(activation, got_delta.data(), kept.data(), n);
      if (std::memcmp(want.data(), got.data(), n * sizeof(float)) != 0 ||
          std::memcmp(want_pre.data(), got_pre.data(), n * sizeof(float)) != 0 ||
          std::memcmp(want_delta.data(), got_delta.data(), n * sizeof(float)) != 0 ||
          std::memcmp(z.data(), got_pre.data(), n * sizeof(float)) != 0) {
        std::printf("FAIL %s: activation %d over %zu elements differs from scalar\n", kernels.isa,
                    static_cast<int>(activation), n);
        failures++;
        return false;
      }
    }
  for (int classes : {1, 2, 10, 17}) {
    const int rows = 9;
    std::vector<float> want(static_cast<std::size_t>(rows) * classes), got;
    for (float& x : want) x = normal(rng) * 10.0f;
    got = want;
    std::vector<std::uint8_t> labels(rows), want_correct(rows), got_correct(rows);
    for (int r = 0; r < rows; r++) labels[r] = static_cast<std::uint8_t>(r % classes);
    std::vector<double> want_loss(rows), got_loss(rows);
    kernels_scalar.softmax_rows(want.data(), 0, rows, classes, labels.data(), want_loss.data(), want_correct.data());
    kernels.softmax_rows(got.data(), 0, rows, classes, labels.data(), got_loss.data(), got_correct.data());
    if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0 || want_loss != got_loss ||
        want_correct != got_correct) {
      std::printf("FAIL %s: softmax over %d classes differs from scalar\n", kernels.isa, classes);
      failures++;
      return false;
    }
  }
  for (int count : {1, 3, 100})
    for (int width : {1, 10, 17, 30, 65}) {
      std::vector<float> rows(static_cast<std::size_t>(count) * width), want(width, 9.0f), got(width, 9.0f);
      for (float& x : rows) x = normal(rng);
      kernels_scalar.column_sums(rows.data(), count, width, want.data());
      kernels.column_sums(rows.data(), count, width, got.data());
      float sum0 = 0.0f;
      for (int r = 0; r < count; r++) sum0 += rows[static_cast<std::size_t>(r) * width];
      if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0 || got[0] != sum0) {
        std::printf("FAIL %s: column sums of %d × %d differ\n", kernels.isa, count, width);
        failures++;
        return false;
      }
    }
  return true;
}

// Many small calls of 1, 3 and 7 chunks on a pool of 3 threads, beside a thread that keeps a core
// busy: every chunk of every call runs once, and every call returns. A worker late from one call
// once read the next call's chunk count while the claims still named its own, claimed a chunk past
// the end, and counted it done in the next call, whose caller then waited forever (`example
// tutorial` hung in 2 of 25 runs beside `yes`). A minute without a finished call is a failure.
// The engine's choice of a way to train a batch on two threads, fed times as a run would give them:
// beside 61 µs a batch of 100, alone 75 µs. One batch held up for a millisecond, in a probe or after,
// must not turn the choice (it once trained alone for the rest of the check); three times slower
// beside for good must, within a few dozen batches.
bool check_way_choice() {
  const BatchWays ways = {BatchWay::Beside, false};
  const auto run = [&](int held_up, int slower_from, int& alone_after_probes, int& turned_at) {
    WayTimes times;
    alone_after_probes = 0;
    turned_at = -1;
    for (int batch = 0; batch < kWayCheckEvery; batch++) {
      const BatchWay way = choose_way(times, ways, true);
      const bool probing = batch < kWayCount * kWayProbe;
      if (!probing && way == BatchWay::Alone) {
        alone_after_probes++;
        if (turned_at < 0) turned_at = batch;
      }
      double seconds = way == BatchWay::Beside ? 61e-6 : 75e-6;
      if (way == BatchWay::Beside && batch >= slower_from) seconds *= 3;
      if (batch == held_up) seconds += 1e-3;
      record_way(times, way, 100, seconds);
    }
  };
  int alone = 0, turned = 0;
  bool ok = true;
  for (int held_up : {kWayProbe + 3, 100}) {
    run(held_up, kWayCheckEvery, alone, turned);
    if (alone != 0) {
      std::printf("FAIL way choice: a batch held up at %d trained %d batches alone after it\n", held_up, alone);
      ok = false;
    }
  }
  run(-1, 300, alone, turned);
  if (turned < 300 || turned > 340) {
    std::printf("FAIL way choice: beside three times slower from batch 300 turned alone at %d\n", turned);
    ok = false;
  }
  if (!ok) failures++;
  return ok;
}

bool check_thread_pool() {
  constexpr int kCalls = 400000;
  std::atomic<bool> busy{true}, finished{false}, wrong{false};
  std::atomic<int> calls_done{0};
  std::thread hog([&] {
    while (busy.load(std::memory_order_relaxed)) {
    }
  });
  std::thread caller([&] {
    ThreadPool pool(3);
    std::atomic<int> ran[7];
    for (int call = 0; call < kCalls; call++) {
      const int chunks = call % 3 == 0 ? 1 : call % 3 == 1 ? 3 : 7;
      for (std::atomic<int>& count : ran) count.store(0, std::memory_order_relaxed);
      pool.run(chunks, [&](int chunk, int) { ran[chunk].fetch_add(1, std::memory_order_relaxed); });
      for (int c = 0; c < 7; c++)
        if (ran[c].load(std::memory_order_relaxed) != (c < chunks ? 1 : 0)) wrong.store(true);
      calls_done.store(call + 1, std::memory_order_release);
    }
    finished.store(true, std::memory_order_release);
  });
  int seen = -1;
  auto progress = std::chrono::steady_clock::now();
  while (!finished.load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int now = calls_done.load(std::memory_order_acquire);
    if (now != seen) {
      seen = now;
      progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - progress > std::chrono::minutes(1)) {
      std::printf("FAIL thread pool: call %d of %d has not returned for a minute\n", now + 1, kCalls);
      std::fflush(stdout);
      std::_Exit(1);  // the hung threads cannot be joined
    }
  }
  caller.join();
  busy.store(false);
  hog.join();
  if (wrong.load()) {
    std::printf("FAIL thread pool: a chunk ran twice, or not at all, or past the end of its call\n");
    failures++;
    return false;
  }
  return true;
}

// The engine's argument checks, without a binding: what they accept and what each refuses, in the
// words every binding passes on.
bool check_validation() {
  std::vector<Noise> noise;
  const std::uint8_t labels[] = {0, 9, 10};
  const std::uint32_t order[] = {0, 3, 4};
  const float rates[] = {0.1f, NAN};
  const struct {
    const char* what;
    Check got;
    const char* refused;  // null: accepted
  } cases[] = {
      {"the seed network", check_sizes({784, 30, 10}), nullptr},
      {"one size", check_sizes({784}), "net.sizes must list 2 to 64 layer sizes"},
      {"a fraction", check_sizes({784, 2.5, 10}), "net.sizes[1] must be an integer from 1 to 1048576"},
      {"300 classes", check_sizes({4, 300}), "net.sizes: the output layer has more than 256 units (labels are bytes)"},
      {"softmax hidden", check_activations({Activation::Softmax, Activation::Softmax}, Loss::CrossEntropy),
       "net.activations[0]: a hidden layer cannot be softmax"},
      {"mse on softmax", check_activations({Activation::Relu, Activation::Softmax}, Loss::Mse),
       "net.loss: cross-entropy goes with a softmax output, mse with any other"},
      {"the seed's layout", check_layout({784, 30, 10}, true, {0, 23550}, {23520, 23850}).invalid, nullptr},
      {"layers that overlap", check_layout({784, 30, 10}, true, {0, 23540}, {23520, 23840}).invalid,
       "net.layout: two layers' parameters overlap"},
      {"a bias without biases", check_layout({4, 3}, false, {0}, {12}).invalid,
       "net.layout[0].bias must be -1: the network has no biases"},
      {"a negative offset", check_layout({4, 3}, false, {-1}, {-1}).invalid,
       "net.layout[0].weight must be an offset into net.params"},
      {"batch 100 of 100 rows", check_integer(100, "batchSize", 1, 100), nullptr},
      {"batch 0", check_integer(0, "batchSize", 1, 100), "batchSize must be an integer from 1 to 100"},
      {"half a row", check_integer(2.5, "rows", 1, 100, "ws.rows"), "rows must be an integer from 1 to ws.rows (100)"},
      {"dropout", check_noise({0, -1}, {0.5, 0.0}, noise), nullptr},
      {"noise of the output", check_noise({0, 0}, {0.5, 0.1}, noise),
       "net.noise[1].rate must be a rate from 0 to 0.000000"},
      {"a rate past the kind's", check_noise({1, -1}, {0.96, 0.0}, noise),
       "net.noise[0].rate must be a rate from 0 to 0.950000"},
      {"no such kind", check_noise({7, -1}, {0.5, 0.0}, noise), "net.noise[0].kind must be a noise kind"},
      {"labels", check_labels(labels, 2, 10, "data"), nullptr},
      {"label 10 of 10", check_labels(labels, 3, 10, "data"), "data.labels[2] is 10, but the network has 10 classes"},
      {"order", check_order(order, 3, 4), "options.order[2] is not a sample index below 4"},
      {"rates", check_rates(rates, 2), "options.learningRates[1] is not a finite rate of 0 or more"},
      {"seed", check_seed(4294967296.0, "seed"), "seed must be an integer from 0 to 2^32 - 1"},
      {"step", check_step(-1, "step"), "step must be a safe integer of 0 or more"},
  };
  if (check_layout({784, 30, 10}, true, {0, 23550}, {23520, 23850}).param_count != 23860) {
    std::printf("FAIL validation: the seed's layout does not end at 23,860 parameters\n");
    failures++;
    return false;
  }

  bool ok = true;
  for (const auto& c : cases) {
    const bool right = c.refused ? c.got && c.got->message == c.refused : !c.got;
    if (!right) {
      std::printf("FAIL validation: %s gave '%s'\n", c.what, c.got ? c.got->message.c_str() : "accepted");
      failures++;
      ok = false;
    }
  }
  return ok;
}

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
  shapes.push_back({30, 1024, 40});
  const Epilogue kinds[] = {Epilogue::Bias, Epilogue::BiasRelu, Epilogue::ReluMask, Epilogue::Accumulate};
  std::mt19937 rng(42);
  std::vector<Problem> problems;
  for (const Shape& shape : shapes)
    for (bool transposed : {false, true})
      for (bool indexed : {false, true}) problems.push_back(make_problem(shape, transposed, indexed, rng));

  int tested = 0, passed = 0;
  for (const Problem& p : problems) {
    if (!p.indexed) continue;
    tested++;
    if (check_scalar_indexing(p)) passed++;
  }
  tested += 9;
  if (check_thread_pool()) passed++;
  if (check_way_choice()) passed++;
  if (check_validation()) passed++;
  if (check_widen_bytes(kernels_scalar)) passed++;
  if (check_relu_of_nan(kernels_scalar)) passed++;
  if (check_sparse(kernels_scalar, rng)) passed++;
  if (check_scatter(kernels_scalar, rng)) passed++;
  if (check_compress(kernels_scalar, rng)) passed++;
  if (check_activations(kernels_scalar, rng)) passed++;
  std::printf(
      "scalar: %d indexed cases against a plain loop, the thread pool, the way a batch trains on two threads, the "
      "argument checks, byte widening, a NaN through the ReLU, sparse products, scattered gradients, compress, "
      "activations\n",
      tested - 9);
  for (const IsaEntry& entry : compiled_isas()) {
    if (entry.kernels == &kernels_scalar) continue;
    if (!(supported_isas() & entry.bit)) {
      std::printf("skip %s: not supported by this CPU\n", entry.kernels->isa);
      continue;
    }
    int cases = 0;
    for (const Problem& p : problems)
      for (Epilogue kind : kinds) {
        if (p.indexed && kind == Epilogue::ReluMask) continue;  // the mask is never combined with c_rows
        cases++;
        tested++;
        if (check(*entry.kernels, p, kind)) passed++;
      }
    tested += 7;
    if (check_step(*entry.kernels, rng)) passed++;
    if (check_widen_bytes(*entry.kernels)) passed++;
    if (check_relu_of_nan(*entry.kernels)) passed++;
    if (check_sparse(*entry.kernels, rng)) passed++;
    if (check_scatter(*entry.kernels, rng)) passed++;
    if (check_compress(*entry.kernels, rng)) passed++;
    if (check_activations(*entry.kernels, rng)) passed++;
    std::printf(
        "%s: %d cases against scalar, the optimizer step, byte widening, a NaN through the ReLU, sparse products, "
        "scattered gradients, compress, activations\n",
        entry.kernels->isa, cases);
  }
  std::printf("%d passed, %d failed\n", passed, tested - passed);
  return failures == 0 ? 0 : 1;
}
