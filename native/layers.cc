#include "engine.h"

namespace backprop {
namespace {

// Whether layer l's output gets its noise in a pass with this mask.
bool noised(const Layers& net, int l, const NoiseMask* mask) { return mask && net.noised(l); }

// What layer l reads: the network's input, or the output of the layer below (after its noise).
Input input_of(const Input& input, const Workspace& ws, const Layers& net, int l, const NoiseMask* mask) {
  if (l == 0) return input;
  return {noised(net, l - 1, mask) ? ws.noisy[l - 1] : ws.acts[l - 1], net.sizes[l], nullptr, nullptr};
}

}  // namespace

// Layer l is a dense product, its activation (ReLU fused into the product's epilogue) and, while
// training, its noise.
void forward_layers(const Context& ctx, const Layers& net, const Input& input, int rows, Workspace& ws,
                    const NoiseMask* mask) {
  for (int l = 0; l < net.count(); l++) {
    const int OC = net.sizes[l + 1];
    const Activation activation = net.activations[l];
    float* out = ws.acts[l];
    matmul_forward(ctx, out, input_of(input, ws, net, l, mask), net.params + net.weight_offset(l), bias_of(ctx, net, l),
                   rows, OC, activation == Activation::Relu);
    activation_forward(ctx, activation, out, keeps_pre_activation(activation) ? ws.pre[l] : nullptr, rows, OC);
    if (noised(net, l, mask)) noise_forward(ctx, net.noise[l], out, ws.noisy[l], ws.factors[l], rows, OC, *mask, l);
  }
}

void backward_layers(const Context& ctx, const Layers& net, const Input& input, const Samples& batch, int rows,
                     Workspace& ws, const Update& update, const NoiseMask* mask) {
  const int last = net.count() - 1;
  float* delta = ws.deltas[0];
  output_backward(delta, ws.acts[last], net, batch, rows);
  for (int l = last; l >= 0; l--) {
    const int C = net.sizes[l];
    const int OC = net.sizes[l + 1];
    float* next = delta == ws.deltas[0] ? ws.deltas[1] : ws.deltas[0];
    // The error signal for the layer below needs this layer's weights before they are updated. The
    // ReLU below masks it in the product's epilogue; noise scales it before another activation's slope.
    if (l > 0) {
      const Activation below = net.activations[l - 1];
      const float* act = ws.acts[l - 1];
      float* transposed = ctx.scratch->transposed.data();
      transpose(transposed, net.params + net.weight_offset(l), C, OC);
      matmul_backward_input(ctx, next, delta, transposed, rows, C, OC, below == Activation::Relu ? act : nullptr);
      if (noised(net, l - 1, mask)) noise_backward(ctx, next, ws.factors[l - 1], rows, C);
      activation_backward(ctx, below, next, keeps_pre_activation(below) ? ws.pre[l - 1] : act, rows, C);
    }
    dense_backward_params(ctx, net, l, input_of(input, ws, net, l, mask), delta, rows, ws, update);
    delta = next;
  }
}

}  // namespace backprop
