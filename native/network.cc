#include "network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace backprop {
namespace {

// Below this many multiply-adds a GEMM runs on the calling thread: waking the others costs more.
constexpr double kParallelWork = 256.0 * 1024.0;
constexpr int kEvalRows = 1000;
// Below this many logits the softmax runs on the calling thread.
constexpr int kParallelSoftmax = 2000;

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
  ctx.pool->run([&](int t) {
    const int begin = std::min(extent, t * block);
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
    ctx.kernels->gemm(part, packs[t].data());
  });
}

// The first layer's input as its products read it: x itself (rows × C), or, when enough inputs are
// zero in every row of the batch (blank MNIST pixels), only the other columns, copied side by side,
// with the column of x each came from. Dropped columns only ever add exact zeros.
struct Input {
  const float* x;
  int width;
  const int* columns;
};

// Below this share of non-zero columns the first layer works on the compacted input.
constexpr double kCompactBelow = 0.9;

// Finding the zero columns is one more pass over the batch's input; it pays for itself when each
// dropped input saves many multiply-adds (a wide first layer) or when most inputs are dropped
// (a few MNIST images have few pixels in common; a hundred share half of them).
bool worth_compacting(int rows, int outputs) { return outputs >= 64 || rows <= 16; }

Input first_layer_input(const Context& ctx, const float* x, int rows, int C, int outputs) {
  if (!worth_compacting(rows, outputs)) return {x, C, nullptr};
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
  if (width >= kCompactBelow * C) return {x, C, nullptr};
  float* compact = scratch.compact_input.data();
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    float* out = compact + static_cast<std::size_t>(r) * width;
    for (int i = 0; i < width; i++) out[i] = row[columns[i]];
  }
  return {compact, width, columns};
}

// logits is (rows, classes), overwritten with softmax probabilities. Works in double, subtracting
// the row maximum so exp cannot overflow. With labels, row_loss[r] gets the row's cross-entropy
// (computed from the logits, so never log 0) and row_correct[r] whether its largest logit is the label.
void softmax_rows(float* logits, int rows, int classes, const std::uint8_t* labels, double* row_loss,
                  std::uint8_t* row_correct) {
  double exps[kMaxClasses];
  for (int r = 0; r < rows; r++) {
    float* z = logits + static_cast<std::size_t>(r) * classes;
    int argmax = 0;
    for (int j = 1; j < classes; j++)
      if (z[j] > z[argmax]) argmax = j;
    const double max = z[argmax];
    double sum = 0.0;
    for (int j = 0; j < classes; j++) {
      exps[j] = std::exp(z[j] - max);
      sum += exps[j];
    }
    if (labels) {
      row_loss[r] = std::log(sum) - (z[labels[r]] - max);
      row_correct[r] = argmax == labels[r];
    }
    for (int j = 0; j < classes; j++) z[j] = static_cast<float>(exps[j] / sum);
  }
}

// softmax_rows over blocks of rows on the engine's threads; the losses are then summed in row order
// on this thread, so the total does not depend on the thread count.
void softmax(const Context& ctx, float* logits, int rows, int classes, const std::uint8_t* labels, Evaluation* eval) {
  Scratch& scratch = *ctx.scratch;
  const int threads = rows * classes < kParallelSoftmax ? 1 : ctx.pool->size();
  const int block = (rows + threads - 1) / threads;
  const auto run = [&](int t) {
    const int begin = std::min(rows, t * block);
    const int end = std::min(rows, begin + block);
    if (begin < end)
      softmax_rows(logits + static_cast<std::size_t>(begin) * classes, end - begin, classes, labels ? labels + begin : nullptr,
                   scratch.row_loss.data() + begin, scratch.row_correct.data() + begin);
  };
  if (threads == 1) {
    run(0);
  } else {
    ctx.pool->run(run);
  }
  if (!labels) return;
  for (int r = 0; r < rows; r++) {
    eval->loss_sum += scratch.row_loss[r];
    eval->correct += scratch.row_correct[r];
  }
}

// probs is (rows, classes); dlogits (rows, classes) is overwritten with the gradient of the mean
// cross-entropy with respect to the logits: (p - onehot) / rows.
void cross_entropy_backward(float* dlogits, const float* probs, const std::uint8_t* labels, int rows, int classes) {
  const double scale = 1.0f / static_cast<float>(rows);
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < classes; j++) {
      const std::size_t i = static_cast<std::size_t>(r) * classes + j;
      dlogits[i] = static_cast<float>((probs[i] - (labels[r] == j ? 1.0 : 0.0)) * scale);
    }
  }
}

// weight is (C, OC); transposed (OC, C) is overwritten, so that the backward product reads it by rows.
void transpose(float* transposed, const float* weight, int C, int OC) {
  for (int c = 0; c < C; c++)
    for (int o = 0; o < OC; o++) transposed[static_cast<std::size_t>(o) * C + c] = weight[static_cast<std::size_t>(c) * OC + o];
}

void forward_layers(const Context& ctx, const Layers& net, const Input& input, int rows, Workspace& ws) {
  for (int l = 0; l < net.count(); l++) {
    const int C = net.sizes[l];
    const int OC = net.sizes[l + 1];
    const bool hidden = l + 1 < net.count();
    const EpilogueArgs ep = {hidden ? Epilogue::BiasRelu : Epilogue::Bias, net.params + net.bias_offset(l), nullptr, 0.0f};
    const float* weight = net.params + net.weight_offset(l);
    if (l == 0) {
      // out (rows, OC) = input (rows, width) · the weight rows of its columns (width, OC)
      run_gemm(ctx, {ws.acts[0], OC, nullptr, input.x, input.width, 1, weight, OC, input.columns, rows, OC, input.width, ep});
    } else {
      run_gemm(ctx, {ws.acts[l], OC, nullptr, ws.acts[l - 1], C, 1, weight, OC, nullptr, rows, OC, C, ep});
    }
  }
}

// Either the gradient (into ws.grads) or the SGD step (into the parameters, scaled by -lr).
struct Update {
  bool sgd;
  float learning_rate;
};

void backward_layers(const Context& ctx, const Layers& net, const Input& input, const std::uint8_t* labels, int rows,
                     Workspace& ws, Update update) {
  const int last = net.count() - 1;
  float* delta = ws.deltas[0];
  cross_entropy_backward(delta, ws.acts[last], labels, rows, net.sizes[last + 1]);
  for (int l = last; l >= 0; l--) {
    const int C = net.sizes[l];
    const int OC = net.sizes[l + 1];
    float* weight = net.params + net.weight_offset(l);
    float* next = delta == ws.deltas[0] ? ws.deltas[1] : ws.deltas[0];
    // The error signal for the layer below needs this layer's weights before they are updated.
    if (l > 0) {
      float* transposed = ctx.scratch->transposed.data();
      transpose(transposed, weight, C, OC);
      const EpilogueArgs ep = {Epilogue::ReluMask, nullptr, ws.acts[l - 1], 0.0f};
      run_gemm(ctx, {next, C, nullptr, delta, OC, 1, transposed, C, nullptr, rows, C, OC, ep});
    }
    float* dweight = update.sgd ? weight : ws.grads + net.weight_offset(l);
    if (!update.sgd) std::fill(dweight, dweight + static_cast<std::size_t>(C) * OC, 0.0f);
    const float alpha = update.sgd ? -update.learning_rate : 1.0f;
    const EpilogueArgs accumulate = {Epilogue::Accumulate, nullptr, nullptr, alpha};
    // dweight (C, OC) += alpha · inpᵀ (C, rows) · delta (rows, OC): inpᵀ is read in place. For the
    // first layer only the rows of the input's columns change; the others get a zero gradient.
    if (l == 0) {
      run_gemm(ctx, {dweight, OC, input.columns, input.x, 1, input.width, delta, OC, nullptr, input.width, OC, rows, accumulate});
    } else {
      run_gemm(ctx, {dweight, OC, nullptr, ws.acts[l - 1], 1, C, delta, OC, nullptr, C, OC, rows, accumulate});
    }
    // The bias gradient is the column sums of delta; with SGD they go through ws.grads on their way.
    float* dbias = ws.grads + net.bias_offset(l);
    std::fill(dbias, dbias + OC, 0.0f);
    for (int r = 0; r < rows; r++) {
      const float* delta_row = delta + static_cast<std::size_t>(r) * OC;
      for (int o = 0; o < OC; o++) dbias[o] += delta_row[o];
    }
    if (update.sgd) {
      float* bias = net.params + net.bias_offset(l);
      for (int o = 0; o < OC; o++) bias[o] = std::fma(alpha, dbias[o], bias[o]);
    }
    delta = next;
  }
}

}  // namespace

void reserve_scratch(const Context& ctx, const Layers& net, int rows) {
  Scratch& scratch = *ctx.scratch;
  std::size_t transposed = 0;
  for (int l = 1; l < net.count(); l++) transposed = std::max(transposed, static_cast<std::size_t>(net.sizes[l]) * net.sizes[l + 1]);
  if (scratch.transposed.size() < transposed) scratch.transposed.resize(transposed);
  // The K of a product is a layer width (forward and backward) or the batch rows (weight gradient).
  const int longest_k = std::max(rows, *std::max_element(net.sizes.begin(), net.sizes.end()));
  const std::size_t pack = static_cast<std::size_t>(longest_k) * kPackColumns;
  scratch.row_loss.resize(std::max(scratch.row_loss.size(), static_cast<std::size_t>(rows)));
  scratch.row_correct.resize(std::max(scratch.row_correct.size(), static_cast<std::size_t>(rows)));
  const std::size_t inputs = static_cast<std::size_t>(net.sizes[0]);
  if (scratch.columns.size() < inputs) scratch.columns.resize(inputs);
  if (scratch.column_used.size() < inputs) scratch.column_used.resize(inputs);
  if (scratch.compact_input.size() < inputs * rows) scratch.compact_input.resize(inputs * rows);
  scratch.packs.resize(static_cast<std::size_t>(ctx.pool->size()));
  for (std::vector<float>& buffer : scratch.packs)
    if (buffer.size() < pack) buffer.resize(pack);
}


std::size_t Layers::weight_offset(int l) const {
  std::size_t offset = 0;
  for (int i = 0; i < l; i++) offset += static_cast<std::size_t>(sizes[i]) * sizes[i + 1] + sizes[i + 1];
  return offset;
}

void forward(const Context& ctx, const Layers& net, const float* x, int rows, Workspace& ws) {
  forward_layers(ctx, net, first_layer_input(ctx, x, rows, net.sizes[0], net.sizes[1]), rows, ws);
  softmax(ctx, ws.acts[net.count() - 1], rows, net.sizes.back(), nullptr, nullptr);
}

void gradients(const Context& ctx, const Layers& net, const float* x, const std::uint8_t* labels, int rows,
               Workspace& ws) {
  backward_layers(ctx, net, first_layer_input(ctx, x, rows, net.sizes[0], net.sizes[1]), labels, rows, ws, {false, 0.0f});
}

void train_batch(const Context& ctx, const Layers& net, const float* x, const std::uint8_t* labels, int rows,
                 float learning_rate, Workspace& ws) {
  const Input input = first_layer_input(ctx, x, rows, net.sizes[0], net.sizes[1]);
  forward_layers(ctx, net, input, rows, ws);
  softmax(ctx, ws.acts[net.count() - 1], rows, net.sizes.back(), nullptr, nullptr);
  backward_layers(ctx, net, input, labels, rows, ws, {true, learning_rate});
}

void gather_batch(const Samples& data, const std::uint32_t* order, int start, int rows, int features, Workspace& ws) {
  for (int r = 0; r < rows; r++) {
    const std::uint32_t i = order[start + r];
    std::memcpy(ws.batch_x + static_cast<std::size_t>(r) * features, data.x + static_cast<std::size_t>(i) * features,
                sizeof(float) * features);
    ws.batch_labels[r] = data.labels[i];
  }
}

Evaluation evaluate(const Context& ctx, const Layers& net, const Samples& data, Workspace& ws) {
  Evaluation eval = {0.0, 0};
  const int features = net.sizes[0];
  const int chunk = std::min(ws.rows, kEvalRows);
  for (int start = 0; start < data.count; start += chunk) {
    const int rows = std::min(chunk, data.count - start);
    const float* x = data.x + static_cast<std::size_t>(start) * features;
    forward_layers(ctx, net, first_layer_input(ctx, x, rows, features, net.sizes[1]), rows, ws);
    softmax(ctx, ws.acts[net.count() - 1], rows, net.sizes.back(), data.labels + start, &eval);
  }
  return eval;
}

}  // namespace backprop
