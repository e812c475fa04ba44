// The JavaScript boundary: the engine's methods and the workers that run long work off the event
// loop; its arguments are checked and converted in arguments.cc. It does no math itself, and holds
// no global state, so it loads in worker threads.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "arguments.h"
#include "augment.h"
#include "cpu_features.h"
#include "network.h"
#include "peak.h"
#include "thread_pool.h"

namespace backprop {
namespace {

constexpr int kMaxThreads = 256;

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "Engine",
        {InstanceAccessor<&Engine::isa>("isa"), InstanceAccessor<&Engine::threads>("threads"),
         InstanceMethod<&Engine::forward>("forward"), InstanceMethod<&Engine::gradients>("gradients"),
         InstanceMethod<&Engine::train_epoch>("trainEpoch"), InstanceMethod<&Engine::evaluate>("evaluate"),
         InstanceMethod<&Engine::augment>("augment"), InstanceMethod<&Engine::peak>("peakGflops")});
  }

  // new Engine({ isa?: string, threads: number, stragglerMicros?: number });
  // stragglerMicros is for tests: one worker sleeps that long before each chunk it claims.
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
    const int straggler =
        options.Get("stragglerMicros").IsUndefined() ? 0 : int_field(env, options, "stragglerMicros", 0, 1000000);
    const int threads = int_field(env, options, "threads", 1, kMaxThreads);
    try {
      pool_ = std::make_unique<ThreadPool>(threads, straggler);
    } catch (const std::system_error& error) {
      Napi::Error failure = Napi::Error::New(
          env, "cannot start " + std::to_string(threads) + " threads (" + error.code().message() + ")");
      failure.Set("code", Napi::String::New(env, "ERR_THREADS"));
      throw failure;
    }
  }

  Context context() { return {kernels_, pool_.get(), scratch_.get()}; }

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

  // forward(net, x, rows, ws, mask?): layer outputs into ws.acts, softmax probabilities last; with a
  // noise mask { seed, step }, as in training.
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Borrowed borrowed;
    const Layers net = layers_arg(env, object_arg(info, 0, "net"), borrowed);
    Workspace ws = workspace_arg(env, object_arg(info, 3, "ws"), net, borrowed);
    const int rows = rows_arg(info, 2, ws);
    const float* x =
        borrowed.take(typed_array<float>(env, info[1], "x", static_cast<std::size_t>(rows) * net.sizes[0]));
    const std::optional<NoiseMask> mask = optional_mask(info, 4);
    const Claim claim(*this, env);
    reserve_scratch(context(), net, ws.rows);
    backprop::forward(context(), net, x, rows, ws, mask ? &*mask : nullptr);
    return env.Undefined();
  }

  // gradients(net, batch, ws, mask?): the mean gradient over the batch into ws.grads (after forward,
  // with its mask).
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Borrowed borrowed;
    const Layers net = layers_arg(env, object_arg(info, 0, "net"), borrowed);
    const Samples batch = samples_arg(env, object_arg(info, 1, "batch"), net, borrowed, "batch");
    Workspace ws = workspace_arg(env, object_arg(info, 2, "ws"), net, borrowed);
    if (batch.count > ws.rows) throw_range(env, "batch.count is larger than ws.rows (" + std::to_string(ws.rows) + ")");
    const std::optional<NoiseMask> mask = optional_mask(info, 3);
    const Claim claim(*this, env);
    reserve_scratch(context(), net, ws.rows);
    backprop::gradients(context(), net, batch, ws, mask ? &*mask : nullptr);
    return env.Undefined();
  }

  // trainEpoch(net, data, { batchSize, optimizer, state, order, start?, stop? }, ws, onProgress?) → Promise<visits
  // done>; A non-zero stop[0] stops the epoch after the current batch; a diverging error sets it to -1.
  // onProgress(samplesDone, errorSum) is called about 50 times an epoch.
  Napi::Value train_epoch(const Napi::CallbackInfo& info);
  // evaluate(net, data, ws) → Promise<{ lossSum, correct }>
  Napi::Value evaluate(const Napi::CallbackInfo& info);
  // augment({ images, count, rows, cols, params, bank, out }) → Promise: every image warped by its
  // transform into out (src/data/warp.ts).
  Napi::Value augment(const Napi::CallbackInfo& info);
  // peakGflops(seconds) → Promise<number>: FMA chains on every thread, for the benchmark.
  Napi::Value peak(const Napi::CallbackInfo& info);

  static std::optional<NoiseMask> optional_mask(const Napi::CallbackInfo& info, std::size_t index) {
    if (info.Length() <= index || info[index].IsUndefined()) return std::nullopt;
    return mask_arg(info.Env(), object_arg(info, index, "mask"));
  }

  static int rows_arg(const Napi::CallbackInfo& info, std::size_t index, const Workspace& ws) {
    Napi::Env env = info.Env();
    if (info.Length() <= index || !info[index].IsNumber()) throw_type(env, "rows must be a number");
    const double rows = info[index].As<Napi::Number>().DoubleValue();
    refuse(env, check_integer(rows, "rows", 1, ws.rows, "ws.rows"));
    return static_cast<int>(rows);
  }

  const Kernels* kernels_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;
  ScratchPtr scratch_ = make_scratch();
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

  // A callback that throws stops the epoch at its next batch, and the promise rejects with its error.
  // While the environment shuts down (a worker thread terminated mid-epoch) no JavaScript can run:
  // every call fails, and what it would have said is dropped. An exception thrown out of these libuv
  // callbacks would abort the whole process.
  void OnProgress(const Progress* progress, std::size_t count) override {
    if (on_progress_.IsEmpty() || count == 0 || callback_failed_) return;
    try {
      Napi::HandleScope scope(Env());
      const Progress& last = progress[count - 1];
      on_progress_.Call({Napi::Number::New(Env(), last.done), Napi::Number::New(Env(), last.error_sum)});
    } catch (const Napi::Error& error) {
      callback_failed_ = true;
      try {
        callback_error_ = Napi::Persistent(error.Value());
      } catch (const Napi::Error&) {
      }
    }
  }
  void OnOK() override {
    engine_->release();
    try {
      if (callback_error_.IsEmpty()) {
        deferred_.Resolve(result());
      } else {
        deferred_.Reject(callback_error_.Value());
      }
    } catch (const Napi::Error&) {
    }
  }
  void OnError(const Napi::Error& error) override {
    engine_->release();
    try {
      deferred_.Reject(error.Value());
    } catch (const Napi::Error&) {
    }
  }
  // Set on the main thread, read by the epoch's loop between batches.
  std::atomic<bool> callback_failed_{false};

 private:
  Napi::Promise::Deferred deferred_;
  Engine* engine_;
  Napi::ObjectReference engine_ref_;  // keeps engine_ alive
  std::unique_ptr<Borrowed> borrowed_;
  Napi::FunctionReference on_progress_;
  Napi::ObjectReference callback_error_;
};

class TrainEpochWorker : public EngineWorker {
 public:
  TrainEpochWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, Napi::Value on_progress,
                   Layers net, Samples data, EpochArgs args, Workspace ws)
      : EngineWorker(env, engine, std::move(borrowed), on_progress),
        net_(std::move(net)),
        data_(data),
        args_(args),
        ws_(std::move(ws)) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& progress) override {
    reserve_scratch(engine.context(), net_, ws_.rows);
    int batch = 0;
    std::int32_t* stop = args_.stop;
    done_ = train_epoch(engine.context(), net_, data_, args_.order, args_.first, args_.visits, args_.batch_size,
                        args_.optimizer, args_.rates, args_.state, ws_, [&](int done, double error_sum) {
                          const Progress report = {done, error_sum};
                          if (++batch % args_.progress_every == 0 || done == args_.visits) progress.Send(&report, 1);
                          // A NaN or infinite error means the weights diverged: stop at this batch and say so.
                          if (!std::isfinite(error_sum)) {
                            if (stop) __atomic_store_n(stop, args_.diverged, __ATOMIC_RELAXED);
                            return false;
                          }
                          // The flag is written by the JavaScript thread (Ctrl-C); a relaxed read suffices.
                          return !(stop && __atomic_load_n(stop, __ATOMIC_RELAXED)) && !callback_failed_;
                        });
  }
  Napi::Value result() override { return Napi::Number::New(Env(), done_); }

 private:
  Layers net_;
  Samples data_;
  EpochArgs args_;
  Workspace ws_;
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
  Workspace ws = workspace_arg(env, object_arg(info, 3, "ws"), net, *borrowed);
  const EpochArgs args = epoch_args(env, object_arg(info, 2, "options"), net, data, ws, *borrowed);
  net.noise_seed = args.noise_seed;
  claim(env);
  auto* worker =
      new TrainEpochWorker(env, Value(), std::move(borrowed), info[4], std::move(net), data, args, std::move(ws));
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

class AugmentWorker : public EngineWorker {
 public:
  AugmentWorker(Napi::Env env, Napi::Object engine, std::unique_ptr<Borrowed> borrowed, const Augmentation& job)
      : EngineWorker(env, engine, std::move(borrowed), env.Undefined()), job_(job) {}

 protected:
  void run(Engine& engine, const ExecutionProgress& /*progress*/) override {
    warp_images(engine.context(), job_.images, job_.count, job_.rows, job_.cols, job_.params, job_.bank, job_.out);
  }

 private:
  Augmentation job_;
};

Napi::Value Engine::augment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto borrowed = std::make_unique<Borrowed>();
  const Augmentation job = augmentation_arg(env, object_arg(info, 0, "job"), *borrowed);
  claim(env);
  auto* worker = new AugmentWorker(env, Value(), std::move(borrowed), job);
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
