// The engine's checks of what a binding hands it, in plain C++: every binding (Node-API today, a
// WebAssembly export next) refuses the same values with the same messages, and the engine never
// reads past a buffer or indexes by a bad label. A binding converts its values and throws what a
// check returns as its own TypeError or RangeError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "network.h"

namespace backprop {

// The widest layer or input the engine takes.
constexpr int kMaxLayerSize = 1 << 20;
// The most layer sizes a network lists (inputs, hidden layers, outputs).
constexpr int kMaxLayerSizes = 64;

// A value the engine cannot take: a type error (the wrong kind of value) or a range error.
struct Invalid {
  bool type_error;
  std::string message;
};
using Check = std::optional<Invalid>;

// A whole number from min to max, named in the refusal (`max_name`, when given, says what bounds it:
// "rows must be an integer from 1 to ws.rows (100)").
Check check_integer(double value, const std::string& name, int min, int max, const std::string& max_name = "");
// Layer sizes as numbers (a value that is no number as NaN): 2 to 64, each an integer from 1 to
// kMaxLayerSize, the output no wider than the labels can name.
Check check_sizes(const std::vector<double>& sizes);
// One activation per layer, the hidden ones of the kinds a hidden layer may be, the loss fitting the output.
Check check_activations(const std::vector<Activation>& activations, Loss loss);
// Where each layer's parameters lie (weights[l], and biases[l] with biases, −1 without): whole
// numbers, the regions apart from each other, all within 2^53. On success, param_count is where the
// last region ends: the length `params` and `grads` must have.
struct Placed {
  Check invalid;
  std::size_t param_count;
};
Placed check_layout(const std::vector<int>& sizes, bool bias, const std::vector<double>& weights,
                    const std::vector<double>& biases);
// Each layer's noise as numbers: its kind (an index into BACKPROP_NOISE, −1 for none) and its rate,
// from 0 to the kind's highest (0 for none and for the output layer). On success, into `noise`.
Check check_noise(const std::vector<double>& kinds, const std::vector<double>& rates, std::vector<Noise>& noise);
// Every label below the network's classes (a label indexes the output row).
Check check_labels(const std::uint8_t* labels, std::size_t count, int classes, const std::string& name);
// Every sample index of an epoch's order below the number of samples.
Check check_order(const std::uint32_t* order, std::size_t length, int count);
// Each batch's learning rate finite and not negative.
Check check_rates(const float* rates, std::size_t batches);
// Every image's transform finite, its field −1 (none) or one of the bank's `fields`.
Check check_transforms(const double* params, int count, int per_image, std::size_t fields);
// A seed of the noise layers' draws: an integer that fits 32 bits.
Check check_seed(double seed, const std::string& name);
// A step count: a safe integer of 0 or more.
Check check_step(double step, const std::string& name);

}  // namespace backprop
