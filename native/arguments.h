// Checks and converts the addon's arguments: JavaScript objects and typed arrays into the engine's
// structs, with a TypeError or RangeError naming the argument for anything it cannot take. Typed
// arrays are borrowed, not copied.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "network.h"
#include "validate.h"

namespace backprop {

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

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}
// What a check of validate.cc found, thrown as the JavaScript error it calls for.
inline void refuse(Napi::Env env, const Check& check) {
  if (!check) return;
  if (check->type_error) throw_type(env, check->message);
  throw_range(env, check->message);
}

template <typename T>
napi_typedarray_type typed_array_type();
template <>
inline napi_typedarray_type typed_array_type<float>() {
  return napi_float32_array;
}
template <>
inline napi_typedarray_type typed_array_type<std::uint8_t>() {
  return napi_uint8_array;
}
template <>
inline napi_typedarray_type typed_array_type<std::uint32_t>() {
  return napi_uint32_array;
}
template <>
inline napi_typedarray_type typed_array_type<double>() {
  return napi_float64_array;
}
template <>
inline napi_typedarray_type typed_array_type<std::int32_t>() {
  return napi_int32_array;
}

inline const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array:
      return "a Float32Array";
    case napi_uint8_array:
      return "a Uint8Array";
    case napi_uint32_array:
      return "a Uint32Array";
    case napi_float64_array:
      return "a Float64Array";
    case napi_int32_array:
      return "an Int32Array";
    default:
      return "a typed array";
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

Napi::Object object_arg(const Napi::CallbackInfo& info, std::size_t index, const std::string& name);
int int_field(Napi::Env env, Napi::Object obj, const std::string& name, int min, int max);

Layers layers_arg(Napi::Env env, Napi::Object net, Borrowed& borrowed);

// A forward pass's noise mask: { seed, step }.
NoiseMask mask_arg(Napi::Env env, Napi::Object obj);
// The buffers of a TypeScript Workspace, for `net`.
Workspace workspace_arg(Napi::Env env, Napi::Object obj, const Layers& net, Borrowed& borrowed);
Samples samples_arg(Napi::Env env, Napi::Object data, const Layers& net, Borrowed& borrowed, const std::string& name);

// augment's job: images (count × rows × cols bytes), their transforms and the field bank, and out.
struct Augmentation {
  const std::uint8_t* images;
  int count, rows, cols;
  const double* params;
  const float* bank;
  std::uint8_t* out;
};
Augmentation augmentation_arg(Napi::Env env, Napi::Object job, Borrowed& borrowed);

// trainEpoch's options: { batchSize, optimizer, state, progressEvery, diverged, order?, start?, learningRates?, stop?
// }.
struct EpochArgs {
  int batch_size;
  Optimizer optimizer;
  OptimizerState state;
  const std::uint32_t* order;  // null: the samples in order
  int visits;                  // the epoch's length: order's, or every sample's
  int first;                   // where a resumed epoch starts
  const float* rates;          // each batch's learning rate, or null
  std::int32_t* stop;          // the stop flag, or null
  int progress_every;          // batches between two progress reports (TypeScript's cadence)
  std::int32_t diverged;       // what stop[0] is set to when the error becomes NaN or infinite (TypeScript's DIVERGED)
  std::uint32_t noise_seed;    // seeds the noise layers' draws, with the step count
};
EpochArgs epoch_args(Napi::Env env, Napi::Object options, const Layers& net, const Samples& data, const Workspace& ws,
                     Borrowed& borrowed);

}  // namespace backprop
