// The WebAssembly boundary: the engine's entry points as C functions over the module's own memory,
// for src/backends/wasm.ts. Each call reads a record of numbers (pointers into the memory, sizes,
// names as indices into the generated tables) that TypeScript wrote, checks the values with
// validate.cc as the addon does, and returns 0 (or what it counts), or minus the kind of error with
// its message in bp_error_message(). There are no threads: the engine runs on the caller.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "augment.h"
#include "cpu_features.h"
#include "network.h"
#include "thread_pool.h"
#include "validate.h"

#define BP_EXPORT(name) extern "C" __attribute__((export_name(#name)))

// After every batch of an epoch: TypeScript's run policy (progress, stop, divergence) says whether
// to go on (non-zero) or stop there (0).
extern "C" __attribute__((import_module("backprop"), import_name("batch_done"))) int batch_done(int done,
                                                                                                double error_sum);

namespace backprop {
namespace {

constexpr int kOk = 0;
constexpr int kTypeError = 1;
constexpr int kRangeError = 2;

std::string last_error;

int fail(const Invalid& invalid) {
  last_error = invalid.message;
  return invalid.type_error ? -kTypeError : -kRangeError;
}

struct Engine {
  const Kernels* kernels = best_kernels(~0u);
  ThreadPool pool{1};
  ScratchPtr scratch = make_scratch();
  Context context() { return {kernels, &pool, scratch.get()}; }
};

template <typename T>
T* at(double address) {
  return address == 0 ? nullptr : reinterpret_cast<T*>(static_cast<std::uintptr_t>(address));
}

// The network record: L, loss, bias, params, then sizes[L + 1], activations[L], weights[L],
// biases[L], noise kinds[L] (−1: none), noise rates[L].
Check read_net(const double* record, Layers& net) {
  const int count = static_cast<int>(record[0]);
  const double* sizes = record + 4;
  const double* activations = sizes + count + 1;
  const double* weights = activations + count;
  const double* biases = weights + count;
  const double* noise_kinds = biases + count;
  const double* noise_rates = noise_kinds + count;
  if (Check invalid = check_sizes(std::vector<double>(sizes, sizes + count + 1))) return invalid;
  for (int l = 0; l <= count; l++) net.sizes.push_back(static_cast<int>(sizes[l]));
  for (int l = 0; l < count; l++) net.activations.push_back(static_cast<Activation>(static_cast<int>(activations[l])));
  net.loss = static_cast<Loss>(static_cast<int>(record[1]));
  if (Check invalid = check_activations(net.activations, net.loss)) return invalid;
  net.bias = record[2] != 0;
  const Placed placed = check_layout(net.sizes, net.bias, std::vector<double>(weights, weights + count),
                                     std::vector<double>(biases, biases + count));
  if (placed.invalid) return placed.invalid;
  net.param_count = placed.param_count;
  for (int l = 0; l < count; l++) {
    net.weights.push_back(static_cast<std::size_t>(weights[l]));
    net.biases.push_back(net.bias ? static_cast<std::size_t>(biases[l]) : 0);
  }
  if (Check invalid = check_noise(std::vector<double>(noise_kinds, noise_kinds + count),
                                  std::vector<double>(noise_rates, noise_rates + count), net.noise))
    return invalid;
  net.params = at<float>(record[3]);
  return std::nullopt;
}

// The workspace record: rows, grads, batch_x, batch_labels, batch_targets, deltas[2], then acts[L],
// pre[L], noisy[L], factors[L] (0 where a layer has none).
Workspace read_workspace(const double* record, const Layers& net) {
  const int count = net.count();
  Workspace ws;
  ws.rows = static_cast<int>(record[0]);
  ws.grads = at<float>(record[1]);
  ws.batch_x = at<float>(record[2]);
  ws.batch_labels = at<std::uint8_t>(record[3]);
  ws.batch_targets = at<float>(record[4]);
  ws.deltas[0] = at<float>(record[5]);
  ws.deltas[1] = at<float>(record[6]);
  for (int l = 0; l < count; l++) {
    ws.acts.push_back(at<float>(record[7 + l]));
    ws.pre.push_back(at<float>(record[7 + count + l]));
    ws.noisy.push_back(at<float>(record[7 + 2 * count + l]));
    ws.factors.push_back(at<float>(record[7 + 3 * count + l]));
  }
  return ws;
}

// The samples record: x, whether x holds bytes, labels, targets, count.
Check read_samples(const double* record, const Layers& net, Samples& samples, const std::string& name) {
  const bool bytes = record[1] != 0;
  samples = {bytes ? nullptr : at<float>(record[0]), bytes ? at<std::uint8_t>(record[0]) : nullptr,
             at<std::uint8_t>(record[2]), at<float>(record[3]), static_cast<int>(record[4])};
  if (samples.labels) return check_labels(samples.labels, samples.count, net.sizes.back(), name);
  return std::nullopt;
}

Check read_mask(double seed, double step, NoiseMask& mask) {
  if (Check invalid = check_seed(seed, "mask.seed")) return invalid;
  if (Check invalid = check_step(step, "mask.step")) return invalid;
  mask = {static_cast<std::uint32_t>(seed), step};
  return std::nullopt;
}

}  // namespace
}  // namespace backprop

using namespace backprop;

BP_EXPORT(bp_alloc) void* bp_alloc(std::size_t bytes) { return std::malloc(bytes == 0 ? 1 : bytes); }
BP_EXPORT(bp_free) void bp_free(void* pointer) { std::free(pointer); }
BP_EXPORT(bp_error_message) const char* bp_error_message() { return last_error.c_str(); }

BP_EXPORT(bp_engine_new) Engine* bp_engine_new() { return new Engine(); }
BP_EXPORT(bp_engine_isa) const char* bp_engine_isa(Engine* engine) { return engine->kernels->isa; }

// forward: layer outputs into the workspace; with a mask seed ≥ 0, as in training.
BP_EXPORT(bp_forward)
int bp_forward(Engine* engine, const double* net_record, const float* x, int rows, const double* ws_record,
               double mask_seed, double mask_step) {
  Layers net;
  if (Check invalid = read_net(net_record, net)) return fail(*invalid);
  Workspace ws = read_workspace(ws_record, net);
  if (Check invalid = check_integer(rows, "rows", 1, ws.rows, "ws.rows")) return fail(*invalid);
  NoiseMask mask{};
  if (mask_seed >= 0)
    if (Check invalid = read_mask(mask_seed, mask_step, mask)) return fail(*invalid);
  reserve_scratch(engine->context(), net, ws.rows);
  forward(engine->context(), net, x, rows, ws, mask_seed >= 0 ? &mask : nullptr);
  return kOk;
}

BP_EXPORT(bp_gradients)
int bp_gradients(Engine* engine, const double* net_record, const double* batch_record, const double* ws_record,
                 double mask_seed, double mask_step) {
  Layers net;
  if (Check invalid = read_net(net_record, net)) return fail(*invalid);
  Workspace ws = read_workspace(ws_record, net);
  Samples batch;
  if (Check invalid = read_samples(batch_record, net, batch, "batch")) return fail(*invalid);
  NoiseMask mask{};
  if (mask_seed >= 0)
    if (Check invalid = read_mask(mask_seed, mask_step, mask)) return fail(*invalid);
  reserve_scratch(engine->context(), net, ws.rows);
  gradients(engine->context(), net, batch, ws, mask_seed >= 0 ? &mask : nullptr);
  return kOk;
}

// The epoch record: batch size, optimizer (kind, rate, momentum, β1, β2, ε, decay), its state
// (first, second, scalars), order and its length (0: the samples in order), the first visit, the
// rates (0: the optimizer's), the noise seed. Returns the visits done.
BP_EXPORT(bp_train_epoch)
int bp_train_epoch(Engine* engine, const double* net_record, const double* data_record, const double* epoch,
                   const double* ws_record) {
  Layers net;
  if (Check invalid = read_net(net_record, net)) return fail(*invalid);
  Workspace ws = read_workspace(ws_record, net);
  Samples data;
  if (Check invalid = read_samples(data_record, net, data, "data")) return fail(*invalid);
  if (Check invalid = check_integer(epoch[0], "batchSize", 1, ws.rows)) return fail(*invalid);
  const int batch_size = static_cast<int>(epoch[0]);
  const Optimizer optimizer = {static_cast<OptimizerKind>(static_cast<int>(epoch[1])),
                               static_cast<float>(epoch[2]),
                               static_cast<float>(epoch[3]),
                               epoch[4],
                               epoch[5],
                               epoch[6],
                               static_cast<float>(epoch[7])};
  OptimizerState state = {at<float>(epoch[8]), at<float>(epoch[9]), at<double>(epoch[10])};
  const std::uint32_t* order = at<std::uint32_t>(epoch[11]);
  const int visits = order ? static_cast<int>(epoch[12]) : data.count;
  if (order)
    if (Check invalid = check_order(order, static_cast<std::size_t>(visits), data.count)) return fail(*invalid);
  if (Check invalid = check_integer(epoch[13], "start", 0, visits)) return fail(*invalid);
  const float* rates = at<float>(epoch[14]);
  if (rates)
    if (Check invalid = check_rates(rates, static_cast<std::size_t>((visits + batch_size - 1) / batch_size)))
      return fail(*invalid);
  if (Check invalid = check_seed(epoch[15], "options.noiseSeed")) return fail(*invalid);
  net.noise_seed = static_cast<std::uint32_t>(epoch[15]);
  reserve_scratch(engine->context(), net, ws.rows);
  return train_epoch(engine->context(), net, data, order, static_cast<int>(epoch[13]), visits, batch_size, optimizer,
                     rates, state, ws, [](int done, double error_sum) { return batch_done(done, error_sum) != 0; });
}

// The summed error and the correct predictions into result[0], result[1].
BP_EXPORT(bp_evaluate)
int bp_evaluate(Engine* engine, const double* net_record, const double* data_record, const double* ws_record,
                double* result) {
  Layers net;
  if (Check invalid = read_net(net_record, net)) return fail(*invalid);
  Workspace ws = read_workspace(ws_record, net);
  Samples data;
  if (Check invalid = read_samples(data_record, net, data, "data")) return fail(*invalid);
  reserve_scratch(engine->context(), net, ws.rows);
  const Evaluation evaluation = evaluate(engine->context(), net, data, ws);
  result[0] = evaluation.loss_sum;
  result[1] = static_cast<double>(evaluation.correct);
  return kOk;
}

BP_EXPORT(bp_augment)
int bp_augment(Engine* engine, const std::uint8_t* images, int count, int rows, int cols, const double* params,
               const float* bank, int fields, std::uint8_t* out) {
  if (rows < 1 || cols < 1 || rows > kMaxWarpCols || cols > kMaxWarpCols)
    return fail({false, "job.rows and job.cols must be from 1 to " + std::to_string(kMaxWarpCols)});
  if (Check invalid = check_transforms(params, count, kParamsPerImage, static_cast<std::size_t>(fields)))
    return fail(*invalid);
  warp_images(engine->context(), images, count, rows, cols, params, bank, out);
  return kOk;
}
