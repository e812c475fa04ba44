#include "arguments.h"
#include "augment.h"

#include <cmath>

namespace backprop {

namespace {

// A finite number, checked before it is converted.
double finite_double_field(Napi::Env env, Napi::Object obj, const std::string& name) {
  const Napi::Value value = obj.Get(name);
  if (!value.IsNumber()) throw_type(env, name + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw_range(env, name + " must be finite");
  return number;
}

float finite_field(Napi::Env env, Napi::Object obj, const std::string& name) {
  return static_cast<float>(finite_double_field(env, obj, name));
}

std::uint32_t seed_field(Napi::Env env, Napi::Object obj, const std::string& name) {
  const double seed = finite_double_field(env, obj, name);
  refuse(env, check_seed(seed, name));
  return static_cast<std::uint32_t>(seed);
}

// The enumerator whose name (in `names`, the enum's order) is `value`.
template <typename Enum, std::size_t N>
Enum enum_of(Napi::Env env, Napi::Value value, const std::string& name, const char* const (&names)[N]) {
  std::string expected;
  const std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  for (std::size_t i = 0; i < N; i++) {
    if (value.IsString() && text == names[i]) return static_cast<Enum>(i);
    expected += (i ? ", " : "") + std::string(names[i]);
  }
  throw_range(env, name + " must be one of " + expected);
}

constexpr const char* kActivationNames[] = {BACKPROP_ACTIVATIONS(BACKPROP_NAME)};
constexpr const char* kLossNames[] = {BACKPROP_LOSSES(BACKPROP_NAME)};
constexpr const char* kNoiseNames[] = {BACKPROP_NOISE(BACKPROP_NAME)};
#define BACKPROP_OPTIMIZER_NAME(enumerator, name, first, second) name,
#define BACKPROP_OPTIMIZER_FIRST(enumerator, name, first, second) first,
#define BACKPROP_OPTIMIZER_SECOND(enumerator, name, first, second) second,
constexpr const char* kOptimizerNames[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_NAME)};
constexpr bool kOptimizerKeepsFirst[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_FIRST)};
constexpr bool kOptimizerKeepsSecond[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_SECOND)};

Optimizer optimizer_arg(Napi::Env env, Napi::Object obj) {
  Optimizer opt;
  opt.kind = enum_of<OptimizerKind>(env, obj.Get("name"), "name", kOptimizerNames);
  opt.learning_rate = finite_field(env, obj, "learningRate");
  opt.momentum = finite_field(env, obj, "momentum");
  opt.beta1 = finite_double_field(env, obj, "beta1");
  opt.beta2 = finite_double_field(env, obj, "beta2");
  opt.epsilon = finite_double_field(env, obj, "epsilon");
  opt.weight_decay = finite_field(env, obj, "weightDecay");
  return opt;
}

OptimizerState state_arg(Napi::Env env, Napi::Object obj, const Layers& net, const Optimizer& opt, Borrowed& borrowed) {
  const std::size_t params = net.param_count;
  OptimizerState state;
  const int kind = static_cast<int>(opt.kind);
  state.first =
      borrowed.take(typed_array<float>(env, obj.Get("first"), "state.first", kOptimizerKeepsFirst[kind] ? params : 0));
  state.second = borrowed.take(
      typed_array<float>(env, obj.Get("second"), "state.second", kOptimizerKeepsSecond[kind] ? params : 0));
  state.scalars = borrowed.take(typed_array<double>(env, obj.Get("scalars"), "state.scalars", 3));
  return state;
}

}  // namespace

Napi::Object object_arg(const Napi::CallbackInfo& info, std::size_t index, const std::string& name) {
  if (info.Length() <= index || !info[index].IsObject()) throw_type(info.Env(), name + " must be an object");
  return info[index].As<Napi::Object>();
}

int int_field(Napi::Env env, Napi::Object obj, const std::string& name, int min, int max) {
  const Napi::Value value = obj.Get(name);
  if (!value.IsNumber()) throw_type(env, name + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  refuse(env, check_integer(number, name, min, max));
  return static_cast<int>(number);
}

Layers layers_arg(Napi::Env env, Napi::Object net, Borrowed& borrowed) {
  Layers layers;
  const Napi::Value sizes = net.Get("sizes");
  if (!sizes.IsArray()) throw_type(env, "net.sizes must be an array of layer sizes");
  const Napi::Array array = sizes.As<Napi::Array>();
  std::vector<double> numbers;
  for (std::uint32_t i = 0; i < array.Length() && i <= kMaxLayerSizes; i++) {
    const Napi::Value size = array.Get(i);
    numbers.push_back(size.IsNumber() ? size.As<Napi::Number>().DoubleValue() : std::nan(""));
  }
  if (array.Length() > kMaxLayerSizes) numbers.resize(kMaxLayerSizes + 1);
  refuse(env, check_sizes(numbers));
  for (const double size : numbers) layers.sizes.push_back(static_cast<int>(size));
  const Napi::Value activations = net.Get("activations");
  if (!activations.IsArray() || activations.As<Napi::Array>().Length() != static_cast<std::uint32_t>(layers.count()))
    throw_type(env, "net.activations must be an array of one activation per layer");
  for (int l = 0; l < layers.count(); l++) {
    layers.activations.push_back(enum_of<Activation>(env,
                                                     activations.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)),
                                                     "net.activations[" + std::to_string(l) + "]", kActivationNames));
  }
  layers.loss = enum_of<Loss>(env, net.Get("loss"), "net.loss", kLossNames);
  refuse(env, check_activations(layers.activations, layers.loss));
  const Napi::Value bias = net.Get("bias");
  if (!bias.IsBoolean()) throw_type(env, "net.bias must be a boolean");
  layers.bias = bias.As<Napi::Boolean>();
  const Napi::Value layout = net.Get("layout");
  if (!layout.IsArray() || layout.As<Napi::Array>().Length() != static_cast<std::uint32_t>(layers.count()))
    throw_type(env, "net.layout must be an array of one layer's offsets per layer");
  std::vector<double> weights, biases;
  for (int l = 0; l < layers.count(); l++) {
    const Napi::Value entry = layout.As<Napi::Array>().Get(static_cast<std::uint32_t>(l));
    const auto number = [&](const char* key) {
      const Napi::Value value = entry.IsObject() ? entry.As<Napi::Object>().Get(key) : Napi::Value();
      return value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : std::nan("");
    };
    weights.push_back(number("weight"));
    biases.push_back(number("bias"));
  }
  const Placed placed = check_layout(layers.sizes, layers.bias, weights, biases);
  refuse(env, placed.invalid);
  layers.param_count = placed.param_count;
  for (int l = 0; l < layers.count(); l++) {
    layers.weights.push_back(static_cast<std::size_t>(weights[l]));
    layers.biases.push_back(layers.bias ? static_cast<std::size_t>(biases[l]) : 0);
  }
  auto params = typed_array<float>(env, net.Get("params"), "net.params", layers.param_count);
  if (params.ElementLength() != layers.param_count)
    throw_range(env, "net.params has " + std::to_string(params.ElementLength()) + " elements, the layers need " +
                         std::to_string(layers.param_count));
  layers.params = borrowed.take(params);
  const std::size_t count = static_cast<std::size_t>(layers.count());
  std::vector<double> kinds(count, -1.0), rates(count, 0.0);
  const Napi::Value noise = net.Get("noise");
  if (!noise.IsUndefined()) {
    if (!noise.IsArray() || noise.As<Napi::Array>().Length() != count)
      throw_type(env, "net.noise must be an array of one layer's noise (or null) per layer");
    for (std::size_t l = 0; l < count; l++) {
      const Napi::Value entry = noise.As<Napi::Array>().Get(static_cast<std::uint32_t>(l));
      if (entry.IsNull()) continue;
      const std::string at = "net.noise[" + std::to_string(l) + "]";
      if (!entry.IsObject()) throw_type(env, at + " must be null or { kind, rate }");
      kinds[l] =
          static_cast<double>(enum_of<NoiseKind>(env, entry.As<Napi::Object>().Get("kind"), at + ".kind", kNoiseNames));
      const Napi::Value rate = entry.As<Napi::Object>().Get("rate");
      rates[l] = rate.IsNumber() ? rate.As<Napi::Number>().DoubleValue() : -1.0;
    }
  }
  refuse(env, check_noise(kinds, rates, layers.noise));
  return layers;
}

NoiseMask mask_arg(Napi::Env env, Napi::Object obj) {
  const double step = finite_double_field(env, obj, "step");
  refuse(env, check_step(step, "mask.step"));
  return {seed_field(env, obj, "seed"), step};
}

Workspace workspace_arg(Napi::Env env, Napi::Object obj, const Layers& net, Borrowed& borrowed) {
  Workspace ws;
  ws.rows = int_field(env, obj, "rows", 1, 1 << 24);
  const std::size_t rows = static_cast<std::size_t>(ws.rows);
  const Napi::Value acts = obj.Get("acts");
  if (!acts.IsArray() || acts.As<Napi::Array>().Length() != static_cast<std::uint32_t>(net.count()))
    throw_type(env, "ws.acts must be an array of one Float32Array per layer");
  int widest = 0;
  for (int l = 0; l < net.count(); l++) {
    const int width = net.sizes[l + 1];
    widest = width > widest ? width : widest;
    ws.acts.push_back(borrowed.take(typed_array<float>(env, acts.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)),
                                                       "ws.acts[" + std::to_string(l) + "]", rows * width)));
  }
  const Napi::Value pre = obj.Get("pre");
  if (!pre.IsArray() || pre.As<Napi::Array>().Length() != static_cast<std::uint32_t>(net.count()))
    throw_type(env, "ws.pre must be an array of one Float32Array per layer");
  for (int l = 0; l < net.count(); l++) {
    const bool kept = keeps_pre_activation(net.activations[l]);
    const std::size_t length = kept ? static_cast<std::size_t>(rows) * net.sizes[l + 1] : 0;
    float* buffer = borrowed.take(typed_array<float>(env, pre.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)),
                                                     "ws.pre[" + std::to_string(l) + "]", length));
    ws.pre.push_back(kept ? buffer : nullptr);
  }
  for (const char* name : {"noisy", "factors"}) {
    std::vector<float*>& buffers = std::string(name) == "noisy" ? ws.noisy : ws.factors;
    const Napi::Value list = obj.Get(name);
    if (!net.has_noise()) {
      buffers.assign(static_cast<std::size_t>(net.count()), nullptr);
      continue;
    }
    if (!list.IsArray() || list.As<Napi::Array>().Length() != static_cast<std::uint32_t>(net.count()))
      throw_type(env, std::string("ws.") + name + " must be an array of one Float32Array per layer");
    for (int l = 0; l < net.count(); l++) {
      const std::size_t length = net.noised(l) ? rows * net.sizes[l + 1] : 0;
      float* buffer =
          borrowed.take(typed_array<float>(env, list.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)),
                                           std::string("ws.") + name + "[" + std::to_string(l) + "]", length));
      buffers.push_back(net.noised(l) ? buffer : nullptr);
    }
  }
  const Napi::Value deltas = obj.Get("deltas");
  if (!deltas.IsArray() || deltas.As<Napi::Array>().Length() != 2)
    throw_type(env, "ws.deltas must be an array of two Float32Arrays");
  for (std::uint32_t i = 0; i < 2; i++)
    ws.deltas[i] = borrowed.take(typed_array<float>(env, deltas.As<Napi::Array>().Get(i),
                                                    "ws.deltas[" + std::to_string(i) + "]", rows * widest));
  ws.grads = borrowed.take(typed_array<float>(env, obj.Get("grads"), "ws.grads", net.param_count));
  ws.batch_x = borrowed.take(typed_array<float>(env, obj.Get("batchX"), "ws.batchX", rows * net.sizes[0]));
  ws.batch_labels = borrowed.take(typed_array<std::uint8_t>(env, obj.Get("batchLabels"), "ws.batchLabels", rows));
  ws.batch_targets =
      borrowed.take(typed_array<float>(env, obj.Get("batchTargets"), "ws.batchTargets", rows * net.sizes.back()));
  return ws;
}

// Labels index the output row, so one out of range would read past it: every label is checked.
// Cross-entropy needs labels; the squared error takes targets, or labels as one-hot targets.
Samples samples_arg(Napi::Env env, Napi::Object data, const Layers& net, Borrowed& borrowed, const std::string& name) {
  Samples samples = {nullptr, nullptr, nullptr, nullptr, 0};
  samples.count = int_field(env, data, "count", 1, 1 << 30);
  const std::size_t count = static_cast<std::size_t>(samples.count);
  const Napi::Value x = data.Get("x");
  const std::size_t features = count * net.sizes[0];
  if (x.IsTypedArray() && x.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    samples.x_bytes = borrowed.take(typed_array<std::uint8_t>(env, x, name + ".x", features));
  } else {
    samples.x = borrowed.take(typed_array<float>(env, x, name + ".x", features));
  }
  const Napi::Value labels = data.Get("labels");
  if (!labels.IsUndefined() && !labels.IsNull()) {
    samples.labels = borrowed.take(typed_array<std::uint8_t>(env, labels, name + ".labels", count));
    refuse(env, check_labels(samples.labels, count, net.sizes.back(), name));
  }
  const Napi::Value targets = data.Get("targets");
  if (!targets.IsUndefined() && !targets.IsNull()) {
    if (net.loss == Loss::CrossEntropy) throw_type(env, name + ".targets: cross-entropy trains on labels, not targets");
    samples.targets = borrowed.take(typed_array<float>(env, targets, name + ".targets", count * net.sizes.back()));
  }
  if (!samples.labels && !samples.targets) throw_type(env, name + " needs labels (or targets, for mse)");
  return samples;
}

EpochArgs epoch_args(Napi::Env env, Napi::Object options, const Layers& net, const Samples& data, const Workspace& ws,
                     Borrowed& borrowed) {
  EpochArgs args;
  args.batch_size = int_field(env, options, "batchSize", 1, ws.rows);
  args.progress_every = int_field(env, options, "progressEvery", 1, 1 << 30);
  // Negative, so that it differs from a stop asked for (1).
  args.diverged = int_field(env, options, "diverged", -(1 << 30), -1);
  const Napi::Value optimizer_value = options.Get("optimizer");
  if (!optimizer_value.IsObject()) throw_type(env, "options.optimizer must be an object");
  args.optimizer = optimizer_arg(env, optimizer_value.As<Napi::Object>());
  const Napi::Value state_value = options.Get("state");
  if (!state_value.IsObject()) throw_type(env, "options.state must be an object");
  args.state = state_arg(env, state_value.As<Napi::Object>(), net, args.optimizer, borrowed);
  args.order = nullptr;
  args.visits = data.count;
  const Napi::Value order_value = options.Get("order");
  if (!order_value.IsNull() && !order_value.IsUndefined()) {
    auto array = typed_array<std::uint32_t>(env, order_value, "options.order", 1);
    args.order = borrowed.take(array);
    refuse(env, check_order(args.order, array.ElementLength(), data.count));
    args.visits = static_cast<int>(array.ElementLength());
  }
  const Napi::Value start_value = options.Get("start");
  args.first = start_value.IsUndefined() ? 0 : int_field(env, options, "start", 0, args.visits);
  args.rates = nullptr;
  const Napi::Value rates_value = options.Get("learningRates");
  if (!rates_value.IsUndefined() && !rates_value.IsNull()) {
    const std::size_t batches = (static_cast<std::size_t>(args.visits) + args.batch_size - 1) / args.batch_size;
    args.rates = borrowed.take(typed_array<float>(env, rates_value, "options.learningRates", batches));
    refuse(env, check_rates(args.rates, batches));
  }
  args.noise_seed = options.Get("noiseSeed").IsUndefined() ? 0 : seed_field(env, options, "noiseSeed");
  args.stop = nullptr;
  const Napi::Value stop_value = options.Get("stop");
  if (!stop_value.IsUndefined() && !stop_value.IsNull())
    args.stop = borrowed.take(typed_array<std::int32_t>(env, stop_value, "options.stop", 1));
  return args;
}

Augmentation augmentation_arg(Napi::Env env, Napi::Object job, Borrowed& borrowed) {
  Augmentation a;
  a.count = int_field(env, job, "count", 1, 1 << 30);
  a.rows = int_field(env, job, "rows", 1, kMaxWarpCols);
  a.cols = int_field(env, job, "cols", 1, kMaxWarpCols);
  const std::size_t pixels = static_cast<std::size_t>(a.count) * a.rows * a.cols;
  a.images = borrowed.take(typed_array<std::uint8_t>(env, job.Get("images"), "job.images", pixels));
  a.out = borrowed.take(typed_array<std::uint8_t>(env, job.Get("out"), "job.out", pixels));
  auto params =
      typed_array<double>(env, job.Get("params"), "job.params", static_cast<std::size_t>(a.count) * kParamsPerImage);
  a.params = borrowed.take(params);
  auto bank = typed_array<float>(env, job.Get("bank"), "job.bank", 0);
  a.bank = borrowed.take(bank);
  const std::size_t field = 2 * static_cast<std::size_t>(a.rows) * a.cols;
  refuse(env, check_transforms(a.params, a.count, kParamsPerImage, bank.ElementLength() / field));
  return a;
}

}  // namespace backprop
