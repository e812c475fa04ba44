// The JavaScript boundary: validates and converts arguments, runs long work on a worker thread, and
// does no math itself. TypeScript owns every buffer; a call borrows their memory and keeps the
// arrays alive until it is done. The addon holds no global state, so it loads in worker threads.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cpu_features.h"
#include "network.h"
#include "peak.h"
#include "thread_pool.h"

namespace backprop {
namespace {

constexpr int kMaxLayerSize = 1 << 20;
constexpr int kMaxThreads = 256;
// Written to options.stop[0] when an epoch stops because the error became NaN or infinite (see
// DIVERGED in backend.ts).
constexpr std::int32_t kDiverged = -1;

// Typed arrays borrowed for one call, kept alive (and so not collected) until the call has ended.
class Borrowed {
 public:
  template <typename T>
  T* take(Napi::TypedArrayOf<T> array) {
    keep_.push_back(Napi::Persistent(array.template As<Napi::Object>()));
    return array.Data();
  }

 private:
  std::vector<Napi::ObjectReference> keep_;
};

[[noreturn]] void throw_type(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}
[[noreturn]] void throw_range(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

template <typename T>
napi_typedarray_type typed_array_type();
template <>
napi_typedarray_type typed_array_type<float>() { return napi_float32_array; }
template <>
napi_typedarray_type typed_array_type<std::uint8_t>() { return napi_uint8_array; }
template <>
napi_typedarray_type typed_array_type<std::uint32_t>() { return napi_uint32_array; }
template <>
napi_typedarray_type typed_array_type<double>() { return napi_float64_array; }
template <>
napi_typedarray_type typed_array_type<std::int32_t>() { return napi_int32_array; }

const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "a Float32Array";
    case napi_uint8_array: return "a Uint8Array";
    case napi_uint32_array: return "a Uint32Array";
    case napi_float64_array: return "a Float64Array";
    case napi_int32_array: return "an Int32Array";
    default: return "a typed array";
  }
}

// `value` as a typed array of T holding at least `min_length` elements.
template <typename T>
Napi::TypedArrayOf<T> typed_array(Napi::Env env, Napi::Value value, const std::string& name, std::size_t min_length) {
  const napi_typedarray_type type = typed_array_type<T>();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type)
    throw_type(env, name + " must be " + typed_array_name(type));
  Napi::TypedArrayOf<T> array = value.As<Napi::TypedArrayOf<T>>();
  if (array.ElementLength() < min_length)
    throw_range(env, name + " has " + std::to_string(array.ElementLength()) + " elements, needs at least " +
                         std::to_string(min_length));
  return array;
}

Napi::Object object_arg(const Napi::CallbackInfo& info, std::size_t index, const std::string& name) {
  if (info.Length() <= index || !info[index].IsObject()) throw_type(info.Env(), name + " must be an object");
  return info[index].As<Napi::Object>();
}

int int_field(Napi::Env env, Napi::Object obj, const std::string& name, int min, int max) {
  const Napi::Value value = obj.Get(name);
  if (!value.IsNumber()) throw_type(env, name + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < min || number > max)
    throw_range(env, name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return static_cast<int>(number);
}

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
#define BACKPROP_OPTIMIZER_NAME(enumerator, name, first, second) name,
#define BACKPROP_OPTIMIZER_FIRST(enumerator, name, first, second) first,
#define BACKPROP_OPTIMIZER_SECOND(enumerator, name, first, second) second,
constexpr const char* kOptimizerNames[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_NAME)};
constexpr bool kOptimizerKeepsFirst[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_FIRST)};
constexpr bool kOptimizerKeepsSecond[] = {BACKPROP_OPTIMIZERS(BACKPROP_OPTIMIZER_SECOND)};

Layers layers_arg(Napi::Env env, Napi::Object net, Borrowed& borrowed) {
  Layers layers;
  const Napi::Value sizes = net.Get("sizes");
  if (!sizes.IsArray()) throw_type(env, "net.sizes must be an array of layer sizes");
  const Napi::Array array = sizes.As<Napi::Array>();
  if (array.Length() < 2 || array.Length() > 64) throw_range(env, "net.sizes must list 2 to 64 layer sizes");
  for (std::uint32_t i = 0; i < array.Length(); i++) {
    const Napi::Value size = array.Get(i);
    const double value = size.IsNumber() ? size.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(value >= 1 && value <= kMaxLayerSize) || std::floor(value) != value)
      throw_range(env, "net.sizes[" + std::to_string(i) + "] must be an integer from 1 to " + std::to_string(kMaxLayerSize));
    layers.sizes.push_back(static_cast<int>(value));
  }
  const Napi::Value activations = net.Get("activations");
  if (!activations.IsArray() || activations.As<Napi::Array>().Length() != static_cast<std::uint32_t>(layers.count()))
    throw_type(env, "net.activations must be an array of one activation per layer");
  for (int l = 0; l < layers.count(); l++) {
    const Activation activation =
        enum_of<Activation>(env, activations.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)), "net.activations[" + std::to_string(l) + "]", kActivationNames);
    const bool output = l == layers.count() - 1;
    if (!output && (activation == Activation::Linear || activation == Activation::Softmax))
      throw_range(env, "net.activations[" + std::to_string(l) + "]: a hidden layer cannot be linear or softmax");
    layers.activations.push_back(activation);
  }
  layers.loss = enum_of<Loss>(env, net.Get("loss"), "net.loss", kLossNames);
  if ((layers.loss == Loss::CrossEntropy) != (layers.activations.back() == Activation::Softmax))
    throw_range(env, "net.loss: cross-entropy goes with a softmax output, mse with any other");
  const Napi::Value bias = net.Get("bias");
  if (!bias.IsBoolean()) throw_type(env, "net.bias must be a boolean");
  layers.bias = bias.As<Napi::Boolean>();
  if (layers.sizes.back() > kMaxClasses)
    throw_range(env, "net.sizes: the output layer has more than " + std::to_string(kMaxClasses) + " units (labels are bytes)");
  auto params = typed_array<float>(env, net.Get("params"), "net.params", layers.param_count());
  if (params.ElementLength() != layers.param_count())
    throw_range(env, "net.params has " + std::to_string(params.ElementLength()) + " elements, the layers need " +
                         std::to_string(layers.param_count()));
  layers.params = borrowed.take(params);
  return layers;
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
    float* buffer = borrowed.take(typed_array<float>(env, pre.As<Napi::Array>().Get(static_cast<std::uint32_t>(l)), "ws.pre[" + std::to_string(l) + "]", length));
    ws.pre.push_back(kept ? buffer : nullptr);
  }
  const Napi::Value deltas = obj.Get("deltas");
  if (!deltas.IsArray() || deltas.As<Napi::Array>().Length() != 2)
    throw_type(env, "ws.deltas must be an array of two Float32Arrays");
  for (std::uint32_t i = 0; i < 2; i++)
    ws.deltas[i] = borrowed.take(
        typed_array<float>(env, deltas.As<Napi::Array>().Get(i), "ws.deltas[" + std::to_string(i) + "]", rows * widest));
  ws.grads = borrowed.take(typed_array<float>(env, obj.Get("grads"), "ws.grads", net.param_count()));
  ws.batch_x = borrowed.take(typed_array<float>(env, obj.Get("batchX"), "ws.batchX", rows * net.sizes[0]));
  ws.batch_labels = borrowed.take(typed_array<std::uint8_t>(env, obj.Get("batchLabels"), "ws.batchLabels", rows));
  ws.batch_targets = borrowed.take(typed_array<float>(env, obj.Get("batchTargets"), "ws.batchTargets", rows * net.sizes.back()));
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
    auto array = typed_array<std::uint8_t>(env, labels, name + ".labels", count);
    const int classes = net.sizes.back();
    for (std::size_t i = 0; i < count; i++)
      if (array[i] >= classes)
        throw_range(env, name + ".labels[" + std::to_string(i) + "] is " + std::to_string(array[i]) + ", but the network has " +
                             std::to_string(classes) + " classes");
    samples.labels = borrowed.take(array);
  }
  const Napi::Value targets = data.Get("targets");
  if (!targets.IsUndefined() && !targets.IsNull()) {
    if (net.loss == Loss::CrossEntropy) throw_type(env, name + ".targets: cross-entropy trains on labels, not targets");
    samples.targets = borrowed.take(typed_array<float>(env, targets, name + ".targets", count * net.sizes.back()));
  }
  if (!samples.labels && !samples.targets) throw_type(env, name + " needs labels (or targets, for mse)");
  return samples;
}

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
  const std::size_t params = net.param_count();
  OptimizerState state;
  const int kind = static_cast<int>(opt.kind);
  state.first = borrowed.take(typed_array<float>(env, obj.Get("first"), "state.first", kOptimizerKeepsFirst[kind] ? params : 0));
  state.second = borrowed.take(typed_array<float>(env, obj.Get("second"), "state.second", kOptimizerKeepsSecond[kind] ? params : 0));
  state.scalars = borrowed.take(typed_array<double>(env, obj.Get("scalars"), "state.scalars", 3));
  return state;
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceAccessor<&Engine::isa>("isa"), InstanceAccessor<&Engine::threads>("threads"),
                        InstanceMethod<&Engine::forward>("forward"), InstanceMethod<&Engine::gradients>("gradients"),
                        InstanceMethod<&Engine::train_epoch>("trainEpoch"), InstanceMethod<&Engine::evaluate>("evaluate"),
                        InstanceMethod<&Engine::peak>("peakGflops")});
  }

  // new Engine({ isa?: string, threads: number, stragglerMicros?: number }); stragglerMicros is for
  // tests: one worker sleeps that long before each chunk it claims.
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = object_arg(info, 0, "options");
    const Napi::Value isa = options.Get("isa");
    if (isa.IsUndefined() || isa.IsNull()) {
      kernels_ = best_kernels(~0u);
    } else {
      if (!isa.IsString()) throw_type(env, "options.isa must be a string");
      const std::string name = isa.As<Napi::String>();
      kernels_ = find_kernels(name.c_str());
      if (!kernels_) throw_range(env, "ISA '" + name + "' is not compiled into this build");
      if (!(supported_isas() & isa_bit(kernels_))) throw_range(env, "this CPU does not support the ISA '" + name + "'");
    }
    const int straggler = options.Get("stragglerMicros").IsUndefined() ? 0 : int_field(env, options, "stragglerMicros", 0, 1000000);
    const int threads = int_field(env, options, "threads", 1, kMaxThreads);
    try {
      pool_ = std::make_unique<ThreadPool>(threads, straggler);
    } catch (const std::system_error& error) {
      Napi::Error failure = Napi::Error::New(env, "cannot start " + std::to_string(threads) + " threads (" + error.code().message() + ")");
      failure.Set("code", Napi::String::New(env, "ERR_THREADS"));
      throw failure;
    }
  }

  Context context() { return {kernels_, pool_.get(), &scratch_}; }

  // Only one call at a time may use the engine's threads and scratch.
  void claim(Napi::Env env) {
    if (busy_) throw Napi::Error::New(env, "the engine is busy with another call (await it first)");
    busy_ = true;
  }
  void release() { busy_ = false; }

  // Holds the engine for the length of a synchronous call, released even when the call throws.
  class Claim {
   public:
    Claim(Engine& engine, Napi::Env env) : engine_(engine) { engine_.claim(env); }
    ~Claim() { engine_.release(); }

   private:
    Engine& engine_;
  };

 private:
  Napi::Value isa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), kernels_->isa); }
  Napi::Value threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_->size()); }

  // forward(net, x, rows, ws): layer outputs into ws.acts, softmax probabilities last.
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Borrowed borrowed;
    const Layers net = layers_arg(env, object_arg(info, 0, "net"), borrowed);
    Workspace ws = workspace_arg(env, object_arg(info, 3, "ws"), net, borrowed);
    const int rows = rows_arg(info, 2, ws);
    const float* x = borrowed.take(typed_array<float>(env, info[1], "x", static_cast<std::size_t>(rows) * net.sizes[0]));
    const Claim claim(*this, env);
    reserve_scratch(context(), net, ws.rows);
    backprop::forward(context(), net, x, rows, ws);
    return env.Undefined();
  }

  // gradients(net, batch, ws): the mean gradient over the batch into ws.grads (after forward).
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Borrowed borrowed;
    const Layers net = layers_arg(env, object_arg(info, 0, "net"), borrowed);
    const Samples batch = samples_arg(env, object_arg(info, 1, "batch"), net, borrowed, "batch");
    Workspace ws = workspace_arg(env, object_arg(info, 2, "ws"), net, borrowed);
    if (batch.count > ws.rows) throw_range(env, "batch.count is larger than ws.rows (" + std::to_string(ws.rows) + ")");
    const Claim claim(*this, env);
    reserve_scratch(context(), net, ws.rows);
    backprop::gradients(context(), net, batch, ws);
    return env.Undefined();
  }

  // trainEpoch(net, data, { batchSize, optimizer, state, order, start?, stop? }, ws, onProgress?) → Promise<visits done>;
  // A non-zero stop[0] stops the epoch after the current batch; a diverging error sets it to -1.
  // onProgress(samplesDone, errorSum) is called about 50 times an epoch.
  Napi::Value train_epoch(const Napi::CallbackInfo& info);
  // evaluate(net, data, ws) → Promise<{ lossSum, correct }>
  Napi::Value evaluate(const Napi::CallbackInfo& info);
  // peakGflops(seconds) → Promise<number>: FMA chains on every thread, for the benchmark.
  Napi::Value peak(const Napi::CallbackInfo& info);

  static int rows_arg(const Napi::CallbackInfo& info, std::size_t index, const Workspace& ws) {
    Napi::Env env = info.Env();
    if (info.Length() <= index || !info[index].IsNumber()) throw_type(env, "rows must be a number");
    const double rows = info[index].As<Napi::Number>().DoubleValue();
    if (!(rows >= 1 && rows <= ws.rows) || std::floor(rows) != rows)
      throw_range(env, "rows must be an integer from 1 to ws.rows (" + std::to_string(ws.rows) + ")");
    return static_cast<int>(rows);
  }

  const Kernels* kernels_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;
  Scratch scratch_;
  bool busy_ = false;
};

// What an epoch reports while it runs: the samples done and their summed error.
struct Progress {
  std::int32_t done;
  double error_sum;
};

// Runs one engine call on a libuv worker thread and settles its promise; the engine and every
// borrowed array stay referenced until then. Execute() never touches JavaScript: progress is queued
// to the main thread, which passes it to the optional `onProgress(samplesDone, errorSum)` callback.
class EngineWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  EngineWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, Napi::Value on_progress)
      : Napi::AsyncProgressQueueWorker<Progress>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        engine_(Engine::Unwrap(engine)),
        engine_ref_(Napi::Persistent(engine)),
        borrowed_(std::move(borrowed)) {
    if (on_progress.IsFunction()) on_progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      run(*engine_, progress);
    } catch (const std::exception& error) {
      SetError(error.what());
    }
  }
  virtual void run(Engine& engine, const ExecutionProgress& progress) = 0;
  virtual Napi::Value result() { return Env().Undefined(); }

  void OnProgress(const Progress* progress, std::size_t count) override {
    if (on_progress_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(Env());
    const Progress& last = progress[count - 1];
    on_progress_.Call({Napi::Number::New(Env(), last.done), Napi::Number::New(Env(), last.error_sum)});
  }
  void OnOK() override {
    engine_->release();
    deferred_.Resolve(result());
  }
  void OnError(const Napi::Error& error) override {
    engine_->release();
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Engine* engine_;
  Napi::ObjectReference engine_ref_;  // keeps engine_ alive
  std::unique_ptr<Borrowed> borrowed_;
  Napi::FunctionReference on_progress_;
};

class TrainEpochWorker : public EngineWorker {
 public:
  TrainEpochWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, Napi::Value on_progress,
                   Layers net, Samples data, const std::uint32_t* order, int first, int visits, int batch_size,
                   Optimizer optimizer, const float* rates, OptimizerState state, Workspace ws, std::int32_t* stop)
      : EngineWorker(env, engine, std::move(borrowed), on_progress),
        net_(std::move(net)),
        data_(data),
        order_(order),
        first_(first),
        visits_(visits),
        batch_size_(batch_size),
        optimizer_(optimizer),
        rates_(rates),
        state_(state),
        ws_(std::move(ws)),
        stop_(stop) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& progress) override {
    reserve_scratch(engine.context(), net_, ws_.rows);
    // About 50 reports an epoch: enough for a progress bar, few enough to cost nothing.
    const int batches = (visits_ + batch_size_ - 1) / batch_size_;
    const int every = batches < 50 ? 1 : batches / 50;
    int batch = 0;
    done_ = train_epoch(engine.context(), net_, data_, order_, first_, visits_, batch_size_, optimizer_, rates_, state_, ws_,
                        [&](int done, double error_sum) {
                          const Progress report = {done, error_sum};
                          if (++batch % every == 0 || done == visits_) progress.Send(&report, 1);
                          // A NaN or infinite error means the weights diverged: stop at this batch and say so.
                          if (!std::isfinite(error_sum)) {
                            if (stop_) __atomic_store_n(stop_, kDiverged, __ATOMIC_RELAXED);
                            return false;
                          }
                          // The flag is written by the JavaScript thread (Ctrl-C); a relaxed read suffices.
                          return !(stop_ && __atomic_load_n(stop_, __ATOMIC_RELAXED));
                        });
  }
  Napi::Value result() override { return Napi::Number::New(Env(), done_); }

 private:
  Layers net_;
  Samples data_;
  const std::uint32_t* order_;
  int first_;
  int visits_;
  int batch_size_;
  Optimizer optimizer_;
  const float* rates_;
  OptimizerState state_;
  Workspace ws_;
  std::int32_t* stop_;
  int done_ = 0;
};

class EvaluateWorker : public EngineWorker {
 public:
  EvaluateWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, Layers net, Samples data,
                 Workspace ws)
      : EngineWorker(env, engine, std::move(borrowed), env.Undefined()),
        net_(std::move(net)),
        data_(data),
        ws_(std::move(ws)) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& /*progress*/) override {
    reserve_scratch(engine.context(), net_, ws_.rows);
    result_ = evaluate(engine.context(), net_, data_, ws_);
  }
  Napi::Value result() override {
    Napi::Object result = Napi::Object::New(Env());
    result.Set("lossSum", result_.loss_sum);
    result.Set("correct", static_cast<double>(result_.correct));
    return result;
  }

 private:
  Layers net_;
  Samples data_;
  Workspace ws_;
  Evaluation result_ = {0.0, 0};
};

Napi::Value Engine::train_epoch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto borrowed = std::make_unique<Borrowed>();
  Layers net = layers_arg(env, object_arg(info, 0, "net"), *borrowed);
  const Samples data = samples_arg(env, object_arg(info, 1, "data"), net, *borrowed, "data");
  const Napi::Object options = object_arg(info, 2, "options");
  Workspace ws = workspace_arg(env, object_arg(info, 3, "ws"), net, *borrowed);
  const int batch_size = int_field(env, options, "batchSize", 1, ws.rows);
  const Napi::Value optimizer_value = options.Get("optimizer");
  if (!optimizer_value.IsObject()) throw_type(env, "options.optimizer must be an object");
  const Optimizer optimizer = optimizer_arg(env, optimizer_value.As<Napi::Object>());
  const Napi::Value state_value = options.Get("state");
  if (!state_value.IsObject()) throw_type(env, "options.state must be an object");
  const OptimizerState state = state_arg(env, state_value.As<Napi::Object>(), net, optimizer, *borrowed);
  const std::uint32_t* order = nullptr;
  int visits = data.count;
  const Napi::Value order_value = options.Get("order");
  if (!order_value.IsNull() && !order_value.IsUndefined()) {
    auto array = typed_array<std::uint32_t>(env, order_value, "options.order", 1);
    if (array.ElementLength() > (1u << 30)) throw_range(env, "options.order is longer than 2^30");
    visits = static_cast<int>(array.ElementLength());
    for (int i = 0; i < visits; i++)
      if (array[i] >= static_cast<std::uint32_t>(data.count))
        throw_range(env, "options.order[" + std::to_string(i) + "] is not a sample index below " + std::to_string(data.count));
    order = borrowed->take(array);
  }
  const Napi::Value start_value = options.Get("start");
  const int first = start_value.IsUndefined() ? 0 : int_field(env, options, "start", 0, visits);
  const float* rates = nullptr;
  const Napi::Value rates_value = options.Get("learningRates");
  if (!rates_value.IsUndefined() && !rates_value.IsNull()) {
    const std::size_t batches = (static_cast<std::size_t>(visits) + batch_size - 1) / batch_size;
    auto array = typed_array<float>(env, rates_value, "options.learningRates", batches);
    for (std::size_t i = 0; i < batches; i++)
      if (!std::isfinite(array[i]) || array[i] < 0.0f) throw_range(env, "options.learningRates[" + std::to_string(i) + "] is not a finite rate of 0 or more");
    rates = borrowed->take(array);
  }
  std::int32_t* stop = nullptr;
  const Napi::Value stop_value = options.Get("stop");
  if (!stop_value.IsUndefined() && !stop_value.IsNull()) stop = borrowed->take(typed_array<std::int32_t>(env, stop_value, "options.stop", 1));
  claim(env);
  auto* worker = new TrainEpochWorker(env, Value(), std::move(borrowed), info[4], std::move(net), data, order, first,
                                      visits, batch_size, optimizer, rates, state, std::move(ws), stop);
  worker->Queue();
  return worker->promise();
}

Napi::Value Engine::evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto borrowed = std::make_unique<Borrowed>();
  Layers net = layers_arg(env, object_arg(info, 0, "net"), *borrowed);
  const Samples data = samples_arg(env, object_arg(info, 1, "data"), net, *borrowed, "data");
  Workspace ws = workspace_arg(env, object_arg(info, 2, "ws"), net, *borrowed);
  claim(env);
  auto* worker = new EvaluateWorker(env, Value(), std::move(borrowed), std::move(net), data, std::move(ws));
  worker->Queue();
  return worker->promise();
}

class PeakWorker : public EngineWorker {
 public:
  PeakWorker(Napi::Env env, Napi::Object engine, double seconds)
      : EngineWorker(env, engine, std::make_unique<Borrowed>(), env.Undefined()), seconds_(seconds) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& /*progress*/) override {
    gflops_ = measure_peak_gflops(engine.context(), seconds_);
  }
  Napi::Value result() override { return Napi::Number::New(Env(), gflops_); }

 private:
  double seconds_;
  double gflops_ = 0.0;
};

Napi::Value Engine::peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "seconds must be a number");
  const double seconds = info[0].As<Napi::Number>().DoubleValue();
  if (!(seconds > 0 && seconds <= 60)) throw_range(env, "seconds must be greater than 0 and at most 60");
  claim(env);
  auto* worker = new PeakWorker(env, Value(), seconds);
  worker->Queue();
  return worker->promise();
}

Napi::Value isa_names(Napi::Env env, bool supported_only) {
  Napi::Array names = Napi::Array::New(env);
  std::uint32_t i = 0;
  for (const IsaEntry& entry : compiled_isas())
    if (!supported_only || (supported_isas() & entry.bit)) names.Set(i++, entry.kernels->isa);
  return names;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", Engine::define(env));
  exports.Set("compiledIsas", isa_names(env, false));
  exports.Set("supportedIsas", isa_names(env, true));
  exports.Set("bestIsa", Napi::String::New(env, best_kernels(~0u)->isa));
  return exports;
}

}  // namespace
}  // namespace backprop

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) { return backprop::init(env, exports); }

NODE_API_MODULE(backprop, init_addon)
