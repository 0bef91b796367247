// One core's float32 FMA peak (bench/kernels.ts): 12 independent 512-bit fused multiply-adds per
// iteration, enough to keep both FMA pipes of a Zen 4/5 or Intel AVX-512 core busy. Prints GFLOP/s.
// Built by bench/kernels.ts with: cc -O2 -mavx512f
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

int main(void) {
  __m512 acc[12];
  const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
  const long iterations = 200000000;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  float sum = 0;  // the results are used, so the loop is not optimised away
  for (int i = 0; i < 12; i++) sum += _mm512_reduce_add_ps(acc[i]);
  const double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("%.1f %g\n", (double)iterations * 12 * 16 * 2 / seconds / 1e9, sum);
  return 0;
}
