// The machine's floating-point peak with the engine's kernels and threads, for the benchmark.
#pragma once

#include "network.h"

namespace backprop {

// GFLOP/s of independent FMA chains on every thread of ctx.pool for about `seconds`.
double measure_peak_gflops(const Context& ctx, double seconds);

}  // namespace backprop
