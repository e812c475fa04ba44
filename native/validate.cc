#include "validate.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "tables.h"

namespace backprop {
namespace {

Invalid range(std::string message) { return {false, std::move(message)}; }

bool whole(double value) { return std::isfinite(value) && std::floor(value) == value; }

constexpr const char* kActivationNames[] = {BACKPROP_ACTIVATIONS(BACKPROP_NAME)};
#define BACKPROP_HIDDEN(enumerator, name, keeps_z, hidden, off_target) hidden,
constexpr bool kHiddenAllowed[] = {BACKPROP_ACTIVATIONS(BACKPROP_HIDDEN)};
#undef BACKPROP_HIDDEN

}  // namespace

Check check_integer(double value, const std::string& name, int min, int max, const std::string& max_name) {
  if (whole(value) && value >= min && value <= max) return std::nullopt;
  const std::string most = max_name.empty() ? std::to_string(max) : max_name + " (" + std::to_string(max) + ")";
  return range(name + " must be an integer from " + std::to_string(min) + " to " + most);
}

Check check_sizes(const std::vector<double>& sizes) {
  if (sizes.size() < 2 || sizes.size() > kMaxLayerSizes) return range("net.sizes must list 2 to 64 layer sizes");
  for (std::size_t i = 0; i < sizes.size(); i++) {
    if (!(sizes[i] >= 1 && sizes[i] <= kMaxLayerSize) || !whole(sizes[i]))
      return range("net.sizes[" + std::to_string(i) + "] must be an integer from 1 to " +
                   std::to_string(kMaxLayerSize));
  }
  if (sizes.back() > kMaxClasses)
    return range("net.sizes: the output layer has more than " + std::to_string(kMaxClasses) +
                 " units (labels are bytes)");
  return std::nullopt;
}

Check check_activations(const std::vector<Activation>& activations, Loss loss) {
  for (std::size_t l = 0; l + 1 < activations.size(); l++) {
    const int activation = static_cast<int>(activations[l]);
    if (!kHiddenAllowed[activation])
      return range("net.activations[" + std::to_string(l) + "]: a hidden layer cannot be " +
                   kActivationNames[activation]);
  }
  if ((loss == Loss::CrossEntropy) != (activations.back() == Activation::Softmax))
    return range("net.loss: cross-entropy goes with a softmax output, mse with any other");
  return std::nullopt;
}

Placed check_layout(const std::vector<int>& sizes, bool bias, const std::vector<double>& weights,
                    const std::vector<double>& biases) {
  constexpr double kMaxOffset = 9007199254740992.0;  // 2^53: every offset is exact in a double
  std::vector<std::pair<double, double>> regions;
  for (std::size_t l = 0; l + 1 < sizes.size(); l++) {
    const std::string at = "net.layout[" + std::to_string(l) + "]";
    const double weight_end = weights[l] + static_cast<double>(sizes[l]) * sizes[l + 1];
    if (!whole(weights[l]) || weights[l] < 0 || weight_end > kMaxOffset)
      return {range(at + ".weight must be an offset into net.params"), 0};
    regions.emplace_back(weights[l], weight_end);
    if (!bias) {
      if (biases[l] != -1) return {range(at + ".bias must be -1: the network has no biases"), 0};
      continue;
    }
    const double bias_end = biases[l] + sizes[l + 1];
    if (!whole(biases[l]) || biases[l] < 0 || bias_end > kMaxOffset)
      return {range(at + ".bias must be an offset into net.params"), 0};
    regions.emplace_back(biases[l], bias_end);
  }
  std::sort(regions.begin(), regions.end());
  for (std::size_t i = 1; i < regions.size(); i++)
    if (regions[i].first < regions[i - 1].second) return {range("net.layout: two layers' parameters overlap"), 0};
  return {std::nullopt, regions.empty() ? 0 : static_cast<std::size_t>(regions.back().second)};
}

Check check_noise(const std::vector<double>& kinds, const std::vector<double>& rates, std::vector<Noise>& noise) {
#define BACKPROP_MAX_RATE(enumerator, name, max_rate) max_rate,
  constexpr double kMaxRates[] = {BACKPROP_NOISE(BACKPROP_MAX_RATE)};
#undef BACKPROP_MAX_RATE
  constexpr int kKinds = static_cast<int>(sizeof kMaxRates / sizeof kMaxRates[0]);
  noise.clear();
  for (std::size_t l = 0; l < kinds.size(); l++) {
    const std::string at = "net.noise[" + std::to_string(l) + "]";
    const double kind = kinds[l];
    if (!(kind == -1.0 || (kind >= 0.0 && kind < kKinds && kind == std::floor(kind))))
      return range(at + ".kind must be a noise kind");
    const bool output = l + 1 == kinds.size();
    const double most = kind < 0 || output ? 0.0 : kMaxRates[static_cast<int>(kind)];
    if (!(rates[l] >= 0.0 && rates[l] <= most))
      return range(at + ".rate must be a rate from 0 to " + std::to_string(most));
    noise.push_back({kind < 0 ? NoiseKind{} : static_cast<NoiseKind>(static_cast<int>(kind)), rates[l]});
  }
  return std::nullopt;
}

Check check_labels(const std::uint8_t* labels, std::size_t count, int classes, const std::string& name) {
  for (std::size_t i = 0; i < count; i++)
    if (labels[i] >= classes)
      return range(name + ".labels[" + std::to_string(i) + "] is " + std::to_string(labels[i]) +
                   ", but the network has " + std::to_string(classes) + " classes");
  return std::nullopt;
}

Check check_order(const std::uint32_t* order, std::size_t length, int count) {
  if (length > (std::size_t{1} << 30)) return range("options.order is longer than 2^30");
  for (std::size_t i = 0; i < length; i++)
    if (order[i] >= static_cast<std::uint32_t>(count))
      return range("options.order[" + std::to_string(i) + "] is not a sample index below " + std::to_string(count));
  return std::nullopt;
}

Check check_rates(const float* rates, std::size_t batches) {
  for (std::size_t i = 0; i < batches; i++)
    if (!std::isfinite(rates[i]) || rates[i] < 0.0f)
      return range("options.learningRates[" + std::to_string(i) + "] is not a finite rate of 0 or more");
  return std::nullopt;
}

Check check_transforms(const double* params, int count, int per_image, std::size_t fields) {
  for (int i = 0; i < count; i++) {
    const double* p = params + static_cast<std::size_t>(i) * per_image;
    for (int k = 0; k < per_image; k++)
      if (!std::isfinite(p[k])) return range("job.params of image " + std::to_string(i) + " are not all finite");
    if (p[4] != -1 && !(whole(p[4]) && p[4] >= 0 && p[4] < static_cast<double>(fields)))
      return range("job.params of image " + std::to_string(i) + " name field " + std::to_string(p[4]) +
                   ", and the bank has " + std::to_string(fields));
  }
  return std::nullopt;
}

Check check_seed(double seed, const std::string& name) {
  if (!whole(seed) || seed < 0 || seed > 4294967295.0) return range(name + " must be an integer from 0 to 2^32 - 1");
  return std::nullopt;
}

Check check_step(double step, const std::string& name) {
  if (!whole(step) || step < 0 || step > 9007199254740991.0)
    return range(name + " must be a safe integer of 0 or more");
  return std::nullopt;
}

}  // namespace backprop
