#pragma once
// Prebuilt Linux binaries must load wherever Node 20 itself runs (glibc 2.28 and later). glibc 2.29
// gave exp and log new symbol versions that only drop the old error-handling wrapper; binding to
// the oldest versions keeps the floor at 2.17 and computes the same values. Include this in every
// file that calls exp or log (test/11-install.test.ts reads the symbol versions of the prebuilds).
#if defined(__linux__) && defined(__GLIBC__)
#if defined(__x86_64__)
__asm__(".symver exp,exp@GLIBC_2.2.5");
__asm__(".symver log,log@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver exp,exp@GLIBC_2.17");
__asm__(".symver log,log@GLIBC_2.17");
#endif
#endif
