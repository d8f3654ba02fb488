/* cpu.c: which kernels this CPU runs (see cpu.h). */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int cpu_runs(const char *name)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx512bw"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    if (!strcmp(name, "avx512vnni"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "avx512") && strcmp(name, "avx512bw") && strcmp(name, "avx512vnni") &&
           strcmp(name, "avx2");
}

const void *cpu_pick(const void *table, size_t count, size_t size, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        const void *entry = (const char *)table + i * size;
        const char *entry_name;
        memcpy(&entry_name, entry, sizeof entry_name);
        if ((!name || !strcmp(name, entry_name)) && cpu_runs(entry_name))
            return entry;
    }
    return NULL;
}

const void *cpu_chosen(cpu_choice *c)
{
    const void *k = atomic_load(&c->in_use);
    if (!k) {
        const char *forced = c->env ? getenv(c->env) : NULL;
        if (forced)
            k = cpu_pick(c->table, c->count, c->size, forced);
        if (!k)
            k = cpu_pick(c->table, c->count, c->size, NULL);
        atomic_store(&c->in_use, k);
    }
    return k;
}

int cpu_select(cpu_choice *c, const char *name)
{
    const void *k = cpu_pick(c->table, c->count, c->size, name);
    if (!k)
        return -1;
    atomic_store(&c->in_use, k);
    return 0;
}
