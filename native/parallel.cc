#include "engine.h"

#include <algorithm>

namespace backprop {
// Splits the larger of M and N into one contiguous block per thread. Every element is still one
// thread's sum over k in order, so the result is the same for any thread count.
void run_gemm(const Context& ctx, const Gemm& g) {
  const int threads = ctx.pool->size();
  std::vector<std::vector<float>>& packs = ctx.scratch->packs;
  if (threads == 1 || static_cast<double>(g.M) * g.N * g.K < kParallelWork) {
    ctx.kernels->gemm(g, packs[0].data());
    return;
  }
  const bool split_columns = g.N >= g.M;
  // Blocks of whole register tiles: 16 columns (one AVX-512 vector) or 6 rows.
  const int unit = split_columns ? 16 : 6;
  const int extent = split_columns ? g.N : g.M;
  const int block = ((extent + threads - 1) / threads + unit - 1) / unit * unit;
  ctx.pool->run(threads, [&](int chunk, int thread) {
    const int begin = std::min(extent, chunk * block);
    const int end = std::min(extent, begin + block);
    if (begin >= end) return;
    Gemm part = g;
    if (split_columns) {
      part.c += begin;
      part.b += begin;
      part.N = end - begin;
      if (part.ep.bias) part.ep.bias += begin;
      if (part.ep.mask) part.ep.mask += begin;
    } else {
      if (part.c_rows) {
        part.c_rows += begin;
      } else {
        part.c += static_cast<std::size_t>(begin) * g.ldc;
      }
      part.a += static_cast<std::size_t>(begin) * g.a_row;
      part.M = end - begin;
      if (part.ep.mask) part.ep.mask += static_cast<std::size_t>(begin) * g.ldc;
    }
    ctx.kernels->gemm(part, packs[thread].data());
  });
}

// A sparse product over `entries` entries, split across the threads: by column panels when c has
// a panel for every thread (each thread then copies only its own panels of b), else its list of rows
// in one contiguous part per thread with about as many entries each. Each element of c is one
// thread's, so the result is the same for any thread count.
void run_sparse_gemm(const Context& ctx, const SparseGemm& g, std::size_t entries) {
  const int threads = ctx.pool->size();
  if (threads == 1 || static_cast<double>(entries) * g.N < kParallelWork) {
    ctx.kernels->sparse_gemm(g, ctx.scratch->packs[0].data());
    return;
  }
  const int panels = (g.N + kPackColumns - 1) / kPackColumns;
  if (panels >= threads) {
    ctx.pool->run(panels, [&](int panel, int thread) {
      const int begin = panel * kPackColumns;
      SparseGemm piece = g;
      piece.c += begin;
      piece.b += begin;
      piece.N = std::min(kPackColumns, g.N - begin);
      if (piece.ep.bias) piece.ep.bias += begin;
      ctx.kernels->sparse_gemm(piece, ctx.scratch->packs[thread].data());
    });
    return;
  }
  int* bounds = ctx.scratch->sparse_parts.data();
  std::fill(bounds, bounds + threads + 1, g.count);
  bounds[0] = 0;
  std::size_t seen = 0;
  int part = 1;
  for (int i = 0; i < g.count && part < threads; i++) {
    seen += static_cast<std::size_t>(g.row_start[g.rows[i] + 1] - g.row_start[g.rows[i]]);
    if (seen * threads >= entries * part) bounds[part++] = i + 1;
  }
  ctx.pool->run(threads, [&](int chunk, int thread) {
    SparseGemm piece = g;
    piece.rows = g.rows + bounds[chunk];
    piece.count = bounds[chunk + 1] - bounds[chunk];
    if (piece.count > 0) ctx.kernels->sparse_gemm(piece, ctx.scratch->packs[thread].data());
  });
}

// The context of work that stays on the thread running it, in `scratch`.
Context calling_thread(const Context& ctx, Scratch& scratch) {
  static ThreadPool no_workers(1);
  return {ctx.kernels, &no_workers, &scratch};
}

}  // namespace backprop
