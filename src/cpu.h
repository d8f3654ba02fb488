/* cpu.h: choosing among kernels written for different instruction sets.
 *
 * gemm.c, igemm.c and window.c each keep a table of kernels, best
 * first, every entry beginning with its name; the instruction sets a name
 * needs are known here, in one place. */
#ifndef ONNXQ_CPU_H
#define ONNXQ_CPU_H
#include <stddef.h>

/* Nonzero when this CPU runs the kernel called `name`: "avx512" (AVX-512F),
 * "avx512bw" (with BW and VL), "avx512vnni" (with BW, VL and VNNI), "avx2"
 * (with FMA), or any other name (plain C). */
int cpu_runs(const char *name);

/* The entry of `table` (count entries of `size` bytes, each starting with
 * a const char * name) called `name` if the CPU runs it, else NULL; with
 * name NULL, the first entry the CPU runs. */
const void *cpu_pick(const void *table, size_t count, size_t size, const char *name);

#endif
