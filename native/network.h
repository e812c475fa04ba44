// Forward pass, backward pass and optimizer step of a stack of fully connected layers, over buffers
// borrowed from JavaScript. The arithmetic mirrors src/backends/ts.ts step for step (same order of
// every sum, one rounding per step), so the two backends agree to rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels.h"
#include "noise.h"
#include "thread_pool.h"

namespace backprop {

enum class Loss { BACKPROP_LOSSES(BACKPROP_ENUMERATOR) };

// Layer l maps sizes[l] inputs to sizes[l+1] outputs through activations[l]; its weight
// (sizes[l] × sizes[l+1], row-major) starts at weights[l] in `params` and, with `bias`, its bias at
// biases[l]: the layout TypeScript computed (src/backends/layers.ts), checked by check_layout.
// `grads` has the same layout. The last layer is the output: softmax with cross-entropy,
// or an element-wise output with the squared error ½·Σ(y − t)². While training, layer l's output
// gets its noise noise[l] (a rate of 0: none; the output layer's is 0), drawn from noise_seed and
// the step count.
struct Layers {
  std::vector<int> sizes;
  std::vector<Activation> activations;
  Loss loss;
  bool bias;
  float* params;
  std::size_t param_count;
  std::vector<std::size_t> weights;
  std::vector<std::size_t> biases;
  std::vector<Noise> noise;
  std::uint32_t noise_seed = 0;

  int count() const { return static_cast<int>(sizes.size()) - 1; }
  std::size_t weight_offset(int l) const { return weights[static_cast<std::size_t>(l)]; }
  std::size_t bias_offset(int l) const { return biases[static_cast<std::size_t>(l)]; }
  bool noised(int l) const { return l < static_cast<int>(noise.size()) && noise[l].rate > 0.0; }
  bool has_noise() const {
    for (int l = 0; l < count(); l++)
      if (noised(l)) return true;
    return false;
  }
};

// Whether a layer keeps its pre-activation z (tables.h): the derivative of GELU and SiLU is taken
// from z, which their output y does not determine.
inline bool keeps_pre_activation(Activation activation) {
#define BACKPROP_KEEPS_Z(enumerator, name, keeps_z, hidden, off_target) keeps_z,
  constexpr bool kKeepsZ[] = {BACKPROP_ACTIVATIONS(BACKPROP_KEEPS_Z)};
#undef BACKPROP_KEEPS_Z
  return kKeepsZ[static_cast<int>(activation)];
}

// Scratch for up to `rows` samples, as laid out by the TypeScript Workspace.
struct Workspace {
  int rows;
  std::vector<float*> acts;     // acts[l] is layer l's output, rows × sizes[l+1]
  std::vector<float*> pre;      // pre[l] its pre-activation z, kept when keeps_pre_activation (else null)
  std::vector<float*> noisy;    // noisy[l] the output after its noise, factors[l] each unit's factor,
  std::vector<float*> factors;  // rows × sizes[l+1] each, for a layer with noise (else null)
  float* deltas[2];             // rows × widest layer each
  float* grads;
  float* batch_x;  // rows × sizes[0], for gathering shuffled samples
  std::uint8_t* batch_labels;
  float* batch_targets;  // rows × outputs
};

// Samples with class labels, or targets (count × outputs) for the squared error, or both. Their
// features are floats (x), or bytes that stand for byte / 255 (x_bytes: image pixels as the files
// hold them), which every batch widens to floats in the workspace before the products read them.
struct Samples {
  const float* x;
  const std::uint8_t* x_bytes;
  const std::uint8_t* labels;
  const float* targets;
  int count;
};

// The optimizers are the step kernels' kinds (kernels.h).
using OptimizerKind = StepKind;

struct Optimizer {
  OptimizerKind kind;
  float learning_rate;
  float momentum;
  double beta1, beta2, epsilon;
  float weight_decay;  // on weights, not biases
};

// The optimizer's state in the layout of the parameters (see OptimizerState in backend.ts).
struct OptimizerState {
  float* first;
  float* second;
  double* scalars;  // step, beta1^step, beta2^step
};

// The engine's buffers between calls (engine.h), owned by whoever runs it: make_scratch's.
struct Scratch;
struct ScratchDeleter {
  void operator()(Scratch* scratch) const;
};
using ScratchPtr = std::unique_ptr<Scratch, ScratchDeleter>;
ScratchPtr make_scratch();

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

// Fills ws.acts for `rows` samples; the last layer ends as the network's output (softmax
// probabilities for cross-entropy). With a mask, as in training: the layers with noise get it.
void forward(const Context& ctx, const Layers& net, const float* x, int rows, Workspace& ws, const NoiseMask* mask);

// The mean gradient of the error over the batch into ws.grads (after forward, with its mask).
void gradients(const Context& ctx, const Layers& net, const Samples& batch, Workspace& ws, const NoiseMask* mask);

// The batch order[start…start+rows) of data (start… without an order) into the engine's current
// prepared batch.
void prepare_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows);

// One batch, the current prepared one: forward, backward and the optimizer step. Plain SGD without
// weight decay is fused into the weight-gradient products; the other optimizers step from the
// gradient in ws.grads. Then the batch of next_rows samples after it (none when 0) is prepared:
// with more than one thread, on another thread while this one trains, when the batch's products are
// too small to split. Returns the batch's error summed over its rows (before the step), for a
// running average.
double train_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows, int next_rows, const Optimizer& opt, OptimizerState& state, Workspace& ws);

// Samples order[start…start+rows) of data, or start…start+rows without an order, as contiguous rows:
// in place, or copied into the workspace's batch buffers (bytes into the scratch's); byte features
// stay bytes, which the first layer widens as it reads them.
Samples batch_rows(const Context& ctx, const Samples& data, const std::uint32_t* order, int start, int rows,
                   const Layers& net, Workspace& ws);

// One epoch over the samples order[first…visits) (or first, first+1, … visits−1 when order is null);
// the last batch may be short. `on_batch(done, error_sum)` is called after each batch with the
// visits done so far and the error summed over them; when it returns false the epoch stops there.
// Returns the visits done.
// `rates`, when not null, is the learning rate of each batch of the epoch (a schedule's).
template <typename OnBatch>
int train_epoch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int first,
                int visits, int batch_size, const Optimizer& opt, const float* rates, OptimizerState& state,
                Workspace& ws, OnBatch on_batch) {
  const auto rows_at = [&](int start) {
    return start >= visits ? 0 : visits - start < batch_size ? visits - start : batch_size;
  };
  double error_sum = 0.0;
  Optimizer step = opt;
  if (first < visits) prepare_batch(ctx, net, data, order, first, rows_at(first));
  for (int start = first; start < visits; start += batch_size) {
    const int rows = rows_at(start);
    if (rates) step.learning_rate = rates[start / batch_size];
    error_sum += train_batch(ctx, net, data, order, start, rows, rows_at(start + rows), step, state, ws);
    if (!on_batch(start + rows, error_sum)) return start + rows;
  }
  return visits;
}

// The error summed over the samples, and the number whose largest output is the label.
Evaluation evaluate(const Context& ctx, const Layers& net, const Samples& data, Workspace& ws);

}  // namespace backprop
