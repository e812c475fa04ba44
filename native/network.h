// Forward pass, backward pass and SGD update of a stack of fully connected layers (ReLU hidden
// layers, softmax output, mean cross-entropy error), over buffers borrowed from JavaScript.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace backprop {

// Layer l maps sizes[l] inputs to sizes[l+1] outputs; its weight (sizes[l] × sizes[l+1], row-major)
// and then its bias follow the previous layer's in `params`. `grads` has the same layout.
// Labels are bytes, so an output layer has at most this many classes (the binding checks it).
constexpr int kMaxClasses = 256;

struct Layers {
  std::vector<int> sizes;
  float* params;

  int count() const { return static_cast<int>(sizes.size()) - 1; }
  std::size_t weight_offset(int l) const;
  std::size_t bias_offset(int l) const { return weight_offset(l) + static_cast<std::size_t>(sizes[l]) * sizes[l + 1]; }
  std::size_t param_count() const { return weight_offset(count()); }
};

// Scratch for up to `rows` samples, as laid out by the TypeScript Workspace.
struct Workspace {
  int rows;
  std::vector<float*> acts;  // acts[l] is layer l's output, rows × sizes[l+1]
  float* deltas[2];          // rows × widest layer each
  float* grads;
  float* batch_x;  // rows × sizes[0], for gathering shuffled samples
  std::uint8_t* batch_labels;
};

struct Samples {
  const float* x;
  const std::uint8_t* labels;
  int count;
};

// Buffers the engine keeps between calls; they grow to the largest shape once, before any batch runs.
struct Scratch {
  std::vector<float> transposed;          // a weight matrix, transposed for the backward product
  std::vector<std::vector<float>> packs;  // one GEMM packing buffer per thread
  std::vector<int> columns;               // the first layer's non-zero input columns in a batch
  std::vector<std::uint8_t> column_used;
  std::vector<float> compact_input;       // the batch's input, only those columns
  std::vector<double> row_loss;           // per-row cross-entropy of an evaluated chunk
  std::vector<std::uint8_t> row_correct;  // and whether the row was classified right
};

// What the engine brings to every call: the kernels it was built with, its threads and its scratch.
struct Context {
  const Kernels* kernels;
  ThreadPool* pool;
  Scratch* scratch;
};

struct Evaluation {
  double loss_sum;
  std::int64_t correct;
};

// Grows the engine's scratch for this network and up to `rows` samples per product. Every entry
// point below expects it to have been called: none of them allocates.
void reserve_scratch(const Context& ctx, const Layers& net, int rows);

// Fills ws.acts for `rows` samples; the last layer ends as softmax probabilities.
void forward(const Context& ctx, const Layers& net, const float* x, int rows, Workspace& ws);

// The mean gradient of the error over the batch into ws.grads (after forward).
void gradients(const Context& ctx, const Layers& net, const float* x, const std::uint8_t* labels, int rows,
               Workspace& ws);

// Minibatch SGD over the samples in `order` (or 0, 1, 2, … when null); the last batch may be short.
// `on_batch(done)` is called after each batch with the number of samples done so far.
template <typename OnBatch>
void train_epoch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order,
                 int batch_size, float learning_rate, Workspace& ws, OnBatch on_batch);

// Loss summed over the samples and the number whose most probable class is the label.
Evaluation evaluate(const Context& ctx, const Layers& net, const Samples& data, Workspace& ws);

// One batch: forward, backward, and the SGD update fused into the weight-gradient products.
void train_batch(const Context& ctx, const Layers& net, const float* x, const std::uint8_t* labels, int rows,
                 float learning_rate, Workspace& ws);

void gather_batch(const Samples& data, const std::uint32_t* order, int start, int rows, int features, Workspace& ws);

template <typename OnBatch>
void train_epoch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order,
                 int batch_size, float learning_rate, Workspace& ws, OnBatch on_batch) {
  const int features = net.sizes[0];
  for (int start = 0; start < data.count; start += batch_size) {
    const int rows = data.count - start < batch_size ? data.count - start : batch_size;
    if (order) {
      gather_batch(data, order, start, rows, features, ws);
      train_batch(ctx, net, ws.batch_x, ws.batch_labels, rows, learning_rate, ws);
    } else {
      train_batch(ctx, net, data.x + static_cast<std::size_t>(start) * features, data.labels + start, rows,
                  learning_rate, ws);
    }
    on_batch(start + rows);
  }
}

}  // namespace backprop
