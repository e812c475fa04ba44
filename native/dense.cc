#include "engine.h"

#include <algorithm>

namespace backprop {
namespace {

// The optimizer step of parameters begin … begin + count from their gradient in grads, element-wise
// on the engine's threads over blocks of `width` (each element is one thread's, so the result does
// not depend on the thread count).
void step_parameters(const Context& ctx, const Step& step, const Layers& net, OptimizerState& state, const float* grads,
                     std::size_t begin, int blocks, int width) {
  parallel_rows(ctx, blocks, width, [&](int first_block, int end_block) {
    const std::size_t at = begin + static_cast<std::size_t>(first_block) * width;
    ctx.kernels->step(step, net.params + at, grads + at, state.first ? state.first + at : nullptr,
                      state.second ? state.second + at : nullptr,
                      static_cast<std::size_t>(end_block - first_block) * width);
  });
}

// Whether weight row k (input k) has a gradient from this batch: a compacted or sparse input
// leaves out the inputs that are zero in every row.
bool has_inputs(const Context& ctx, const Input& inp, int k) {
  if (inp.sparse) return inp.sparse->column_start[k + 1] > inp.sparse->column_start[k];
  return !inp.columns || ctx.scratch->column_used[k];
}

// dweight (C, OC) = inpᵀ · dout (rows, OC), inpᵀ read in place (C of the inputs, all of them for a
// compacted or sparse input), stored (Bias with a zero bias: dweight is overwritten) or added into
// the weights in dweight (Accumulate, alpha = −lr: plain SGD). The weight rows of inputs that a
// compacted or sparse input leaves out have a zero gradient: stored as zeros, and nothing to add.
void matmul_backward_weight(const Context& ctx, float* dweight, const Input& inp, const float* dout, int rows, int C,
                            int OC, const EpilogueArgs& ep) {
  if (inp.sparse && !inp.sparse->by_columns) {
    const SparseInput& s = *inp.sparse;
    Scratch& scratch = *ctx.scratch;
    ctx.kernels->sparse_scatter({dweight, OC, s.row_start.data(), s.row_columns.data(), s.row_values.data(), rows, dout,
                                 OC, C, OC, scatter_sums(scratch), scatter_stride(OC), scratch.scatter_cursors.data(),
                                 ep});
    return;
  }
  if (inp.sparse) {
    // dweight's rows are x's columns: xᵀ in compressed rows is x by column.
    const SparseInput& s = *inp.sparse;
    run_sparse_gemm(ctx,
                    {dweight, OC, s.column_start.data(), s.column_rows.data(), s.column_values.data(),
                     s.column_order.data(), s.used_columns, dout, OC, rows, OC, ep},
                    static_cast<std::size_t>(s.row_start[rows]));
  } else {
    run_gemm(ctx, {dweight, OC, inp.columns, inp.x, 1, inp.width, dout, OC, nullptr, inp.width, OC, rows, ep});
  }
  if (ep.kind == Epilogue::Accumulate || !(inp.sparse || inp.columns)) return;
  for (int k = 0; k < C; k++) {
    float* row = dweight + static_cast<std::size_t>(k) * OC;
    if (!has_inputs(ctx, inp, k)) std::fill(row, row + OC, 0.0f);
  }
}

}  // namespace

// weight is (C, OC); transposed (OC, C) is overwritten, so that the backward product reads it by rows.
// In square tiles, each written a transposed row at a time: a row of the weight at a time, every
// write of a wide matrix would land on another cache line and page (a 1024 × 1024 weight took a
// third of its layer's training time), and the OC lines written for a narrow one (the output
// layer's 10) lie a multiple of 4 KB apart, in one set of the L1 (a 1024 × 10 weight took 18 % of
// a batch of one).
void transpose(float* transposed, const float* weight, int C, int OC) {
  for (int c0 = 0; c0 < C; c0 += kTransposeTile)
    for (int o0 = 0; o0 < OC; o0 += kTransposeTile) {
      const int c_end = c0 + kTransposeTile < C ? c0 + kTransposeTile : C;
      const int o_end = o0 + kTransposeTile < OC ? o0 + kTransposeTile : OC;
      for (int o = o0; o < o_end; o++)
        for (int c = c0; c < c_end; c++)
          transposed[static_cast<std::size_t>(o) * C + c] = weight[static_cast<std::size_t>(c) * OC + o];
    }
}

const float* bias_of(const Context& ctx, const Layers& net, int l) {
  return net.bias ? net.params + net.bias_offset(l) : ctx.scratch->zero_bias.data();
}

// The three products of a dense layer, in llm.c's style. `inp` is the layer's input (rows, C), with
// only its non-zero columns for the first layer (Input).

// out (rows, OC) = inp · weight (C, OC) + bias, through a ReLU when `relu`.
void matmul_forward(const Context& ctx, float* out, const Input& inp, const float* weight, const float* bias, int rows,
                    int OC, bool relu) {
  const EpilogueArgs ep = {relu ? Epilogue::BiasRelu : Epilogue::Bias, bias, nullptr, 0.0f};
  if (inp.sparse) {
    const SparseInput& s = *inp.sparse;
    run_sparse_gemm(ctx,
                    {out, OC, s.row_start.data(), s.row_columns.data(), s.row_values.data(), s.row_order.data(), rows,
                     weight, OC, inp.width, OC, ep},
                    static_cast<std::size_t>(s.row_start[rows]));
    return;
  }
  run_gemm(ctx, {out, OC, nullptr, inp.x, inp.width, 1, weight, OC, inp.columns, rows, OC, inp.width, ep});
}

// dinp (rows, C) = dout (rows, OC) · weightᵀ, given weight_t = weightᵀ (OC, C) to read by rows; zero
// wherever relu_out (rows, C), the output of a ReLU below, is not positive (when given).
void matmul_backward_input(const Context& ctx, float* dinp, const float* dout, const float* weight_t, int rows, int C,
                           int OC, const float* relu_out) {
  const EpilogueArgs ep = relu_out ? EpilogueArgs{Epilogue::ReluMask, nullptr, relu_out, 0.0f}
                                   : EpilogueArgs{Epilogue::Bias, ctx.scratch->zero_bias.data(), nullptr, 0.0f};
  run_gemm(ctx, {dinp, C, nullptr, dout, OC, 1, weight_t, C, nullptr, rows, C, OC, ep});
}

// The dense layer l's parameter gradient from its input and the error signal at its output, kept or
// applied as `update` says.
void dense_backward_params(const Context& ctx, const Layers& net, int l, const Input& inp, const float* delta, int rows,
                           Workspace& ws, const Update& update) {
  const int C = net.sizes[l];
  const int OC = net.sizes[l + 1];
  float* weight = net.params + net.weight_offset(l);
  const bool sgd = update.kind == Update::Kind::Sgd;
  const EpilogueArgs store = {Epilogue::Bias, ctx.scratch->zero_bias.data(), nullptr, 0.0f};
  const EpilogueArgs add = {Epilogue::Accumulate, nullptr, nullptr, -update.learning_rate};
  matmul_backward_weight(ctx, sgd ? weight : ws.grads + net.weight_offset(l), inp, delta, rows, C, OC,
                         sgd ? add : store);
  // The bias gradient is the column sums of delta.
  if (net.bias) ctx.kernels->column_sums(delta, rows, OC, ws.grads + net.bias_offset(l));
  if (sgd && net.bias) {
    float* bias = net.params + net.bias_offset(l);
    const float* dbias = ws.grads + net.bias_offset(l);
    // In double and rounded once, as the ts backend computes it (and the scalar kernels their
    // FMA): this file is built for the baseline ISA, where std::fma is a call into libm, one per
    // bias, which cost online learning 3 % of its time.
    const double rate = update.learning_rate;
    for (int o = 0; o < OC; o++) bias[o] = static_cast<float>(bias[o] - rate * dbias[o]);
  } else if (update.kind == Update::Kind::Step) {
    step_parameters(ctx, *update.step, net, *update.state, ws.grads, net.weight_offset(l), C, OC);
    if (net.bias) {
      Step bias_step = *update.step;
      bias_step.decay = false;
      step_parameters(ctx, bias_step, net, *update.state, ws.grads, net.bias_offset(l), 1, OC);
    }
  }
}

}  // namespace backprop
