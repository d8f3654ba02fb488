/* cpu.h: choosing among kernels written for different instruction sets.
 *
 * gemm.c, igemm.c and window.c each keep a table of kernels, best
 * first, every entry beginning with its name, and a cpu_choice over it;
 * the instruction sets a name needs are known here, in one place. */
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

/* A module's choice among the entries of its table: made by the first
 * caller of cpu_chosen (the entry the environment variable `env` names, if
 * set and the CPU runs it, else the first the CPU runs) or by cpu_select.
 * A race between threads only repeats the same choice. */
typedef struct {
    const void *table;
    size_t count, size;
    const char *env; /* NULL: none */
    const void *_Atomic in_use;
} cpu_choice;

/* The entry in use. */
const void *cpu_chosen(cpu_choice *c);

/* Use the entry called `name` from now on: 0, or -1 when there is none or
 * the CPU does not run it. */
int cpu_select(cpu_choice *c, const char *name);

#endif
