// The engine's tuning constants, in one place: where the work is split across threads, where the
// first layer's input becomes sparse or compacted, and how evaluation and batch preparation are
// shared out. None changes a result, only where the time goes.
#pragma once

#include <cstddef>

namespace backprop {

// Below this many multiply-adds (about 70 µs on one AVX-512 core) a GEMM runs on the calling
// thread: a smaller split gains less than the hand-off costs, and on a busy machine loses (measured
// in bench/: H=256 at batch 10 was 1.5× slower on two threads than on one beside a busy process).
constexpr double kParallelWork = 1024.0 * 1024.0;
// Below this many elements an element-wise pass (softmax, activation, optimizer) stays on the
// calling thread (a ReLU over 64 K elements takes a few microseconds).
constexpr int kParallelRows = 1 << 16;

// Below this share of non-zero inputs the first layer's products are sparse. Each entry then costs
// a gathered row of the weights instead of a streamed one, so density must be well below 1.
constexpr double kSparseBelow = 0.3;
// The most entries a sparse input may hold (a bound on the scratch it needs: 16 MB a batch).
constexpr std::size_t kSparseEntries = std::size_t{1} << 20;

// Below this share of non-zero columns the first layer works on the compacted input.
constexpr double kCompactBelow = 0.9;

// Evaluation's chunks (evaluation.cc): at most this many rows each, and this many per thread in a round.
constexpr int kLaneRows = 1024;
constexpr int kChunksPerRound = 8;

// Up to this many samples, a batch whose products are small is trained on one thread while another
// prepares the next batch (a batch of 1,024 MNIST images has about 150,000 non-zero pixels: at any
// width but the narrowest its products are split).
constexpr int kPreparedBesideRows = 1024;

// Up to this many multiply-adds in its largest product, a batch trains faster on one thread with the
// next batch prepared beside it than with its products split (2 threads, Zen 3, MNIST, batch 100:
// H=128 and 256 were 0.07 and 0.12 s per 20,000 samples beside against 0.07 and 0.16 s split;
// H=512 and 1024, 0.15 and 0.34 s per 10,000 against 0.10 and 0.19 s split).
constexpr double kBesideWork = 4.0 * 1024 * 1024;
// Below this many multiply-adds per sample, a sparse batch of any size up to kPreparedBesideRows is
// trained beside the next one's preparation (2 threads, Zen 3, MNIST at batch 1000: H=30 took 0.080
// s an epoch split and 0.060 beside; H=64, 10,000 a sample, 0.130 and 0.125).
constexpr double kBesideSampleWork = 12000.0;

// From this many multiply-adds per sample, a sparse batch splits its products as soon as run_gemm
// would, at any size (2 threads, Zen 4, AVX2, H=1024 at batch 10: 1.23–1.48 s an epoch split against
// 1.50–1.64 beside; H=256 at batch 100, 41,000 a sample, stays beside).
constexpr double kSplitSampleWork = 50000.0;

// From this many rows a sparse batch scatters the weight gradient of a narrow first layer
// (Kernels::scatter_widest) from its rows. Every weight row then goes through the epilogue, used or
// not: at batch 10 that cost more than listing the batch by column (Zen 4, MNIST, H=30, 1 thread:
// 0.094 s an epoch against 0.078), from batch 30 less (0.059 against 0.061; batch 100 0.046 against
// 0.053, and on 2 threads 0.038 against 0.053, the next batch's preparation then being short
// enough to run beside).
constexpr int kScatterRows = 30;

// Bytes of the next sample of a shuffled batch fetched ahead while one is compressed: a whole MNIST
// image, as bytes or floats; a much wider row would be evicted again before its turn.
constexpr std::size_t kPrefetchBytes = 4096;

// Each way a batch may train (split, beside the next one's preparation, alone) is timed: of every
// kWayCheckEvery batches, the first kWayProbe train each way in turn; the rest train the fastest way
// per sample, the way taken kept as a running average (of weight kWayAverageWeight) so that a
// slower spell turns them another way within a few batches. On a shared machine the second core
// may be busy or share the first one's caches: on a Zen 4 VM, from one process to the next, 2
// threads took 1.2–4.6 s an epoch split at H=1024, batch 10 (one thread 1.71), and 0.206 s beside
// for the seed network (one thread 0.053).
constexpr int kWayCheckEvery = 1024;
constexpr int kWayProbe = 8;
constexpr double kWayAverageWeight = 1.0 / 8;
// A batch counts at most this many times the running average of its way, and a probe by its median:
// one batch held up for a millisecond (an interrupt, a page fault) had turned the seed network on
// 2 threads to train alone for the rest of the check, up to a thousand batches (Zen 4: 0.82–0.98 s
// for its 20 epochs, against 0.77–0.78 always beside). A slower spell still turns the choice: at
// three times the time, the average doubles within a dozen batches.
constexpr double kWayOutlier = 1.5;

// The side of the square tiles a weight matrix is transposed in for the backward product: 32 rows
// of 32 floats are 32 cache lines read and 32 written, well inside L1.
constexpr int kTransposeTile = 32;

}  // namespace backprop
