// The engine's parts, one file each: parallel.cc (splitting products across the threads),
// sparse_input.cc (the first layer's input, compressed or compacted), dense.cc (a dense layer's three
// products and its parameter update), activation.cc, noise.cc, loss.cc (the output step and its
// error signal), layers.cc (the layer loops), training.cc (batches, the optimizer's scalars, the
// entry points of network.h) and evaluation.cc. Their tuning constants are in tuning.h.
#pragma once

#include <cstdint>
#include <vector>

#include "network.h"
#include "tuning.h"

namespace backprop {

// The first layer's input of a batch as a sparse matrix, when most inputs are zero (MNIST's
// pixels): its compressed rows, and for the weight gradient the same entries by column; each list of
// rows (or columns) ordered longest first, so that a tile's rows have about as many entries.
struct SparseInput {
  std::vector<int> row_start, row_columns, row_order;
  std::vector<float> row_values;
  std::vector<int> column_start, column_rows, column_order, column_fill, column_used;
  std::vector<float> column_values;
  int used_columns = 0;
  std::vector<int> length_counts;
  // Whether the column lists hold this batch: the weight gradient of a narrow layer is scattered
  // from the rows instead (SparseScatter).
  bool by_columns = false;
};

// A training batch made ready before its turn, so that one thread can prepare the next batch while
// another trains on this one: its labels and targets gathered in the epoch's order, and its input
// compressed, read straight from the data, when most of it is zero (`sparse`). A batch that is not
// sparse gathers its features when it trains.
struct PreparedBatch {
  std::vector<std::uint8_t> labels;
  std::vector<float> targets;
  bool sparse = false;
  SparseInput input;
};

// The ways a batch of training can take on more than one thread: its products split across them,
// on the caller alone while another thread prepares the next batch, or on the caller alone.
enum class BatchWay { Split, Beside, Alone };
constexpr int kWayCount = 3;

// How fast each way trains a batch, as measured on this machine now (training.cc, train_batch).
struct WayTimes {
  long long batches = 0;         // batches with a choice, over the engine's life
  double probe[kWayProbe] = {};  // seconds per sample of the probed way's batches so far
  int probed = 0;
  double per_row[kWayCount] = {0.0, 0.0, 0.0};
};

// The way a batch takes by the rules of thumb of training.cc, and whether any of its products is
// large enough to split.
struct BatchWays {
  BatchWay usual;
  bool splittable;
};
// The way a batch trains this time, from the times measured so far; and its time, recorded.
BatchWay choose_way(const WayTimes& times, BatchWays ways, bool may_be_beside);
void record_way(WayTimes& times, BatchWay way, int rows, double seconds);

// Buffers the engine keeps between calls; they grow to the largest shape once, before any batch runs.
struct Scratch {
  std::vector<float> transposed;          // a weight matrix, transposed for the backward product
  std::vector<std::vector<float>> packs;  // one GEMM packing buffer per thread
  std::vector<int> columns;               // the first layer's non-zero input columns in a batch
  std::vector<std::uint8_t> column_used;
  std::vector<float> compact_input;       // the batch's input, only those columns
  std::vector<std::uint8_t> batch_bytes;  // a batch's byte features, gathered in its order
  // The batch being trained (or scored), and with more than one thread the one after it.
  PreparedBatch prepared[2];
  int current = 0;
  WayTimes way_times;
  std::vector<int> sparse_parts;    // where each thread's part of a sparse product's rows begins
  std::vector<float> scatter_sums;  // a scattered weight gradient's sums (SparseScatter), zero between batches
  std::vector<int> scatter_cursors;
  std::vector<float> zero_bias;           // the bias of a network without biases
  std::vector<double> row_loss;           // per-row error of a batch or of a round of evaluated chunks
  std::vector<std::uint8_t> row_correct;  // and whether the row was classified right
  // Each thread but the caller evaluates chunks in a lane of its own: a scratch with a workspace
  // (network.cc, evaluate).
  std::vector<Scratch> lanes;
  std::vector<float> lane_floats;
  Workspace lane_workspace{};
};

// The first layer's input as its products read it: x itself (rows × C); when most inputs are zero
// (MNIST's blank pixels), x's non-zero entries as a sparse matrix (sparse, x unused); or, when
// enough inputs are zero in every row of the batch, only the other columns, copied side by side,
// with the column of x each came from. Dropped inputs only ever add exact zeros.
struct Input {
  const float* x;
  int width;
  const int* columns;
  const SparseInput* sparse;
};

// --- parallel.cc
void run_gemm(const Context& ctx, const Gemm& g);
void run_sparse_gemm(const Context& ctx, const SparseGemm& g, std::size_t entries);
// The context of work that stays on the thread running it, in `scratch`.
Context calling_thread(const Context& ctx, Scratch& scratch);

// Runs row_fn(begin, end) over blocks of rows on the engine's threads, or on this one when the rows
// hold fewer than kParallelRows elements.
template <typename RowFn>
void parallel_rows(const Context& ctx, int rows, int width, RowFn row_fn) {
  const int threads = rows * width < kParallelRows ? 1 : ctx.pool->size();
  if (threads == 1) {
    row_fn(0, rows);
    return;
  }
  const int block = (rows + threads - 1) / threads;
  ctx.pool->run(threads, [&](int chunk, int) {
    const int begin = std::min(rows, chunk * block);
    const int end = std::min(rows, begin + block);
    if (begin < end) row_fn(begin, end);
  });
}

// --- sparse_input.cc
// The entries a sparse input of `rows` samples may hold. It never falls as rows grow: the lists are
// reserved for the workspace's rows and filled for a batch's, which may be fewer.
std::size_t sparse_capacity(int rows, int C);
// The non-zero inputs of samples order[start…start+rows) of data (start… without an order) into
// s's compressed rows, read where the samples lie, unless more than kSparseBelow of them are
// non-zero (or the lists cannot hold them): then false, and the products stay dense.
bool compress_rows(const Kernels& kernels, const Samples& data, const std::uint32_t* order, int start, int rows, int C,
                   SparseInput& s);
// The compressed rows again by column (for the weight gradient).
void compress_columns(int rows, int C, SparseInput& s);
// Whether a sparse first layer of `outputs` units scatters the weight gradient of a batch of `rows`
// from its rows, and where in the scratch: rows of scatter_stride(outputs) floats from a cache
// line's start.
bool scatters_gradient(const Context& ctx, int outputs, int rows);
inline int scatter_stride(int outputs) { return (outputs + kScatterAlign - 1) / kScatterAlign * kScatterAlign; }
inline float* scatter_sums(Scratch& scratch) { return line_aligned(scratch.scatter_sums.data()); }
// The first layer's input of a batch that is not sparse: x, or only its columns that are non-zero somewhere.
Input dense_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws);
// Whether the first layer of `outputs` units may be sparse on these kernels.
bool may_be_sparse(const Context& ctx, int outputs);
// The first layer's input of a batch that is scored or run forward (no weight gradient).
Input first_layer_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws);

// --- dense.cc
// What the backward pass does with the gradient: keeps it in ws.grads (for gradcheck), adds
// −lr · gradient straight into the parameters (plain SGD, fused into the weight-gradient product),
// or keeps it and takes the optimizer's step with each layer's as soon as it is summed (while it is
// still in the caches).
struct Update {
  enum class Kind { Gradient, Sgd, Step } kind;
  float learning_rate;    // Sgd
  const Step* step;       // Step: the weights' step; the biases take it without weight decay
  OptimizerState* state;  // Step
};

// weight is (C, OC); transposed (OC, C) is overwritten, so that the backward product reads it by rows.
void transpose(float* transposed, const float* weight, int C, int OC);
const float* bias_of(const Context& ctx, const Layers& net, int l);
// out (rows, OC) = inp · weight (C, OC) + bias, through a ReLU when `relu`.
void matmul_forward(const Context& ctx, float* out, const Input& inp, const float* weight, const float* bias, int rows,
                    int OC, bool relu);
// dinp (rows, C) = dout (rows, OC) · weightᵀ, given weight_t = weightᵀ; zero wherever relu_out
// (rows, C), the output of a ReLU below, is not positive (when given).
void matmul_backward_input(const Context& ctx, float* dinp, const float* dout, const float* weight_t, int rows, int C,
                           int OC, const float* relu_out);
// The dense layer l's parameter gradient from its input and the error signal at its output, kept or
// applied as `update` says.
void dense_backward_params(const Context& ctx, const Layers& net, int l, const Input& inp, const float* delta, int rows,
                           Workspace& ws, const Update& update);

// --- activation.cc
// The activation of out (rows × width) in place, z into pre when the activation keeps it: a pass
// for the smooth activations (ReLU is the product's epilogue).
void activation_forward(const Context& ctx, Activation activation, float* out, float* pre, int rows, int width);
// delta (rows × width) times the activation's slope, taken from its output or its kept z (ReLU's
// mask is the backward product's epilogue).
void activation_backward(const Context& ctx, Activation activation, float* delta, const float* kept, int rows,
                         int width);

// --- noise.cc
// noisy and factor (rows × width) from a layer's output: each unit times the factor `mask` draws for it.
void noise_forward(const Context& ctx, const Noise& noise, const float* out, float* noisy, float* factor, int rows,
                   int width, const NoiseMask& mask, int layer);
// delta (rows × width) times each unit's noise factor.
void noise_backward(const Context& ctx, float* delta, const float* factor, int rows, int width);

// --- loss.cc
// The output step of a forward pass: softmax for cross-entropy. With a batch to score, each row's
// error into row_loss[r] and whether it was classified right into row_correct[r].
void output_step(const Context& ctx, const Layers& net, int rows, const Samples* scored, Workspace& ws,
                 double* row_loss, std::uint8_t* row_correct);
// Adds the rows' errors to eval in row order on this thread, so that the total does not depend on
// the threads.
void add_rows(Evaluation& eval, const double* row_loss, const std::uint8_t* row_correct, int rows, bool labels);
// dout (rows, outputs) = the gradient of the mean error with respect to the output layer's pre-activations.
void output_backward(float* dout, const float* outputs, const Layers& net, const Samples& batch, int rows);

// --- layers.cc
void forward_layers(const Context& ctx, const Layers& net, const Input& input, int rows, Workspace& ws,
                    const NoiseMask* mask);
void backward_layers(const Context& ctx, const Layers& net, const Input& input, const Samples& batch, int rows,
                     Workspace& ws, const Update& update, const NoiseMask* mask);

// --- evaluation.cc
// A lane's workspace for `rows` samples, laid out in `floats` (grown to fit): what a forward pass
// writes, and the widened input.
Workspace evaluation_workspace(const Layers& net, int rows, std::vector<float>& floats);

}  // namespace backprop
