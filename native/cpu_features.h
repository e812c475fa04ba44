// Which kernel tables this build holds and which of them this CPU (and its OS) can run.
#pragma once

#include <vector>

#include "kernels.h"

namespace backprop {

enum IsaBit : unsigned {
  kIsaScalar = 1u << 0,
  kIsaAvx2 = 1u << 1,
  kIsaAvx512 = 1u << 2,
  kIsaNeon = 1u << 3,
};

struct IsaEntry {
  IsaBit bit;
  const Kernels* kernels;
};

// Every table compiled into this build, best first.
const std::vector<IsaEntry>& compiled_isas();

// The ISAs this CPU supports, from CPUID and the OS's saved-state register (XCR0) on x86-64;
// on arm64 NEON is baseline. Detected once per process: the answer cannot change.
unsigned supported_isas();

// The table named `name` ("avx512", "avx2", "neon", "scalar"), or nullptr if it is not compiled in.
const Kernels* find_kernels(const char* name);

// The best compiled table the CPU supports among `allowed`.
const Kernels* best_kernels(unsigned allowed);

IsaBit isa_bit(const Kernels* kernels);

// The widest first layer whose products are sparse with `kernels` on this CPU: the table's figure,
// but on a CPU that runs each 512-bit operation as two 256-bit halves (AMD's Zen 4), AVX-512's dense
// product streams no faster than AVX2's, so its sparse one pays at every width, as AVX2's does.
int sparse_widest(const Kernels* kernels);

}  // namespace backprop
