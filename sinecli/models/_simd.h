/* What sinecli's compiled kernels share (rocket/_ppv.c, hydra/_hydra.c): vectors of 8
   sequences, and one build per instruction set chosen at run time.

   Every kernel repeats the float operations of its family's torch path in the same order, in
   IEEE single precision, built with -ffp-contract=off (no fused multiply-add) and without
   -ffast-math, so a vector add is the same add at any width: the SSE, AVX2 and AVX-512
   builds and the torch path agree to the bit (setup.py). */

#ifndef SINECLI_SIMD_H
#define SINECLI_SIMD_H

#include <stdint.h>

#define LANES 8 /* sequences per vector */

typedef float vf __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(LANES * sizeof(int32_t))));

/* Inlined into each clone of a kernel's entry, so compiled for its instruction set. */
#define INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* a where mask, else b (mask: all ones or all zeros per lane) */
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
INLINE vi vselect_int(vi mask, vi a, vi b) { return (a & mask) | (b & ~mask); }

#endif
