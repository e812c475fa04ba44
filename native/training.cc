#include "engine.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstring>

namespace backprop {
namespace {

// The step count and the running powers β1^t, β2^t (the bias corrections of Adam), advanced by one
// step, and that step's scalars as the step kernels read them.
Step next_step(const Optimizer& opt, OptimizerState& state) {
  state.scalars[0] += 1.0;
  state.scalars[1] *= opt.beta1;
  state.scalars[2] *= opt.beta2;
  return {opt.kind,
          opt.weight_decay != 0.0f,
          opt.learning_rate,
          opt.weight_decay,
          opt.momentum,
          static_cast<float>(opt.beta1),
          static_cast<float>(1.0 - opt.beta1),
          static_cast<float>(opt.beta2),
          static_cast<float>(1.0 - opt.beta2),
          static_cast<float>(opt.epsilon),
          static_cast<float>(opt.learning_rate / (1.0 - state.scalars[1])),
          static_cast<float>(1.0 / std::sqrt(1.0 - state.scalars[2]))};
}

// The labels and targets of samples order[start…start+rows) of data gathered into `batch`, and its
// input compressed by rows and by columns when most of it is zero. Reads only the data and writes
// only `batch`, so it can run beside the training of another batch.
void prepare_into(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                  int rows, PreparedBatch& batch) {
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  for (int r = 0; r < rows; r++) {
    const std::size_t i = order ? order[start + r] : static_cast<std::size_t>(start + r);
    if (data.labels) batch.labels[r] = data.labels[i];
    if (data.targets)
      std::memcpy(batch.targets.data() + r * outputs, data.targets + i * outputs, sizeof(float) * outputs);
  }
  const int C = net.sizes[0];
  batch.sparse =
      may_be_sparse(ctx, net.sizes[1]) && compress_rows(*ctx.kernels, data, order, start, rows, C, batch.input);
  batch.input.by_columns = batch.sparse && !scatters_gradient(ctx, net.sizes[1], rows);
  if (batch.input.by_columns) compress_columns(rows, C, batch.input);
}

// How a batch would train by the measured rules of thumb below, and whether any of its products is
// large enough to split. Only a sparse batch takes long to prepare (its compression); a dense one
// splits its products as soon as run_gemm would. A sparse batch whose samples each cost few
// multiply-adds stays beside at any size: the compression is then as long as the products. One whose
// samples each cost many splits as soon as run_gemm would, as a dense one: its preparation is short
// beside them.
BatchWays batch_ways(const Layers& net, int rows, const PreparedBatch& batch, bool may_be_beside) {
  const double limit = batch.sparse ? kBesideWork : kParallelWork;
  double total = 0.0;
  bool large = false;
  bool splittable = false;
  for (int l = 0; l < net.count(); l++) {
    const double multiply_adds = l == 0 && batch.sparse
                                     ? static_cast<double>(batch.input.row_start[rows]) * net.sizes[1]
                                     : static_cast<double>(rows) * net.sizes[l] * net.sizes[l + 1];
    total += multiply_adds;
    large = large || multiply_adds >= limit;
    splittable = splittable || multiply_adds >= kParallelWork;
  }
  const bool split = (batch.sparse && splittable && total >= kSplitSampleWork * rows) ||
                     (large && !(batch.sparse && total < kBesideSampleWork * rows));
  const BatchWay usual = may_be_beside && !split ? BatchWay::Beside : splittable ? BatchWay::Split : BatchWay::Alone;
  return {usual, splittable};
}

// A prepared batch as the products read it: its samples and first-layer input, the sparse input it
// holds or, for a batch that is not sparse, its features gathered now.
struct BatchInput {
  Samples samples;
  Input input;
};

BatchInput batch_input(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order,
                       int start, int rows, const PreparedBatch& batch, Workspace& ws) {
  const int C = net.sizes[0];
  if (!batch.sparse) {
    const Samples samples = batch_rows(ctx, data, order, start, rows, net, ws);
    return {samples, dense_input(ctx, samples, C, net.sizes[1], ws)};
  }
  const Samples samples = {nullptr, nullptr, data.labels ? batch.labels.data() : nullptr,
                           data.targets ? batch.targets.data() : nullptr, rows};
  return {samples, {nullptr, C, nullptr, &batch.input}};
}

// Forward, backward and the optimizer step of a prepared batch; returns its error sum.
double train_prepared(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                      int rows, const PreparedBatch& prepared, const Optimizer& opt, OptimizerState& state,
                      Workspace& ws) {
  const BatchInput batch = batch_input(ctx, net, data, order, start, rows, prepared, ws);
  const NoiseMask mask = {net.noise_seed, state.scalars[0]};
  const NoiseMask* masked = net.has_noise() ? &mask : nullptr;
  forward_layers(ctx, net, batch.input, rows, ws, masked);
  Scratch& scratch = *ctx.scratch;
  output_step(ctx, net, rows, &batch.samples, ws, scratch.row_loss.data(), scratch.row_correct.data());
  Evaluation eval = {0.0, 0};
  add_rows(eval, scratch.row_loss.data(), scratch.row_correct.data(), rows, batch.samples.labels != nullptr);
  const Step step = next_step(opt, state);
  const bool plain_sgd = opt.kind == OptimizerKind::Sgd && opt.weight_decay == 0.0f;
  backward_layers(ctx, net, batch.input, batch.samples, rows, ws,
                  {plain_sgd ? Update::Kind::Sgd : Update::Kind::Step, opt.learning_rate, &step, &state}, masked);
  return eval.loss_sum;
}

// Room in `batch` for a batch of up to `rows` samples.
void reserve_prepared(PreparedBatch& batch, const Layers& net, int rows) {
  const std::size_t inputs = static_cast<std::size_t>(net.sizes[0]);
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  const std::size_t row_count = static_cast<std::size_t>(rows);
  if (batch.labels.size() < row_count) batch.labels.resize(row_count);
  if (batch.targets.size() < row_count * outputs) batch.targets.resize(row_count * outputs);
  SparseInput& s = batch.input;
  // A row is compressed before its entries are counted against the capacity.
  const std::size_t entries = sparse_capacity(rows, net.sizes[0]) + inputs + kCompressSlack;
  for (std::vector<int>* list : {&s.row_columns, &s.column_rows})
    if (list->size() < entries) list->resize(entries);
  for (std::vector<float>* list : {&s.row_values, &s.column_values})
    if (list->size() < entries) list->resize(entries);
  for (std::vector<int>* list : {&s.row_start, &s.row_order})
    if (list->size() < row_count + 1) list->resize(row_count + 1);
  for (std::vector<int>* list : {&s.column_start, &s.column_order, &s.column_fill, &s.column_used})
    if (list->size() < inputs + 1) list->resize(inputs + 1);
  // The counting sorts' buckets: lengths up to a row's inputs or a column's rows.
  const std::size_t buckets = std::max(inputs, row_count) + 2;
  if (s.length_counts.capacity() < buckets) s.length_counts.reserve(buckets);
}

// The buffers of reserve_scratch; `trains` is false for an evaluation lane, which never takes a
// weight gradient (and so needs no scattered gradient's sums, as large as the first layer's weights).
void reserve(const Context& ctx, const Layers& net, int rows, bool trains) {
  Scratch& scratch = *ctx.scratch;
  std::size_t transposed = 0;
  for (int l = 1; l < net.count(); l++)
    transposed = std::max(transposed, static_cast<std::size_t>(net.sizes[l]) * net.sizes[l + 1]);
  if (scratch.transposed.size() < transposed) scratch.transposed.resize(transposed);
  // The K of a product is a layer width (forward and backward) or the batch rows (weight gradient).
  const int longest_k = std::max(rows, *std::max_element(net.sizes.begin(), net.sizes.end()));
  const std::size_t pack = static_cast<std::size_t>(longest_k) * kPackColumns + kLineFloats;
  const std::size_t widest = static_cast<std::size_t>(*std::max_element(net.sizes.begin(), net.sizes.end()));
  if (scratch.zero_bias.size() < widest) scratch.zero_bias.resize(widest, 0.0f);
  const int threads = ctx.pool->size();
  const int lane_rows = std::min(rows, kLaneRows);
  const std::size_t scored_rows = std::max(rows, lane_rows * kChunksPerRound * threads);
  if (scratch.row_loss.size() < scored_rows) scratch.row_loss.resize(scored_rows);
  if (scratch.row_correct.size() < scored_rows) scratch.row_correct.resize(scored_rows);
  const std::size_t inputs = static_cast<std::size_t>(net.sizes[0]);
  if (scratch.columns.size() < inputs) scratch.columns.resize(inputs);
  if (scratch.column_used.size() < inputs) scratch.column_used.resize(inputs);
  if (scratch.compact_input.size() < inputs * rows) scratch.compact_input.resize(inputs * rows);
  if (scratch.batch_bytes.size() < inputs * rows) scratch.batch_bytes.resize(inputs * rows);
  if (trains && scatters_gradient(ctx, net.sizes[1], rows)) {
    const std::size_t sums = inputs * scatter_stride(net.sizes[1]) + kLineFloats;
    if (scratch.scatter_sums.size() < sums) scratch.scatter_sums.assign(sums, 0.0f);
    if (scratch.scatter_cursors.size() < static_cast<std::size_t>(rows)) scratch.scatter_cursors.resize(rows);
  }
  reserve_prepared(scratch.prepared[0], net, rows);
  // The second batch serves every batch that train_batch prepares beside another, whatever the
  // workspace's rows (a library's caller may give room for more rows than a batch has).
  if (threads > 1) reserve_prepared(scratch.prepared[1], net, std::min(rows, kPreparedBesideRows));
  scratch.packs.resize(static_cast<std::size_t>(ctx.pool->size()));
  scratch.sparse_parts.resize(static_cast<std::size_t>(ctx.pool->size()) + 1);
  for (std::vector<float>& buffer : scratch.packs)
    if (buffer.size() < pack) buffer.resize(pack);
  if (threads > 1) {
    scratch.lanes.resize(static_cast<std::size_t>(threads) - 1);
    for (Scratch& lane : scratch.lanes) {
      reserve(calling_thread(ctx, lane), net, lane_rows, false);
      lane.lane_workspace = evaluation_workspace(net, lane_rows, lane.lane_floats);
    }
  }
}

}  // namespace

void reserve_scratch(const Context& ctx, const Layers& net, int rows) { reserve(ctx, net, rows, true); }

void forward(const Context& ctx, const Layers& net, const float* x, int rows, Workspace& ws, const NoiseMask* mask) {
  const Samples batch = {x, nullptr, nullptr, nullptr, rows};
  forward_layers(ctx, net, first_layer_input(ctx, batch, net.sizes[0], net.sizes[1], ws), rows, ws, mask);
  output_step(ctx, net, rows, nullptr, ws, nullptr, nullptr);
}

void gradients(const Context& ctx, const Layers& net, const Samples& samples, Workspace& ws, const NoiseMask* mask) {
  PreparedBatch& prepared = ctx.scratch->prepared[0];
  prepare_into(ctx, net, samples, nullptr, 0, samples.count, prepared);
  const BatchInput batch = batch_input(ctx, net, samples, nullptr, 0, samples.count, prepared, ws);
  backward_layers(ctx, net, batch.input, batch.samples, batch.samples.count, ws,
                  {Update::Kind::Gradient, 0.0f, nullptr, nullptr}, mask);
}

void prepare_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows) {
  prepare_into(ctx, net, data, order, start, rows, ctx.scratch->prepared[ctx.scratch->current]);
}

namespace {

// Seconds on a steady clock. The WebAssembly engine has one thread, so never chooses, and imports no clock.
double seconds_now() {
#if defined(__wasm__)
  return 0.0;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

}  // namespace

// The way a batch trains this time: in a probe, the probed way; else the fastest per sample of those
// it may take, each as its last probe measured and the way taken since as its batches went (a slower
// spell shows within a few batches); the usual way until each has been measured.
BatchWay choose_way(const WayTimes& times, BatchWays ways, bool may_be_beside) {
  const auto possible = [&](BatchWay way) {
    return way == BatchWay::Alone || (way == BatchWay::Beside ? may_be_beside : ways.splittable);
  };
  const long long phase = times.batches % kWayCheckEvery;
  if (phase < kWayCount * kWayProbe) {
    const BatchWay probed = static_cast<BatchWay>(phase / kWayProbe);
    return possible(probed) ? probed : ways.usual;
  }
  BatchWay best = ways.usual;
  for (int w = 0; w < kWayCount; w++) {
    const BatchWay way = static_cast<BatchWay>(w);
    if (possible(way) && times.per_row[w] > 0.0 && times.per_row[w] < times.per_row[static_cast<int>(best)]) best = way;
  }
  return best;
}

void record_way(WayTimes& times, BatchWay way, int rows, double seconds) {
  const long long phase = times.batches++ % kWayCheckEvery;
  const int w = static_cast<int>(way);
  if (phase >= kWayCount * kWayProbe) {
    double& average = times.per_row[w];
    const double sample = average > 0.0 ? std::min(seconds / rows, kWayOutlier * average) : seconds / rows;
    average += (sample - average) * kWayAverageWeight;
    return;
  }
  // A probe of a way the batch could not take trained the usual way: not a time of the probed one.
  if (phase % kWayProbe == 0) times.probed = 0;
  if (w == phase / kWayProbe) times.probe[times.probed++] = seconds / rows;
  // The probe's median: one batch held up by an interrupt or a page fault would move the mean of
  // eight by an eighth of its delay.
  if (phase % kWayProbe == kWayProbe - 1 && times.probed > 0) {
    double* const probe = times.probe;
    const int n = times.probed;
    std::sort(probe, probe + n);
    times.per_row[phase / kWayProbe] = (probe[(n - 1) / 2] + probe[n / 2]) / 2;
  }
}

double train_batch(const Context& ctx, const Layers& net, const Samples& data, const std::uint32_t* order, int start,
                   int rows, int next_rows, const Optimizer& opt, OptimizerState& state, Workspace& ws) {
  Scratch& scratch = *ctx.scratch;
  PreparedBatch& prepared = scratch.prepared[scratch.current];
  const bool threads = ctx.pool->size() > 1;
  const bool may_be_beside = threads && next_rows > 0 && rows <= kPreparedBesideRows;
  const BatchWays ways = batch_ways(net, rows, prepared, may_be_beside);
  // With one way only (one thread, or nothing to split nor to prepare beside) there is nothing to time.
  const bool choice = threads && (may_be_beside || ways.splittable);
  const BatchWay way = choice ? choose_way(scratch.way_times, ways, may_be_beside) : ways.usual;
  const double started = choice ? seconds_now() : 0.0;
  const int next = way == BatchWay::Beside ? 1 - scratch.current : scratch.current;
  double error_sum = 0.0;
  if (way == BatchWay::Beside) {
    // The training stays on the caller, whose caches hold the weights; the next batch is prepared
    // by any thread, the caller too when no other is free.
    ctx.pool->run_beside(
        [&] {
          error_sum =
              train_prepared(calling_thread(ctx, scratch), net, data, order, start, rows, prepared, opt, state, ws);
        },
        [&] { prepare_into(ctx, net, data, order, start + rows, next_rows, scratch.prepared[next]); });
  } else {
    const Context trained = way == BatchWay::Alone ? calling_thread(ctx, scratch) : ctx;
    error_sum = train_prepared(trained, net, data, order, start, rows, prepared, opt, state, ws);
    if (next_rows > 0) prepare_into(trained, net, data, order, start + rows, next_rows, scratch.prepared[next]);
  }
  if (choice) record_way(scratch.way_times, way, rows, seconds_now() - started);
  scratch.current = next;
  return error_sum;
}

Samples batch_rows(const Context& ctx, const Samples& data, const std::uint32_t* order, int start, int rows,
                   const Layers& net, Workspace& ws) {
  const std::size_t features = static_cast<std::size_t>(net.sizes[0]);
  const std::size_t outputs = static_cast<std::size_t>(net.sizes.back());
  if (!order) {
    const std::size_t first = static_cast<std::size_t>(start);
    return {data.x ? data.x + first * features : nullptr, data.x ? nullptr : data.x_bytes + first * features,
            data.labels ? data.labels + first : nullptr, data.targets ? data.targets + first * outputs : nullptr, rows};
  }
  std::uint8_t* batch_bytes = ctx.scratch->batch_bytes.data();
  for (int r = 0; r < rows; r++) {
    const std::size_t i = order[start + r];
    if (data.x) {
      std::memcpy(ws.batch_x + r * features, data.x + i * features, sizeof(float) * features);
    } else {
      std::memcpy(batch_bytes + r * features, data.x_bytes + i * features, features);
    }
    if (data.labels) ws.batch_labels[r] = data.labels[i];
    if (data.targets) std::memcpy(ws.batch_targets + r * outputs, data.targets + i * outputs, sizeof(float) * outputs);
  }
  return {data.x ? ws.batch_x : nullptr, data.x ? nullptr : batch_bytes, data.labels ? ws.batch_labels : nullptr,
          data.targets ? ws.batch_targets : nullptr, rows};
}

void ScratchDeleter::operator()(Scratch* scratch) const { delete scratch; }

ScratchPtr make_scratch() { return ScratchPtr(new Scratch()); }

}  // namespace backprop
