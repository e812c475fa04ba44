#include "engine.h"

#include "cpu_features.h"

#include <algorithm>
#include <cstring>

namespace backprop {
namespace {

// order[0..n) = the items item(0) … item(n − 1), longest first: a counting sort over their lengths
// start[k + 1] − start[k], up to max_length; items of one length keep their order. The order only
// lets a sparse tile's rows run in step, so lengths of at most 1 keep the items' own: one sample's
// columns all have one entry, and counting them, each through the same counter in memory, took a
// sixth of the time of preparing the sample.
template <typename Item>
void order_by_length(const int* start, int n, Item item, int max_length, int* order, std::vector<int>& counts) {
  if (max_length <= 1) {
    for (int i = 0; i < n; i++) order[i] = item(i);
    return;
  }
  const auto bucket = [&](int k) { return max_length - (start[k + 1] - start[k]); };
  counts.assign(static_cast<std::size_t>(max_length) + 1, 0);
  for (int i = 0; i < n; i++) counts[bucket(item(i))]++;
  // Each bucket's count becomes where its items start.
  int at = 0;
  for (int& count : counts) {
    const int here = count;
    count = at;
    at += here;
  }
  for (int i = 0; i < n; i++) {
    const int k = item(i);
    order[counts[bucket(k)]++] = k;
  }
}

// Finding the zero columns is one more pass over the batch's input; it pays for itself when each
// dropped input saves many multiply-adds (a wide first layer) or when most inputs are dropped
// (a few MNIST images have few pixels in common; a hundred share half of them).
bool worth_compacting(int rows, int outputs) { return outputs >= 64 || rows <= 16; }

// The batch's features as float rows: byte features widened into the workspace.
const float* float_rows(const Context& ctx, const Samples& batch, int C, Workspace& ws) {
  if (batch.x) return batch.x;
  ctx.kernels->widen_bytes(batch.x_bytes, ws.batch_x, static_cast<std::size_t>(batch.count) * C);
  return ws.batch_x;
}

}  // namespace

// The entries a sparse input of `rows` samples may hold. It never falls as rows grow: the lists are
// reserved for the workspace's rows and filled for a batch's, which may be fewer.
std::size_t sparse_capacity(int rows, int C) {
  const double entries = kSparseBelow * rows * C;
  return entries <= static_cast<double>(kSparseEntries) ? static_cast<std::size_t>(entries) : kSparseEntries;
}

// The non-zero inputs of samples order[start…start+rows) of data (start… without an order) into
// s's compressed rows, read where the samples lie, unless more than kSparseBelow of them are
// non-zero (or the lists cannot hold them): then false, and the products stay dense.
bool compress_rows(const Kernels& kernels, const Samples& data, const std::uint32_t* order, int start, int rows, int C,
                   SparseInput& s) {
  const std::size_t capacity = sparse_capacity(rows, C);
  int* row_start = s.row_start.data();
  int* columns = s.row_columns.data();
  float* values = s.row_values.data();
  std::size_t entries = 0;
  int longest = 0;
  const std::size_t row_bytes = static_cast<std::size_t>(C) * (data.x ? sizeof(float) : 1);
  const char* features = data.x ? reinterpret_cast<const char*>(data.x) : reinterpret_cast<const char*>(data.x_bytes);
  for (int r = 0; r < rows; r++) {
    row_start[r] = static_cast<int>(entries);
    // The samples of a shuffled epoch lie anywhere in a data set larger than the caches, and the
    // next one's address is known: its first lines are fetched while this one is compressed (seed
    // network shuffled, Zen 4, 1 thread: 0.063 → 0.055 s an epoch).
    if (order && r + 1 < rows) {
      const char* next = features + order[start + r + 1] * row_bytes;
      for (std::size_t at = 0; at < std::min(row_bytes, kPrefetchBytes); at += 64) __builtin_prefetch(next + at);
    }
    const std::size_t first = static_cast<std::size_t>(order ? order[start + r] : start + r) * C;
    const int length = data.x ? kernels.compress_nonzero(data.x + first, C, columns + entries, values + entries)
                              : kernels.compress_bytes(data.x_bytes + first, C, columns + entries, values + entries);
    longest = std::max(longest, length);
    entries += static_cast<std::size_t>(length);
    if (entries > capacity) return false;
  }
  row_start[rows] = static_cast<int>(entries);
  // Sorted over the lengths up to the longest row's, not the input's width: one sample online has
  // a single row to order.
  order_by_length(row_start, rows, [](int r) { return r; }, longest, s.row_order.data(), s.length_counts);
  return true;
}

// The compressed rows again by column, each column's rows in increasing order; the columns with
// entries listed longest first (only those: a weight row without inputs gets no gradient). Only the
// columns with entries are sorted: one sample online has about 150 of MNIST's 784, and sorting all
// of them took as long as its products.
void compress_columns(int rows, int C, SparseInput& s) {
  const int* row_start = s.row_start.data();
  int* column_start = s.column_start.data();
  if (rows == 1) {
    // One sample (online learning): each of its entries is its column's only one, in column order,
    // so only where each column starts is left to write (counting and summing all 784 columns took
    // longer than the sample's own entries).
    const int n = row_start[1];
    int k = 0;
    for (int e = 0; e < n; e++) {
      const int column = s.row_columns[e];
      std::fill(column_start + k, column_start + column + 1, e);
      k = column + 1;
    }
    std::fill(column_start + k, column_start + C + 1, n);
    std::fill(s.column_rows.begin(), s.column_rows.begin() + n, 0);
    std::copy(s.row_values.begin(), s.row_values.begin() + n, s.column_values.begin());
    std::copy(s.row_columns.begin(), s.row_columns.begin() + n, s.column_order.begin());
    s.used_columns = n;
    return;
  }
  std::fill(column_start, column_start + C + 1, 0);
  for (int e = 0; e < row_start[rows]; e++) column_start[s.row_columns[e] + 1]++;
  // The counts become where each column starts, and the columns with entries are listed without a
  // branch (which columns are empty is as unpredictable as the pixels); the running sum in a local,
  // since every store to `used` might be to column_start.
  int* used = s.column_used.data();
  int used_count = 0;
  int total = 0;
  for (int k = 0; k < C; k++) {
    const int count = column_start[k + 1];
    used[used_count] = k;
    used_count += count != 0;
    total += count;
    column_start[k + 1] = total;
  }
  int* fill = s.column_fill.data();
  std::copy(column_start, column_start + C, fill);
  for (int r = 0; r < rows; r++) {
    for (int e = row_start[r]; e < row_start[r + 1]; e++) {
      const int at = fill[s.row_columns[e]]++;
      s.column_rows[at] = r;
      s.column_values[at] = s.row_values[e];
    }
  }
  order_by_length(
      column_start, used_count, [used](int i) { return used[i]; }, rows, s.column_order.data(), s.length_counts);
  s.used_columns = used_count;
}

// The first layer's input of a batch that is not sparse: x, or only its columns that are non-zero somewhere.
Input dense_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws) {
  const float* x = float_rows(ctx, batch, C, ws);
  const int rows = batch.count;
  if (!worth_compacting(rows, outputs)) return {x, C, nullptr, nullptr};
  Scratch& scratch = *ctx.scratch;
  std::uint8_t* used = scratch.column_used.data();
  std::fill(used, used + C, 0);
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    for (int k = 0; k < C; k++) used[k] |= row[k] != 0.0f;
  }
  int* columns = scratch.columns.data();
  int width = 0;
  for (int k = 0; k < C; k++)
    if (used[k]) columns[width++] = k;
  if (width >= kCompactBelow * C) return {x, C, nullptr, nullptr};
  float* compact = scratch.compact_input.data();
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<std::size_t>(r) * C;
    float* out = compact + static_cast<std::size_t>(r) * width;
    for (int i = 0; i < width; i++) out[i] = row[columns[i]];
  }
  return {compact, width, columns, nullptr};
}

// Whether the first layer of `outputs` units may be sparse on these kernels.
bool may_be_sparse(const Context& ctx, int outputs) { return outputs <= sparse_widest(ctx.kernels); }

bool scatters_gradient(const Context& ctx, int outputs, int rows) {
  return outputs <= ctx.kernels->scatter_widest && rows >= kScatterRows;
}

// The first layer's input of a batch that is scored or run forward (no weight gradient).
Input first_layer_input(const Context& ctx, const Samples& batch, int C, int outputs, Workspace& ws) {
  SparseInput& sparse = ctx.scratch->prepared[0].input;
  if (may_be_sparse(ctx, outputs) && compress_rows(*ctx.kernels, batch, nullptr, 0, batch.count, C, sparse)) {
    return {nullptr, C, nullptr, &sparse};
  }
  return dense_input(ctx, batch, C, outputs, ws);
}

}  // namespace backprop
