#include "network.h"
#include "elementwise.h"
#include "glibc_floor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace backprop {
namespace {

// Below this many multiply-adds (about 70 µs on one AVX-512 core) a GEMM runs on the calling
// thread: a smaller split gains less than the hand-off costs, and on a busy machine loses (measured
// in bench/: H=256 at batch 10 was 1.5× slower on two threads than on one beside a busy process).
constexpr double kParallelWork = 1024.0 * 1024.0;
// Below this many elements an element-wise pass (softmax, activation, optimizer) stays on the
// calling thread (a ReLU over 64 K elements takes a few microseconds).
constexpr int kParallelRows = 1 << 16;

// Splits the larger of M and N into one contiguous block per thread. Every element is still one
// thread's sum over k in order, so the result is the same for any thread count.
void run_gemm(const Context& ctx, const Gemm& g) {
  const int threads = ctx.pool->size();
  std::vector<std::vector<float>>& packs = ctx.scratch->packs;
  if (threads == 1 || static_cast<double>(g.M) * g.N * g.K < kParallelWork) {
    ctx.kernels->gemm(g, packs[0].data());
    return;
  }
  const bool split_columns = g.N >= g.M;
  // Blocks of whole register tiles: 16 columns (one AVX-512 vector) or 6 rows.
  const int unit = split_columns ? 16 : 6;
  const int extent = split_columns ? g.N : g.M;
  const int block = ((extent + threads - 1) / threads + unit - 1) / unit * unit;
  ctx.pool->run(threads, [&](int chunk, int thread) {
    const int begin = std::min(extent, chunk * block);
    const int end = std::min(extent, begin + block);
    if (begin >= end) return;
    Gemm part = g;
    if (split_columns) {
      part.c += begin;
      part.b += begin;
      part.N = end - begin;
      if (part.ep.bias) part.ep.bias += begin;
      if (part.ep.mask) part.ep.mask += begin;
    } else {
      if (part.c_rows) {
        part.c_rows += begin;
      } else {
        part.c += static_cast<std::size_t>(begin) * g.ldc;
      }
      part.a += static_cast<std::size_t>(begin) * g.a_row;
      part.M = end - begin;
      if (part.ep.mask) part.ep.mask += static_cast<std::size_t>(begin) * g.ldc;
    }
    ctx.kernels->gemm(part, packs[thread].data());
  });
}

// A sparse product over `entries` entries, split across the threads: by column panels when c has
// a panel for every thread (each thread then copies only its own panels of b), else its list of rows
// in one contiguous part per thread with about as many entries each. Each element of c is one
// thread's, so the result is the same for any thread count.
void run_sparse_gemm(const Context& ctx, const SparseGemm& g, std::size_t entries) {
  const int threads = ctx.pool->size();
  if (threads == 1 || static_cast<double>(entries) * g.N < kParallelWork) {
    ctx.kernels->sparse_gemm(g, ctx.scratch->packs[0].data());
    return;
  }
  const int panels = (g.N + kPackColumns - 1) / kPackColumns;
  if (panels >= threads) {
    ctx.pool->run(panels, [&](int panel, int thread) {
      const int begin = panel * kPackColumns;
      SparseGemm piece = g;
      piece.c += begin;
      piece.b += begin;
      piece.N = std::min(kPackColumns, g.N - begin);
      if (piece.ep.bias) piece.ep.bias += begin;
      ctx.kernels->sparse_gemm(piece, ctx.scratch->packs[thread].data());
    });
    return;
  }
  int* bounds = ctx.scratch->sparse_parts.data();
  std::fill(bounds, bounds + threads + 1, g.count);
  bounds[0] = 0;
  std::size_t seen = 0;
  int part = 1;
  for (int i = 0; i < g.count && part < threads; i++) {
    seen += static_cast<std::size_t>(g.row_start[g.rows[i] + 1] - g.row_start[g.rows[i]]);
    if (seen * threads >= entries * part) bounds[part++] = i + 1;
  }
  ctx.pool->run(threads, [&](int chunk, int thread) {
    SparseGemm piece = g;
    piece.rows = g.rows + bounds[chunk];
    piece.count = bounds[chunk + 1] - bounds[chunk];
    if (piece.count > 0) ctx.kernels->sparse_gemm(piece, ctx.scratch->packs[thread].data());
  });
}

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

// Below this share of non-zero inputs the first layer's products are sparse. Each entry then costs
// a gathered row of the weights instead of a streamed one, so density must be well below 1.
constexpr double kSparseBelow = 0.3;
// The most entries a sparse input may hold (a bound on the scratch it needs: 16 MB a batch).
constexpr std::size_t kSparseEntries = std::size_t{1} << 20;

// The entries a sparse input of `rows` samples may hold. It never falls as rows grow: the lists are
// reserved for the workspace's rows and filled for a batch's, which may be fewer.
std::size_t sparse_capacity(int rows, int C) {
  const double entries = kSparseBelow * rows * C;
  return entries <= static_cast<double>(kSparseEntries) ? static_cast<std::size_t>(entries) : kSparseEntries;
}

// order[0..n) = the items item(0) … item(n − 1), longest first: a counting sort over their lengths
// start[k + 1] − start[k], up to max_length; items of one length keep their order. The order only
// lets a sparse tile's rows run in step, so lengths of at most 1 keep the items' own: one sample's
// columns all have one entry, and counting them, each through the same counter in memory, took a
// sixth of the time of preparing the sample.
template <typename Item>
void order_by_length(const int* start, int n, Item item, int max_length, int* order, std::vector<int>& counts) {
  if (max_length <= 1) {
    for (int i = 0; i < n; i++) order[i] = item(i);
    return;
  }
  const auto bucket = [&](int k) { return max_length - (start[k + 1] - start[k]); };
  counts.assign(static_cast<std::size_t>(max_length) + 1, 0);
  for (int i = 0; i < n; i++) counts[bucket(item(i))]++;
  // Each bucket's count becomes where its items start.
  int at = 0;
  for (int& count : counts) {
    const int here = count;
    count = at;
    at += here;
  }
  for (int i = 0; i < n; i++) {
    const int k = item(i);
    order[counts[bucket(k)]++] = k;
  }
}

// The non-zero inputs of samples order[start…start+rows) of data (start… without an order) into
// s's compressed rows, read where the samples lie, unless more than kSparseBelow of them are
// non-zero (or the lists cannot hold them): then false, and the products stay dense.
bool compress_rows(const Kernels& kernels, const Samples& data, const std::uint32_t* order, int start, int rows, int C,
                   SparseInput& s) {
  const std::size_t capacity = sparse_capacity(rows, C);
  int* row_start = s.row_start.data();
  int* columns = s.row_columns.data();
  float* values = s.row_values.data();
  std::size_t entries = 0;
  int longest = 0;
  for (int r = 0; r < rows; r++) {
    row_start[r] = static_cast<int>(entries);
    const std::size_t first = static_cast<std::size_t>(order ? order[start + r] : start + r) * C;
    const int length = data.x ? kernels.compress_nonzero(data.x + first, C, columns + entries, values + entries)
                              : kernels.compress_bytes(data.x_bytes + first, C, columns + entries, values + entries);
    longest = std::max(longest, length);
    entries += static_cast<std::size_t>(length);
    if (entries > capacity) return false;
  }
  row_start[rows] = static_cast<int>(entries);
  // Sorted over the lengths up to the longest row's, not the input's width: one sample online has
  // a single row to order.
  order_by_length(row_start, rows, [](int r) { return r; }, longest, s.row_order.data(), s.length_counts);
  return true;
}

// The compressed rows again by column, each column's rows in increasing order; the columns with
// entries listed longest first (only those: a weight row without inputs gets no gradient). Only the
// columns with entries are sorted: one sample online has about 150 of MNIST's 784, and sorting all
// of them took as long as its products.
void compress_columns(int rows, int C, SparseInput& s) {
  const int* row_start = s.row_start.data();
  int* column_start = s.column_start.data();
  std::fill(column_start, column_start + C + 1, 0);
  for (int e = 0; e < row_start[rows]; e++) column_start[s.row_columns[e] + 1]++;
  // The counts become where each column starts, and the columns with entries are listed without a
  // branch (which columns are empty is as unpredictable as the pixels); the running sum in a local,
  // since every store to `used` might be to column_start.
  int* used = s.column_used.data();
  int used_count = 0;
  int total = 0;
  for (int k = 0; k < C; k++) {
    const int count = column_start[k + 1];
    used[used_count] = k;
    used_count += count != 0;
    total += count;
    column_start[k + 1] = total;
  }
  int* fill = s.column_fill.data();
  std::copy(column_start, column_start + C, fill);
  for (int r = 0; r < rows; r++) {
    for (int e = row_start[r]; e < row_start[r + 1]; e++) {
      const int at = fill[s.row_columns[e]]++;
      s.column_rows[at] = r;
      s.column_values[at] = s.row_values[e];
    }
  }
  order_by_length(
      column_start, used_count, [used](int i) { return used[i]; }, rows, s.column_order.data(), s.length_counts);
  s.used_columns = used_count;
}

// Below this share of non-zero columns the first layer works on the compacted input.
constexpr double kCompactBelow = 0.9;

// Finding the zero columns is one more pass over the batch's input; it pays for itself when each
// dropped input saves many multiply-adds (a wide first layer) or when most inputs are dropped
// (a few MNIST images have few pixels in common; a hundred share half of them).
bool worth_compacting(int rows, int outputs) { return outputs >= 64 || rows <= 16; }

// The batch's features as float rows: byte features widened into the workspace.
const float* float_rows(const Context& ctx, const Samples& batch, int C, Workspace& ws) {
  if (batch.x) return batch.x;
  ctx.kernels->widen_bytes(batch.x_bytes, ws.batch_x, static_cast<std::size_t>(batch.count) * C);
  return ws.batch_x;
}

// The first layer's input of a batch that is not sparse: x, or only its columns that are non-zero somewhere.
Input dense_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws) {
  const float* x = float_rows(ctx, batch, C, ws);
  const int rows = batch.count;
  if (!worth_compacting(rows, outputs)) return {x, C, nullptr, nullptr};
  Scratch& scratch = *ctx.scratch;
  std::uint8_t* used = scratch.column_used.data();
  std::fill(used, used + C, 0);
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    for (int k = 0; k < C; k++) used[k] |= row[k] != 0.0f;
  }
  int* columns = scratch.columns.data();
  int width = 0;
  for (int k = 0; k < C; k++)
    if (used[k]) columns[width++] = k;
  if (width >= kCompactBelow * C) return {x, C, nullptr, nullptr};
  float* compact = scratch.compact_input.data();
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    float* out = compact + static_cast<std::size_t>(r) * width;
    for (int i = 0; i < width; i++) out[i] = row[columns[i]];
  }
  return {compact, width, columns, nullptr};
}

// Whether the first layer of `outputs` units may be sparse on these kernels.
bool may_be_sparse(const Context& ctx, int outputs) { return outputs <= ctx.kernels->sparse_widest; }

// The first layer's input of a batch that is scored or run forward (no weight gradient).
Input first_layer_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws) {
  SparseInput& sparse = ctx.scratch->prepared[0].input;
  if (may_be_sparse(ctx, outputs) && compress_rows(*ctx.kernels, batch, nullptr, 0, batch.count, C, sparse)) {
    return {nullptr, C, nullptr, &sparse};
  }
  return dense_input(ctx, batch, C, outputs, ws);
}

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

// The GEMM epilogue applies ReLU itself; the smooth activations are a pass over the output after it.
bool needs_activation_pass(Activation activation) {
  return activation != Activation::Relu && activation != Activation::Linear && activation != Activation::Softmax;
}

// The target of an output that is not the label's, for one-hot targets: the activation's low end (tables.h).
double off_target(Activation output) {
#define BACKPROP_OFF_TARGET(enumerator, name, keeps_z, hidden, off_target) off_target,
  constexpr double kOffTarget[] = {BACKPROP_ACTIVATIONS(BACKPROP_OFF_TARGET)};
#undef BACKPROP_OFF_TARGET
  return kOffTarget[static_cast<int>(output)];
}

double target_of(const Samples& batch, int r, int j, int outputs, double off) {
  if (batch.targets) return batch.targets[static_cast<std::size_t>(r) * outputs + j];
  return batch.labels[r] == j ? 1.0 : off;
}

// ½·Σ(y − t)² of each row of outputs (rows, width) into row_loss, and with labels whether the
// largest output is the label.
void squared_error_rows(const float* outputs, int begin, int end, int width, const Samples& batch, Activation output,
                        double* row_loss, std::uint8_t* row_correct) {
  const double off = off_target(output);
  for (int r = begin; r < end; r++) {
    const float* y = outputs + static_cast<std::size_t>(r) * width;
    double loss = 0.0;
    int argmax = 0;
    for (int j = 0; j < width; j++) {
      const double e = y[j] - target_of(batch, r, j, width, off);
      loss += 0.5 * e * e;
      if (y[j] > y[argmax]) argmax = j;
    }
    row_loss[r] = loss;
    if (batch.labels) row_correct[r] = argmax == batch.labels[r];
  }
}

// The output step of a forward pass: softmax for cross-entropy. With a batch to score, each row's
// error into row_loss[r] and whether it was classified right into row_correct[r].
void output_step(const Context& ctx, const Layers& net, int rows, const Samples* scored, Workspace& ws,
                 double* row_loss, std::uint8_t* row_correct) {
  const int last = net.count() - 1;
  const int width = net.sizes.back();
  float* outputs = ws.acts[last];
  if (net.loss == Loss::CrossEntropy) {
    const std::uint8_t* labels = scored ? scored->labels : nullptr;
    parallel_rows(ctx, rows, width, [&](int begin, int end) {
      ctx.kernels->softmax_rows(outputs, begin, end, width, labels, row_loss, row_correct);
    });
  } else if (scored) {
    parallel_rows(ctx, rows, width, [&](int begin, int end) {
      squared_error_rows(outputs, begin, end, width, *scored, net.activations[last], row_loss, row_correct);
    });
  }
}

// Adds the rows' errors to eval in row order on this thread, so that the total does not depend on
// the threads.
void add_rows(Evaluation& eval, const double* row_loss, const std::uint8_t* row_correct, int rows, bool labels) {
  for (int r = 0; r < rows; r++) {
    eval.loss_sum += row_loss[r];
    if (labels) eval.correct += row_correct[r];
  }
}

// outputs is (rows, width); dout (rows, width) is overwritten with the gradient of the mean error
// with respect to the output layer's pre-activations: p − onehot for softmax with cross-entropy,
// (y − t)·f'(z) for the squared error; both divided by the rows.
void output_backward(float* dout, const float* outputs, const Layers& net, const Samples& batch, int rows) {
  const int width = net.sizes.back();
  const Activation output = net.activations.back();
  const double off = off_target(output);
  const double scale = 1.0f / static_cast<float>(rows);
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < width; j++) {
      const std::size_t i = static_cast<std::size_t>(r) * width + j;
      const double y = outputs[i];
      const double error = y - target_of(batch, r, j, width, net.loss == Loss::CrossEntropy ? 0.0 : off);
      dout[i] =
          static_cast<float>(net.loss == Loss::CrossEntropy ? error * scale : error * derivative(output, y) * scale);
    }
  }
}

// weight is (C, OC); transposed (OC, C) is overwritten, so that the backward product reads it by rows.
void transpose(float* transposed, const float* weight, int C, int OC) {
  for (int c = 0; c < C; c++)
    for (int o = 0; o < OC; o++)
      transposed[static_cast<std::size_t>(o) * C + c] = weight[static_cast<std::size_t>(c) * OC + o];
}

const float* bias_of(const Context& ctx, const Layers& net, int l) {
  return net.bias ? net.params + net.bias_offset(l) : ctx.scratch->zero_bias.data();
}

// The three products of a dense layer, in llm.c's style. `inp` is the layer's input (rows, C), with
// only its non-zero columns for the first layer (Input).

// out (rows, OC) = inp · weight (C, OC) + bias, through a ReLU when `relu`.
void matmul_forward(const Context& ctx, float* out, const Input& inp, const float* weight, const float* bias, int rows,
                    int OC, bool relu) {
  const EpilogueArgs ep = {relu ? Epilogue::BiasRelu : Epilogue::Bias, bias, nullptr, 0.0f};
  if (inp.sparse) {
    const SparseInput& s = *inp.sparse;
    run_sparse_gemm(ctx,
                    {out, OC, s.row_start.data(), s.row_columns.data(), s.row_values.data(), s.row_order.data(), rows,
                     weight, OC, inp.width, OC, ep},
                    static_cast<std::size_t>(s.row_start[rows]));
    return;
  }
  run_gemm(ctx, {out, OC, nullptr, inp.x, inp.width, 1, weight, OC, inp.columns, rows, OC, inp.width, ep});
}

// dinp (rows, C) = dout (rows, OC) · weightᵀ, given weight_t = weightᵀ (OC, C) to read by rows; zero
// wherever relu_out (rows, C), the output of a ReLU below, is not positive (when given).
void matmul_backward_input(const Context& ctx, float* dinp, const float* dout, const float* weight_t, int rows, int C,
                           int OC, const float* relu_out) {
  const EpilogueArgs ep = relu_out ? EpilogueArgs{Epilogue::ReluMask, nullptr, relu_out, 0.0f}
                                   : EpilogueArgs{Epilogue::Bias, ctx.scratch->zero_bias.data(), nullptr, 0.0f};
  run_gemm(ctx, {dinp, C, nullptr, dout, OC, 1, weight_t, C, nullptr, rows, C, OC, ep});
}

// Whether weight row k (input k) has a gradient from this batch: a compacted or sparse input
// leaves out the inputs that are zero in every row.
bool has_inputs(const Context& ctx, const Input& inp, int k) {
  if (inp.sparse) return inp.sparse->column_start[k + 1] > inp.sparse->column_start[k];
  return !inp.columns || ctx.scratch->column_used[k];
}

// dweight (C, OC) = inpᵀ · dout (rows, OC), inpᵀ read in place (C of the inputs, all of them for a
// compacted or sparse input), stored (Bias with a zero bias: dweight is overwritten) or added into
// the weights in dweight (Accumulate, alpha = −lr: plain SGD). The weight rows of inputs that a
// compacted or sparse input leaves out have a zero gradient: stored as zeros, and nothing to add.
void matmul_backward_weight(const Context& ctx, float* dweight, const Input& inp, const float* dout, int rows, int C,
                            int OC, const EpilogueArgs& ep) {
  if (inp.sparse) {
    // dweight's rows are x's columns: xᵀ in compressed rows is x by column.
    const SparseInput& s = *inp.sparse;
    run_sparse_gemm(ctx,
                    {dweight, OC, s.column_start.data(), s.column_rows.data(), s.column_values.data(),
                     s.column_order.data(), s.used_columns, dout, OC, rows, OC, ep},
                    static_cast<std::size_t>(s.row_start[rows]));
  } else {
    run_gemm(ctx, {dweight, OC, inp.columns, inp.x, 1, inp.width, dout, OC, nullptr, inp.width, OC, rows, ep});
  }
  if (ep.kind == Epilogue::Accumulate || !(inp.sparse || inp.columns)) return;
  for (int k = 0; k < C; k++) {
    float* row = dweight + static_cast<std::size_t>(k) * OC;
    if (!has_inputs(ctx, inp, k)) std::fill(row, row + OC, 0.0f);
  }
}

// Whether layer l's output is dropped out in a pass with this mask.
bool drops(const Layers& net, int l, const DropoutMask* mask) { return mask && net.drops(l); }

// What layer l reads: the network's input, or the output of the layer below (after its dropout).
Input input_of(const Input& input, const Workspace& ws, const Layers& net, int l, const DropoutMask* mask) {
  if (l == 0) return input;
  return {drops(net, l - 1, mask) ? ws.dropped[l - 1] : ws.acts[l - 1], net.sizes[l], nullptr, nullptr};
}

void forward_layers(const Context& ctx, const Layers& net, const Input& input, int rows, Workspace& ws,
                    const DropoutMask* mask) {
  for (int l = 0; l < net.count(); l++) {
    const int OC = net.sizes[l + 1];
    const Activation activation = net.activations[l];
    float* out = ws.acts[l];
    matmul_forward(ctx, out, input_of(input, ws, net, l, mask), net.params + net.weight_offset(l), bias_of(ctx, net, l),
                   rows, OC, activation == Activation::Relu);
    if (needs_activation_pass(activation)) {
      float* pre = keeps_pre_activation(activation) ? ws.pre[l] : nullptr;
      parallel_rows(ctx, rows, OC, [&](int begin, int end) {
        const std::size_t first = static_cast<std::size_t>(begin) * OC;
        ctx.kernels->activate(activation, out + first, pre ? pre + first : nullptr,
                              static_cast<std::size_t>(end - begin) * OC);
      });
    }
    if (drops(net, l, mask)) {
      parallel_rows(ctx, rows, OC, [&](int begin, int end) {
        apply_dropout(out, ws.dropped[l], ws.keep[l], begin, end, OC, net.dropout[l], *mask, l);
      });
    }
  }
}

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

// The optimizer step of parameters begin … begin + count from their gradient in grads, element-wise
// on the engine's threads over blocks of `width` (each element is one thread's, so the result does
// not depend on the thread count).
void step_parameters(const Context& ctx, const Step& step, const Layers& net, OptimizerState& state, const float* grads,
                     std::size_t begin, int blocks, int width) {
  parallel_rows(ctx, blocks, width, [&](int first_block, int end_block) {
    const std::size_t at = begin + static_cast<std::size_t>(first_block) * width;
    ctx.kernels->step(step, net.params + at, grads + at, state.first ? state.first + at : nullptr,
                      state.second ? state.second + at : nullptr,
                      static_cast<std::size_t>(end_block - first_block) * width);
  });
}

void backward_layers(const Context& ctx, const Layers& net, const Input& input, const Samples& batch, int rows,
                     Workspace& ws, const Update& update, const DropoutMask* mask) {
  const int last = net.count() - 1;
  float* delta = ws.deltas[0];
  output_backward(delta, ws.acts[last], net, batch, rows);
  for (int l = last; l >= 0; l--) {
    const int C = net.sizes[l];
    const int OC = net.sizes[l + 1];
    float* weight = net.params + net.weight_offset(l);
    float* next = delta == ws.deltas[0] ? ws.deltas[1] : ws.deltas[0];
    // The error signal for the layer below needs this layer's weights before they are updated.
    if (l > 0) {
      const Activation below = net.activations[l - 1];
      const float* act = ws.acts[l - 1];
      float* transposed = ctx.scratch->transposed.data();
      transpose(transposed, weight, C, OC);
      matmul_backward_input(ctx, next, delta, transposed, rows, C, OC, below == Activation::Relu ? act : nullptr);
      if (drops(net, l - 1, mask)) {
        const float* keep = ws.keep[l - 1];
        parallel_rows(ctx, rows, C, [&](int begin, int end) {
          for (std::size_t i = static_cast<std::size_t>(begin) * C; i < static_cast<std::size_t>(end) * C; i++)
            next[i] *= keep[i];
        });
      }
      if (below != Activation::Relu) {
        const float* kept = keeps_pre_activation(below) ? ws.pre[l - 1] : act;
        parallel_rows(ctx, rows, C, [&](int begin, int end) {
          const std::size_t first = static_cast<std::size_t>(begin) * C;
          ctx.kernels->scale_by_derivative(below, next + first, kept + first,
                                           static_cast<std::size_t>(end - begin) * C);
        });
      }
    }
    const Input inp = input_of(input, ws, net, l, mask);
    const bool sgd = update.kind == Update::Kind::Sgd;
    const EpilogueArgs store = {Epilogue::Bias, ctx.scratch->zero_bias.data(), nullptr, 0.0f};
    const EpilogueArgs add = {Epilogue::Accumulate, nullptr, nullptr, -update.learning_rate};
    matmul_backward_weight(ctx, sgd ? weight : ws.grads + net.weight_offset(l), inp, delta, rows, C, OC,
                           sgd ? add : store);
    // The bias gradient is the column sums of delta.
    if (net.bias) ctx.kernels->column_sums(delta, rows, OC, ws.grads + net.bias_offset(l));
    if (sgd && net.bias) {
      float* bias = net.params + net.bias_offset(l);
      const float* dbias = ws.grads + net.bias_offset(l);
      // In double and rounded once, as the ts backend computes it (and the scalar kernels their
      // FMA): this file is built for the baseline ISA, where std::fma is a call into libm, one per
      // bias, which cost online learning 3 % of its time.
      const double rate = update.learning_rate;
      for (int o = 0; o < OC; o++) bias[o] = static_cast<float>(bias[o] - rate * dbias[o]);
    } else if (update.kind == Update::Kind::Step) {
      step_parameters(ctx, *update.step, net, *update.state, ws.grads, net.weight_offset(l), C, OC);
      if (net.bias) {
        Step bias_step = *update.step;
        bias_step.decay = false;
        step_parameters(ctx, bias_step, net, *update.state, ws.grads, net.bias_offset(l), 1, OC);
      }
    }
    delta = next;
  }
}

// The step count and the running powers β1^t, β2^t (the bias corrections of Adam), advanced by one
// step, and that step's scalars as the step kernels read them.
Step next_step(const Optimizer& opt, OptimizerState& state) {
  state.scalars[0] += 1.0;
  state.scalars[1] *= opt.beta1;
  state.scalars[2] *= opt.beta2;
  return {opt.kind,
          opt.weight_decay != 0.0f,
          opt.learning_rate,
          opt.weight_decay,
          opt.momentum,
          static_cast<float>(opt.beta1),
          static_cast<float>(1.0 - opt.beta1),
          static_cast<float>(opt.beta2),
          static_cast<float>(1.0 - opt.beta2),
          static_cast<float>(opt.epsilon),
          static_cast<float>(opt.learning_rate / (1.0 - state.scalars[1])),
          static_cast<float>(1.0 / std::sqrt(1.0 - state.scalars[2]))};
}

// Evaluation scores chunks of samples on all threads at once, each chunk forward through every layer
// on one thread (one hand-off per chunk rather than several per layer): thread 0 in the caller's
// scratch and workspace, each other thread in a lane of the scratch. A round of chunks is scored,
// then its rows' errors are added in row order.
constexpr int kLaneRows = 1024;
constexpr int kChunksPerRound = 8;

// Rows per chunk: at most a lane's, and few enough that every thread gets one.
int evaluation_chunk_rows(int count, int threads, int ws_rows) {
  const int even_share = (count + threads - 1) / threads;
  return std::max(1, std::min({ws_rows, kLaneRows, even_share}));
}

// The context of work that stays on the thread running it, in `scratch`.
Context calling_thread(const Context& ctx, Scratch& scratch) {
  static ThreadPool no_workers(1);
  return {ctx.kernels, &no_workers, &scratch};
}

// A lane's workspace for `rows` samples, laid out in `floats` (grown to fit): what a forward pass
// writes, and the widened input.
Workspace evaluation_workspace(const Layers& net, int rows, std::vector<float>& floats) {
  const auto layer_floats = [&](int l) {
    return static_cast<std::size_t>(rows) * net.sizes[l + 1] * (keeps_pre_activation(net.activations[l]) ? 2 : 1);
  };
  std::size_t size = static_cast<std::size_t>(rows) * net.sizes[0];
  for (int l = 0; l < net.count(); l++) size += layer_floats(l);
  if (floats.size() < size) floats.resize(size);
  Workspace ws{};
  ws.rows = rows;
  float* at = floats.data();
  for (int l = 0; l < net.count(); l++) {
    ws.acts.push_back(at);
    ws.pre.push_back(keeps_pre_activation(net.activations[l]) ? at + static_cast<std::size_t>(rows) * net.sizes[l + 1]
                                                              : nullptr);
    at += layer_floats(l);
  }
  ws.batch_x = at;
  return ws;
}

// Up to this many samples, a batch whose products are small is trained on one thread while another
// prepares the next batch (a batch of 1,024 MNIST images has about 150,000 non-zero pixels: at any
// width but the narrowest its products are split).
constexpr int kPreparedBesideRows = 1024;

// The labels and targets of samples order[start…start+rows) of data gathered into `batch`, and its
// input compressed by rows and by columns when most of it is zero. Reads only the data and writes
// only `batch`, so it can run beside the training of another batch.
void prepare_into(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                  int rows, PreparedBatch& batch) {
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  for (int r = 0; r < rows; r++) {
    const std::size_t i = order ? order[start + r] : static_cast<std::size_t>(start + r);
    if (data.labels) batch.labels[r] = data.labels[i];
    if (data.targets)
      std::memcpy(batch.targets.data() + r * outputs, data.targets + i * outputs, sizeof(float) * outputs);
  }
  const int C = net.sizes[0];
  batch.sparse =
      may_be_sparse(ctx, net.sizes[1]) && compress_rows(*ctx.kernels, data, order, start, rows, C, batch.input);
  if (batch.sparse) compress_columns(rows, C, batch.input);
}

// Up to this many multiply-adds in its largest product, a batch trains faster on one thread with the
// next batch prepared beside it than with its products split (2 threads, Zen 3, MNIST, batch 100:
// H=128 and 256 were 0.07 and 0.12 s per 20,000 samples beside against 0.07 and 0.16 s split;
// H=512 and 1024, 0.15 and 0.34 s per 10,000 against 0.10 and 0.19 s split).
constexpr double kBesideWork = 4.0 * 1024 * 1024;

// Whether a batch's products are worth splitting across the threads more than preparing the next
// batch beside it. Only a sparse batch takes long to prepare (its compression); a dense one splits
// its products as soon as run_gemm would.
bool worth_splitting(const Layers& net, int rows, const PreparedBatch& batch) {
  const double limit = batch.sparse ? kBesideWork : kParallelWork;
  for (int l = 0; l < net.count(); l++) {
    const double multiply_adds = l == 0 && batch.sparse
                                     ? static_cast<double>(batch.input.row_start[rows]) * net.sizes[1]
                                     : static_cast<double>(rows) * net.sizes[l] * net.sizes[l + 1];
    if (multiply_adds >= limit) return true;
  }
  return false;
}

// A prepared batch as the products read it: its samples and first-layer input, the sparse input it
// holds or, for a batch that is not sparse, its features gathered now.
struct BatchInput {
  Samples samples;
  Input input;
};

BatchInput batch_input(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order,
                       int start, int rows, const PreparedBatch& batch, Workspace& ws) {
  const int C = net.sizes[0];
  if (!batch.sparse) {
    const Samples samples = batch_rows(ctx, data, order, start, rows, net, ws);
    return {samples, dense_input(ctx, samples, C, net.sizes[1], ws)};
  }
  const Samples samples = {nullptr, nullptr, data.labels ? batch.labels.data() : nullptr,
                           data.targets ? batch.targets.data() : nullptr, rows};
  return {samples, {nullptr, C, nullptr, &batch.input}};
}

// Forward, backward and the optimizer step of a prepared batch; returns its error sum.
double train_prepared(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                      int rows, const PreparedBatch& prepared, const Optimizer& opt, OptimizerState& state,
                      Workspace& ws) {
  const BatchInput batch = batch_input(ctx, net, data, order, start, rows, prepared, ws);
  const DropoutMask mask = {net.dropout_seed, state.scalars[0]};
  const DropoutMask* masked = net.has_dropout() ? &mask : nullptr;
  forward_layers(ctx, net, batch.input, rows, ws, masked);
  Scratch& scratch = *ctx.scratch;
  output_step(ctx, net, rows, &batch.samples, ws, scratch.row_loss.data(), scratch.row_correct.data());
  Evaluation eval = {0.0, 0};
  add_rows(eval, scratch.row_loss.data(), scratch.row_correct.data(), rows, batch.samples.labels != nullptr);
  const Step step = next_step(opt, state);
  const bool plain_sgd = opt.kind == OptimizerKind::Sgd && opt.weight_decay == 0.0f;
  backward_layers(ctx, net, batch.input, batch.samples, rows, ws,
                  {plain_sgd ? Update::Kind::Sgd : Update::Kind::Step, opt.learning_rate, &step, &state}, masked);
  return eval.loss_sum;
}

// Room in `batch` for a batch of up to `rows` samples.
void reserve_prepared(PreparedBatch& batch, const Layers& net, int rows) {
  const std::size_t inputs = static_cast<std::size_t>(net.sizes[0]);
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  const std::size_t row_count = static_cast<std::size_t>(rows);
  if (batch.labels.size() < row_count) batch.labels.resize(row_count);
  if (batch.targets.size() < row_count * outputs) batch.targets.resize(row_count * outputs);
  SparseInput& s = batch.input;
  // A row is compressed before its entries are counted against the capacity.
  const std::size_t entries = sparse_capacity(rows, net.sizes[0]) + inputs + kCompressSlack;
  for (std::vector<int>* list : {&s.row_columns, &s.column_rows})
    if (list->size() < entries) list->resize(entries);
  for (std::vector<float>* list : {&s.row_values, &s.column_values})
    if (list->size() < entries) list->resize(entries);
  for (std::vector<int>* list : {&s.row_start, &s.row_order})
    if (list->size() < row_count + 1) list->resize(row_count + 1);
  for (std::vector<int>* list : {&s.column_start, &s.column_order, &s.column_fill, &s.column_used})
    if (list->size() < inputs + 1) list->resize(inputs + 1);
  // The counting sorts' buckets: lengths up to a row's inputs or a column's rows.
  const std::size_t buckets = std::max(inputs, row_count) + 2;
  if (s.length_counts.capacity() < buckets) s.length_counts.reserve(buckets);
}

}  // namespace

void reserve_scratch(const Context& ctx, const Layers& net, int rows) {
  Scratch& scratch = *ctx.scratch;
  std::size_t transposed = 0;
  for (int l = 1; l < net.count(); l++)
    transposed = std::max(transposed, static_cast<std::size_t>(net.sizes[l]) * net.sizes[l + 1]);
  if (scratch.transposed.size() < transposed) scratch.transposed.resize(transposed);
  // The K of a product is a layer width (forward and backward) or the batch rows (weight gradient).
  const int longest_k = std::max(rows, *std::max_element(net.sizes.begin(), net.sizes.end()));
  const std::size_t pack = static_cast<std::size_t>(longest_k) * kPackColumns + kPackAlign;
  const std::size_t widest = static_cast<std::size_t>(*std::max_element(net.sizes.begin(), net.sizes.end()));
  if (scratch.zero_bias.size() < widest) scratch.zero_bias.resize(widest, 0.0f);
  const int threads = ctx.pool->size();
  const int lane_rows = std::min(rows, kLaneRows);
  const std::size_t scored_rows = std::max(rows, lane_rows * kChunksPerRound * threads);
  if (scratch.row_loss.size() < scored_rows) scratch.row_loss.resize(scored_rows);
  if (scratch.row_correct.size() < scored_rows) scratch.row_correct.resize(scored_rows);
  const std::size_t inputs = static_cast<std::size_t>(net.sizes[0]);
  if (scratch.columns.size() < inputs) scratch.columns.resize(inputs);
  if (scratch.column_used.size() < inputs) scratch.column_used.resize(inputs);
  if (scratch.compact_input.size() < inputs * rows) scratch.compact_input.resize(inputs * rows);
  if (scratch.batch_bytes.size() < inputs * rows) scratch.batch_bytes.resize(inputs * rows);
  reserve_prepared(scratch.prepared[0], net, rows);
  // The second batch serves every batch that train_batch prepares beside another, whatever the
  // workspace's rows (a library's caller may give room for more rows than a batch has).
  if (threads > 1) reserve_prepared(scratch.prepared[1], net, std::min(rows, kPreparedBesideRows));
  scratch.packs.resize(static_cast<std::size_t>(ctx.pool->size()));
  scratch.sparse_parts.resize(static_cast<std::size_t>(ctx.pool->size()) + 1);
  for (std::vector<float>& buffer : scratch.packs)
    if (buffer.size() < pack) buffer.resize(pack);
  if (threads > 1) {
    scratch.lanes.resize(static_cast<std::size_t>(threads) - 1);
    for (Scratch& lane : scratch.lanes) {
      reserve_scratch(calling_thread(ctx, lane), net, lane_rows);
      lane.lane_workspace = evaluation_workspace(net, lane_rows, lane.lane_floats);
    }
  }
}

std::size_t Layers::weight_offset(int l) const {
  std::size_t offset = 0;
  for (int i = 0; i < l; i++) offset += static_cast<std::size_t>(sizes[i]) * sizes[i + 1] + (bias ? sizes[i + 1] : 0);
  return offset;
}

void forward(const Context& ctx, const Layers& net, const float* x, int rows, Workspace& ws, const DropoutMask* mask) {
  const Samples batch = {x, nullptr, nullptr, nullptr, rows};
  forward_layers(ctx, net, first_layer_input(ctx, batch, net.sizes[0], net.sizes[1], ws), rows, ws, mask);
  output_step(ctx, net, rows, nullptr, ws, nullptr, nullptr);
}

void gradients(const Context& ctx, const Layers& net, const Samples& samples, Workspace& ws, const DropoutMask* mask) {
  PreparedBatch& prepared = ctx.scratch->prepared[0];
  prepare_into(ctx, net, samples, nullptr, 0, samples.count, prepared);
  const BatchInput batch = batch_input(ctx, net, samples, nullptr, 0, samples.count, prepared, ws);
  backward_layers(ctx, net, batch.input, batch.samples, batch.samples.count, ws,
                  {Update::Kind::Gradient, 0.0f, nullptr, nullptr}, mask);
}

void prepare_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows) {
  prepare_into(ctx, net, data, order, start, rows, ctx.scratch->prepared[ctx.scratch->current]);
}

double train_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows, int next_rows, const Optimizer& opt, OptimizerState& state, Workspace& ws) {
  Scratch& scratch = *ctx.scratch;
  PreparedBatch& prepared = scratch.prepared[scratch.current];
  const bool beside =
      next_rows > 0 && ctx.pool->size() > 1 && rows <= kPreparedBesideRows && !worth_splitting(net, rows, prepared);
  const int next = beside ? 1 - scratch.current : scratch.current;
  double error_sum = 0.0;
  if (beside) {
    // The training stays on the caller, whose caches hold the weights; the next batch is prepared
    // by any thread, the caller too when no other is free.
    ctx.pool->run_beside(
        [&] {
          error_sum =
              train_prepared(calling_thread(ctx, scratch), net, data, order, start, rows, prepared, opt, state, ws);
        },
        [&] { prepare_into(ctx, net, data, order, start + rows, next_rows, scratch.prepared[next]); });
  } else {
    error_sum = train_prepared(ctx, net, data, order, start, rows, prepared, opt, state, ws);
    if (next_rows > 0) prepare_into(ctx, net, data, order, start + rows, next_rows, scratch.prepared[next]);
  }
  scratch.current = next;
  return error_sum;
}

Samples batch_rows(const Context& ctx, const Samples& data, const std::uint32_t* order, int start, int rows,
                   const Layers& net, Workspace& ws) {
  const std::size_t features = static_cast<std::size_t>(net.sizes[0]);
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  if (!order) {
    const std::size_t first = static_cast<std::size_t>(start);
    return {data.x ? data.x + first * features : nullptr, data.x ? nullptr : data.x_bytes + first * features,
            data.labels ? data.labels + first : nullptr, data.targets ? data.targets + first * outputs : nullptr, rows};
  }
  std::uint8_t* batch_bytes = ctx.scratch->batch_bytes.data();
  for (int r = 0; r < rows; r++) {
    const std::size_t i = order[start + r];
    if (data.x) {
      std::memcpy(ws.batch_x + r * features, data.x + i * features, sizeof(float) * features);
    } else {
      std::memcpy(batch_bytes + r * features, data.x_bytes + i * features, features);
    }
    if (data.labels) ws.batch_labels[r] = data.labels[i];
    if (data.targets) std::memcpy(ws.batch_targets + r * outputs, data.targets + i * outputs, sizeof(float) * outputs);
  }
  return {data.x ? ws.batch_x : nullptr, data.x ? nullptr : batch_bytes, data.labels ? ws.batch_labels : nullptr,
          data.targets ? ws.batch_targets : nullptr, rows};
}

Evaluation evaluate(const Context& ctx, const Layers& net, const Samples& data, Workspace& ws) {
  Scratch& scratch = *ctx.scratch;
  const int threads = ctx.pool->size();
  const int chunk_rows = evaluation_chunk_rows(data.count, threads, ws.rows);
  const int round_rows = chunk_rows * kChunksPerRound * threads;
  Evaluation eval = {0.0, 0};
  for (int round = 0; round < data.count; round += round_rows) {
    const int rows_in_round = std::min(round_rows, data.count - round);
    ctx.pool->run((rows_in_round + chunk_rows - 1) / chunk_rows, [&](int chunk, int thread) {
      const Context lane = calling_thread(ctx, thread == 0 ? scratch : scratch.lanes[thread - 1]);
      Workspace& lane_ws = thread == 0 ? ws : scratch.lanes[thread - 1].lane_workspace;
      const int first = chunk * chunk_rows;
      const int rows = std::min(chunk_rows, rows_in_round - first);
      const Samples scored = batch_rows(lane, data, nullptr, round + first, rows, net, lane_ws);
      forward_layers(lane, net, first_layer_input(lane, scored, net.sizes[0], net.sizes[1], lane_ws), rows, lane_ws,
                     nullptr);
      output_step(lane, net, rows, &scored, lane_ws, scratch.row_loss.data() + first,
                  scratch.row_correct.data() + first);
    });
    add_rows(eval, scratch.row_loss.data(), scratch.row_correct.data(), rows_in_round, data.labels != nullptr);
  }
  return eval;
}

}  // namespace backprop
