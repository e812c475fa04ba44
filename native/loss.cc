#include "engine.h"
#include "elementwise.h"
#include "glibc_floor.h"

namespace backprop {
namespace {

// The target of an output that is not the label's, for one-hot targets: the activation's low end (tables.h).
double off_target(Activation output) {
#define BACKPROP_OFF_TARGET(enumerator, name, keeps_z, hidden, off_target) off_target,
  constexpr double kOffTarget[] = {BACKPROP_ACTIVATIONS(BACKPROP_OFF_TARGET)};
#undef BACKPROP_OFF_TARGET
  return kOffTarget[static_cast<int>(output)];
}

double target_of(const Samples& batch, int r, int j, int outputs, double off) {
  if (batch.targets) return batch.targets[static_cast<std::size_t>(r) * outputs + j];
  return batch.labels[r] == j ? 1.0 : off;
}

// ½·Σ(y − t)² of each row of outputs (rows, width) into row_loss, and with labels whether the
// largest output is the label.
void squared_error_rows(const float* outputs, int begin, int end, int width, const Samples& batch, Activation output,
                        double* row_loss, std::uint8_t* row_correct) {
  const double off = off_target(output);
  for (int r = begin; r < end; r++) {
    const float* y = outputs + static_cast<std::size_t>(r) * width;
    double loss = 0.0;
    int argmax = 0;
    for (int j = 0; j < width; j++) {
      const double e = y[j] - target_of(batch, r, j, width, off);
      loss += 0.5 * e * e;
      if (y[j] > y[argmax]) argmax = j;
    }
    row_loss[r] = loss;
    if (batch.labels) row_correct[r] = argmax == batch.labels[r];
  }
}

}  // namespace

// The output step of a forward pass: softmax for cross-entropy. With a batch to score, each row's
// error into row_loss[r] and whether it was classified right into row_correct[r].
void output_step(const Context& ctx, const Layers& net, int rows, const Samples* scored, Workspace& ws,
                 double* row_loss, std::uint8_t* row_correct) {
  const int last = net.count() - 1;
  const int width = net.sizes.back();
  float* outputs = ws.acts[last];
  if (net.loss == Loss::CrossEntropy) {
    const std::uint8_t* labels = scored ? scored->labels : nullptr;
    parallel_rows(ctx, rows, width, [&](int begin, int end) {
      ctx.kernels->softmax_rows(outputs, begin, end, width, labels, row_loss, row_correct);
    });
  } else if (scored) {
    parallel_rows(ctx, rows, width, [&](int begin, int end) {
      squared_error_rows(outputs, begin, end, width, *scored, net.activations[last], row_loss, row_correct);
    });
  }
}

// Adds the rows' errors to eval in row order on this thread, so that the total does not depend on
// the threads.
void add_rows(Evaluation& eval, const double* row_loss, const std::uint8_t* row_correct, int rows, bool labels) {
  for (int r = 0; r < rows; r++) {
    eval.loss_sum += row_loss[r];
    if (labels) eval.correct += row_correct[r];
  }
}

// outputs is (rows, width); dout (rows, width) is overwritten with the gradient of the mean error
// with respect to the output layer's pre-activations: p − onehot for softmax with cross-entropy,
// (y − t)·f'(z) for the squared error; both divided by the rows.
void output_backward(float* dout, const float* outputs, const Layers& net, const Samples& batch, int rows) {
  const int width = net.sizes.back();
  const Activation output = net.activations.back();
  const double off = off_target(output);
  const double scale = 1.0f / static_cast<float>(rows);
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < width; j++) {
      const std::size_t i = static_cast<std::size_t>(r) * width + j;
      const double y = outputs[i];
      const double error = y - target_of(batch, r, j, width, net.loss == Loss::CrossEntropy ? 0.0 : off);
      dout[i] =
          static_cast<float>(net.loss == Loss::CrossEntropy ? error * scale : error * derivative(output, y) * scale);
    }
  }
}

}  // namespace backprop
