// The JavaScript boundary: validates and converts arguments, runs long work on a worker thread, and
// does no math itself. TypeScript owns every buffer; a call borrows their memory and keeps the
// arrays alive until it is done. The addon holds no global state, so it loads in worker threads.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "network.h"
#include "peak.h"
#include "thread_pool.h"

namespace backprop {
namespace {

constexpr int kMaxLayerSize = 1 << 20;
constexpr int kMaxThreads = 256;

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

const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "a Float32Array";
    case napi_uint8_array: return "a Uint8Array";
    case napi_uint32_array: return "a Uint32Array";
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

float finite_field(Napi::Env env, Napi::Object obj, const std::string& name) {
  const Napi::Value value = obj.Get(name);
  if (!value.IsNumber()) throw_type(env, name + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw_range(env, name + " must be finite");
  return static_cast<float>(number);
}

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
  if (layers.sizes.back() > kMaxClasses)
    throw_range(env, "net.sizes: the output layer has more than " + std::to_string(kMaxClasses) + " classes (labels are bytes)");
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
  const Napi::Value deltas = obj.Get("deltas");
  if (!deltas.IsArray() || deltas.As<Napi::Array>().Length() != 2)
    throw_type(env, "ws.deltas must be an array of two Float32Arrays");
  for (std::uint32_t i = 0; i < 2; i++)
    ws.deltas[i] = borrowed.take(
        typed_array<float>(env, deltas.As<Napi::Array>().Get(i), "ws.deltas[" + std::to_string(i) + "]", rows * widest));
  ws.grads = borrowed.take(typed_array<float>(env, obj.Get("grads"), "ws.grads", net.param_count()));
  ws.batch_x = borrowed.take(typed_array<float>(env, obj.Get("batchX"), "ws.batchX", rows * net.sizes[0]));
  ws.batch_labels = borrowed.take(typed_array<std::uint8_t>(env, obj.Get("batchLabels"), "ws.batchLabels", rows));
  return ws;
}

// Labels index the output row, so one out of range would read past it: every label is checked.
Samples samples_arg(Napi::Env env, Napi::Object data, const Layers& net, Borrowed& borrowed) {
  Samples samples;
  samples.count = int_field(env, data, "count", 1, 1 << 30);
  const std::size_t count = static_cast<std::size_t>(samples.count);
  samples.x = borrowed.take(typed_array<float>(env, data.Get("x"), "data.x", count * net.sizes[0]));
  auto labels = typed_array<std::uint8_t>(env, data.Get("labels"), "data.labels", count);
  const int classes = net.sizes.back();
  for (std::size_t i = 0; i < count; i++)
    if (labels[i] >= classes)
      throw_range(env, "data.labels[" + std::to_string(i) + "] is " + std::to_string(labels[i]) + ", but the network has " +
                           std::to_string(classes) + " classes");
  samples.labels = borrowed.take(labels);
  return samples;
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

  // new Engine({ isa?: string, threads: number })
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
    pool_ = std::make_unique<ThreadPool>(int_field(env, options, "threads", 1, kMaxThreads));
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

  // gradients(net, x, labels, rows, ws): the mean gradient into ws.grads (after forward).
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Borrowed borrowed;
    const Layers net = layers_arg(env, object_arg(info, 0, "net"), borrowed);
    Workspace ws = workspace_arg(env, object_arg(info, 4, "ws"), net, borrowed);
    const int rows = rows_arg(info, 3, ws);
    const float* x = borrowed.take(typed_array<float>(env, info[1], "x", static_cast<std::size_t>(rows) * net.sizes[0]));
    const Samples labels = samples_arg(env, labels_object(env, info[1], info[2], rows), net, borrowed);
    const Claim claim(*this, env);
    reserve_scratch(context(), net, ws.rows);
    backprop::gradients(context(), net, x, labels.labels, rows, ws);
    return env.Undefined();
  }

  // trainEpoch(net, data, { batchSize, learningRate, order }, ws, onProgress?) → Promise<void>;
  // onProgress(samplesDone) is called about 50 times an epoch.
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

  static Napi::Object labels_object(Napi::Env env, Napi::Value x, Napi::Value labels, int rows) {
    Napi::Object obj = Napi::Object::New(env);
    obj.Set("x", x);
    obj.Set("labels", labels);
    obj.Set("count", rows);
    return obj;
  }

  const Kernels* kernels_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;
  Scratch scratch_;
  bool busy_ = false;
};

// Runs one engine call on a libuv worker thread and settles its promise; the engine and every
// borrowed array stay referenced until then. Execute() never touches JavaScript: progress (samples
// done) is queued to the main thread, which passes it to the optional `onProgress` callback.
class EngineWorker : public Napi::AsyncProgressQueueWorker<std::int32_t> {
 public:
  EngineWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, Napi::Value on_progress)
      : Napi::AsyncProgressQueueWorker<std::int32_t>(env),
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

  void OnProgress(const std::int32_t* done, std::size_t count) override {
    if (on_progress_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(Env());
    on_progress_.Call({Napi::Number::New(Env(), done[count - 1])});
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
                   Layers net, Samples data, const std::uint32_t* order, int batch_size, float learning_rate,
                   Workspace ws)
      : EngineWorker(env, engine, std::move(borrowed), on_progress),
        net_(std::move(net)),
        data_(data),
        order_(order),
        batch_size_(batch_size),
        learning_rate_(learning_rate),
        ws_(std::move(ws)) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& progress) override {
    reserve_scratch(engine.context(), net_, ws_.rows);
    // About 50 reports an epoch: enough for a progress bar, few enough to cost nothing.
    const int batches = (data_.count + batch_size_ - 1) / batch_size_;
    const int every = batches < 50 ? 1 : batches / 50;
    int batch = 0;
    train_epoch(engine.context(), net_, data_, order_, batch_size_, learning_rate_, ws_, [&](int done) {
      if (++batch % every == 0 || done == data_.count) progress.Send(&done, 1);
    });
  }

 private:
  Layers net_;
  Samples data_;
  const std::uint32_t* order_;
  int batch_size_;
  float learning_rate_;
  Workspace ws_;
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
  const Samples data = samples_arg(env, object_arg(info, 1, "data"), net, *borrowed);
  const Napi::Object options = object_arg(info, 2, "options");
  Workspace ws = workspace_arg(env, object_arg(info, 3, "ws"), net, *borrowed);
  const int batch_size = int_field(env, options, "batchSize", 1, ws.rows);
  const float learning_rate = finite_field(env, options, "learningRate");
  const std::uint32_t* order = nullptr;
  const Napi::Value order_value = options.Get("order");
  if (!order_value.IsNull() && !order_value.IsUndefined()) {
    auto array = typed_array<std::uint32_t>(env, order_value, "options.order", static_cast<std::size_t>(data.count));
    for (int i = 0; i < data.count; i++)
      if (array[i] >= static_cast<std::uint32_t>(data.count))
        throw_range(env, "options.order[" + std::to_string(i) + "] is not a sample index below " + std::to_string(data.count));
    order = borrowed->take(array);
  }
  claim(env);
  auto* worker = new TrainEpochWorker(env, Value(), std::move(borrowed), info[4], std::move(net), data, order,
                                      batch_size, learning_rate, std::move(ws));
  worker->Queue();
  return worker->promise();
}

Napi::Value Engine::evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto borrowed = std::make_unique<Borrowed>();
  Layers net = layers_arg(env, object_arg(info, 0, "net"), *borrowed);
  const Samples data = samples_arg(env, object_arg(info, 1, "data"), net, *borrowed);
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
