#include "engine.h"

#include <algorithm>

namespace backprop {

// Evaluation scores chunks of samples on all threads at once, each chunk forward through every layer
// on one thread (one hand-off per chunk rather than several per layer): thread 0 in the caller's
// scratch and workspace, each other thread in a lane of the scratch. A round of chunks is scored,
// then its rows' errors are added in row order.
namespace {

// Rows per chunk: at most a lane's, and few enough that every thread gets one.
int evaluation_chunk_rows(int count, int threads, int ws_rows) {
  const int even_share = (count + threads - 1) / threads;
  return std::max(1, std::min({ws_rows, kLaneRows, even_share}));
}

}  // namespace

// A lane's workspace for `rows` samples, laid out in `floats` (grown to fit): what a forward pass
// writes, and the widened input.
Workspace evaluation_workspace(const Layers& net, int rows, std::vector<float>& floats) {
  const auto layer_floats = [&](int l) {
    return static_cast<std::size_t>(rows) * net.sizes[l + 1] * (keeps_pre_activation(net.activations[l]) ? 2 : 1);
  };
  std::size_t size = static_cast<std::size_t>(rows) * net.sizes[0];
  for (int l = 0; l < net.count(); l++) size += layer_floats(l);
  if (floats.size() < size) floats.resize(size);
  Workspace ws{};
  ws.rows = rows;
  float* at = floats.data();
  for (int l = 0; l < net.count(); l++) {
    ws.acts.push_back(at);
    ws.pre.push_back(keeps_pre_activation(net.activations[l]) ? at + static_cast<std::size_t>(rows) * net.sizes[l + 1]
                                                              : nullptr);
    at += layer_floats(l);
  }
  ws.batch_x = at;
  return ws;
}

Evaluation evaluate(const Context& ctx, const Layers& net, const Samples& data, Workspace& ws) {
  Scratch& scratch = *ctx.scratch;
  const int threads = ctx.pool->size();
  const int chunk_rows = evaluation_chunk_rows(data.count, threads, ws.rows);
  const int round_rows = chunk_rows * kChunksPerRound * threads;
  Evaluation eval = {0.0, 0};
  for (int round = 0; round < data.count; round += round_rows) {
    const int rows_in_round = std::min(round_rows, data.count - round);
    ctx.pool->run((rows_in_round + chunk_rows - 1) / chunk_rows, [&](int chunk, int thread) {
      const Context lane = calling_thread(ctx, thread == 0 ? scratch : scratch.lanes[thread - 1]);
      Workspace& lane_ws = thread == 0 ? ws : scratch.lanes[thread - 1].lane_workspace;
      const int first = chunk * chunk_rows;
      const int rows = std::min(chunk_rows, rows_in_round - first);
      const Samples scored = batch_rows(lane, data, nullptr, round + first, rows, net, lane_ws);
      forward_layers(lane, net, first_layer_input(lane, scored, net.sizes[0], net.sizes[1], lane_ws), rows, lane_ws,
                     nullptr);
      output_step(lane, net, rows, &scored, lane_ws, scratch.row_loss.data() + first,
                  scratch.row_correct.data() + first);
    });
    add_rows(eval, scratch.row_loss.data(), scratch.row_correct.data(), rows_in_round, data.labels != nullptr);
  }
  return eval;
}

}  // namespace backprop
