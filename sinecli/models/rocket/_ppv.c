/* The MiniRocket PPV features of one dilation (or MultiRocket's four poolings), computed
   and counted in registers.

   The same float operations, in the same order, as transform.py's torch path
   (`kernel_outputs`, `combine_channels`, `count_above`, `dilation_features`), so the features
   are bit-identical to it (../_simd.h says how): A = -((((x0 + x1) + x2) ...) + x8),
   G = 3 * x, a kernel's output ((G[i] + A) + G[j]) + G[k]; over channels, total = o0 * m0,
   then total + oc * mc. Counts are exact integers; each feature is count / counted
   positions, one correctly rounded division, as torch's.

   What is new is the blocking: the torch path writes every comparison out as a float and sums
   the floats by a matrix product; here 8 sequences (one vector) are counted against 8 biases
   at a time in registers, so one output value costs a compare and a subtract per bias, read
   from L1, and nothing is written until a (kernel, bias) pair's count is done.

   Layout: x is time-major (W + 8 * dilation, C, B), zero-padded by 4 * dilation at both ends
   (`pad_time`), the batch contiguous; out holds a row per sequence, `stride` apart, the
   dilation's 84 * n features in its columns from `out` on, ordered by kernel then bias (and
   each further operator's `per_op` columns after the last's): written straight where the
   model's features go, with no transposition after. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../_simd.h"

#define BIAS_BLOCK 8   /* biases counted at once, each in a register of counts */
#define POOL_BLOCK 3   /* biases pooled four ways at once (5 registers each) */
#define INDEX_BLOCK 4096 /* time steps whose index sums stay in int32 (4096^2 / 2 < 2^31) */
#define TAPS 9
#define KERNELS 84

/* The counted positions [start, end) of one half (inner or full) for the lanes of a block. */
typedef struct {
    int32_t start[LANES], end[LANES];
    int64_t lo, hi;   /* the union of the lanes' ranges */
    vf counted;       /* end - start, as floats (1 in unused lanes) */
} half_t;

typedef struct {
    const float *x;
    int64_t width, channels, batch, dilation, n;
    const float *mask;  /* (84, C) */
    const float *edges; /* (84, n) */
    const int32_t *taps; /* (84, 3) */
    int64_t stride;      /* the distance between out's rows */
    int operators;       /* 1: PPV; 4: PPV, MPV, MIPV, LSPV (MultiRocket) */
    int64_t per_op;      /* the distance between one operator's columns and the next's */
    const int64_t *starts[2], *ends[2]; /* (B,) each: [0] inner, [1] full */
    int inner_first;
    float *out;
} job_t;

INLINE void set_half(half_t *h, const int64_t *starts, const int64_t *ends, int64_t b0,
                     int lanes) {
    h->lo = INT64_MAX;
    h->hi = 0;
    for (int l = 0; l < LANES; l++) {
        int used = l < lanes;
        h->start[l] = used ? (int32_t)starts[b0 + l] : 0;
        h->end[l] = used ? (int32_t)ends[b0 + l] : 0;
        h->counted[l] = used ? (float)(h->end[l] - h->start[l]) : 1.0f;
        if (used && h->start[l] < h->end[l]) {
            if (h->start[l] < h->lo) h->lo = h->start[l];
            if (h->end[l] > h->hi) h->hi = h->end[l];
        }
    }
    if (h->lo > h->hi) h->lo = h->hi = 0;
}

/* The lanes' padded input (C, W + 8d) and its threefold G, and A (C, W) over [lo, hi). */
INLINE void load_block(const job_t *j, int64_t b0, int lanes, int64_t lo, int64_t hi, vf *xs,
                       vf *g, vf *a) {
    const int64_t padded = j->width + (TAPS - 1) * j->dilation;
    for (int64_t t = 0; t < padded; t++)
        for (int64_t c = 0; c < j->channels; c++) {
            const float *row = j->x + (t * j->channels + c) * j->batch + b0;
            vf v = {0};
            for (int l = 0; l < lanes; l++) v[l] = row[l];
            xs[c * padded + t] = v;
            g[c * padded + t] = v * 3.0f;
        }
    for (int64_t c = 0; c < j->channels; c++)
        for (int64_t t = lo; t < hi; t++) {
            const vf *p = xs + c * padded + t;
            vf s = p[0];
            for (int k = 1; k < TAPS; k++) s = s + p[k * j->dilation];
            a[c * j->width + t] = -s;
        }
}

/* One kernel's outputs over [h->lo, h->hi) into vals, -inf where a lane does not count. */
INLINE void kernel_values(const job_t *j, int k, const half_t *h, const vf *g, const vf *a,
                          vf *vals) {
    const int64_t padded = j->width + (TAPS - 1) * j->dilation;
    const int64_t d = j->dilation;
    const int64_t i0 = j->taps[3 * k] * d, i1 = j->taps[3 * k + 1] * d,
                  i2 = j->taps[3 * k + 2] * d;
    vi start, end;
    for (int l = 0; l < LANES; l++) {
        start[l] = h->start[l];
        end[l] = h->end[l];
    }
    const vf minus_inf = (vf){0} - INFINITY;
    for (int64_t t = h->lo; t < h->hi; t++) {
        vf total = {0};
        for (int64_t c = 0; c < j->channels; c++) {
            const vf *gc = g + c * padded + t;
            vf o = ((gc[i0] + a[c * j->width + t]) + gc[i1]) + gc[i2];
            if (j->channels == 1)
                total = o;
            else if (c == 0)
                total = o * j->mask[k * j->channels];
            else
                total = total + o * j->mask[k * j->channels + c];
        }
        vi tt = (vi){0} + (int32_t)t;
        vi inside = (tt >= start) & (tt < end);
        vals[t - h->lo] = vselect(inside, total, minus_inf);
    }
}

/* Count vals against m <= BIAS_BLOCK biases (a constant where inlined: the loops unroll)
   and write their features: lane l's from first[l * stride] on. */
INLINE void count_biases(const vf *vals, int64_t steps, const float *edges, const int m,
                         const half_t *h, float *first, int64_t stride, int lanes) {
    vi acc[BIAS_BLOCK];
    for (int q = 0; q < m; q++) acc[q] = (vi){0};
    for (int64_t s = 0; s < steps; s++) {
        const vf v = vals[s];
        for (int q = 0; q < m; q++) acc[q] -= (vi)(v > edges[q]);
    }
    for (int l = 0; l < lanes; l++)
        for (int q = 0; q < m; q++) first[l * stride + q] = (float)acc[q][l] / h->counted[l];
}

/* MultiRocket's four poolings of vals against m <= POOL_BLOCK biases, as
   multirocket/pooling.py computes them: with d = value - bias and "positive" d > 0, PPV the
   count over the counted positions; MPV the positive d added in time order, over the count
   (0 when none); MIPV the mean of their time steps from the lane's first counted one (-1 when
   none; whole-number sums, then one division in double rounded to float, as the torch path);
   LSPV the longest run of positives over the counted positions. */
INLINE void pool_biases(const vf *vals, const half_t *h, const float *edges, const int m,
                        float *first, const job_t *j, int lanes) {
    vi count[POOL_BLOCK], run[POOL_BLOCK], best[POOL_BLOCK], steps_sum[POOL_BLOCK];
    vf total[POOL_BLOCK];
    int64_t index[POOL_BLOCK][LANES];
    for (int q = 0; q < m; q++) {
        count[q] = run[q] = best[q] = (vi){0};
        total[q] = (vf){0};
        for (int l = 0; l < LANES; l++) index[q][l] = 0;
    }
    const int64_t steps = h->hi - h->lo;
    for (int64_t s0 = 0; s0 < steps; s0 += INDEX_BLOCK) {  /* time steps from s0, in int32 */
        const int64_t s1 = s0 + INDEX_BLOCK < steps ? s0 + INDEX_BLOCK : steps;
        vi before[POOL_BLOCK];
        for (int q = 0; q < m; q++) {
            before[q] = count[q];
            steps_sum[q] = (vi){0};
        }
        for (int64_t s = s0; s < s1; s++) {
            const vf v = vals[s];
            const vi rel = (vi){0} + (int32_t)(s - s0);
            for (int q = 0; q < m; q++) {
                const vf d = v - edges[q];
                const vi positive = (vi)(d > 0.0f);
                count[q] -= positive;
                steps_sum[q] += rel & positive;
                total[q] = total[q] + vselect(positive, d, (vf){0});
                run[q] = (run[q] + 1) & positive;
                best[q] = vselect_int(run[q] > best[q], run[q], best[q]);
            }
        }
        for (int q = 0; q < m; q++)
            for (int l = 0; l < lanes; l++)
                index[q][l] += steps_sum[q][l] + (h->lo + s0) * (int64_t)(count[q][l] -
                                                                        before[q][l]);
    }
    for (int l = 0; l < lanes; l++)
        for (int q = 0; q < m; q++) {
            float *f = first + l * j->stride + q;
            const int32_t c = count[q][l];
            const float some = c > 0 ? (float)c : 1.0f;
            f[0] = (float)c / h->counted[l];
            f[j->per_op] = c > 0 ? total[q][l] / some : 0.0f;
            f[2 * j->per_op] = c > 0 ? (float)(((double)index[q][l] -
                                                (double)h->start[l] * (double)c) / (double)c)
                                     : -1.0f;
            f[3 * j->per_op] = (float)best[q][l] / h->counted[l];
        }
}

/* Count vals against the kernel's n biases, BIAS_BLOCK at a time, and write the features. */
INLINE void count_kernel(const job_t *j, int k, const half_t *h, const vf *vals, int64_t b0,
                         int lanes) {
    const int64_t steps = h->hi - h->lo;
    const int block = j->operators == 1 ? BIAS_BLOCK : POOL_BLOCK;
    for (int64_t e0 = 0; e0 < j->n; e0 += block) {
        const float *edges = j->edges + k * j->n + e0;
        float *first = j->out + b0 * j->stride + k * j->n + e0;
        const int m = j->n - e0 < block ? (int)(j->n - e0) : block;
        if (j->operators == 1) {
            switch (m) {
#define COUNT(M) case M: count_biases(vals, steps, edges, M, h, first, j->stride, lanes); break;
                COUNT(1) COUNT(2) COUNT(3) COUNT(4) COUNT(5) COUNT(6) COUNT(7) COUNT(8)
#undef COUNT
            }
        } else {
            switch (m) {
#define POOL(M) case M: pool_biases(vals, h, edges, M, first, j, lanes); break;
                POOL(1) POOL(2) POOL(3)
#undef POOL
            }
        }
    }
}

CLONES
static void run_block(const job_t *j, int64_t b0, vf *xs, vf *g, vf *a, vf *vals) {
    const int lanes = (int)(j->batch - b0 < LANES ? j->batch - b0 : LANES);
    half_t halves[2];
    for (int h = 0; h < 2; h++) set_half(&halves[h], j->starts[h], j->ends[h], b0, lanes);
    int64_t lo = halves[0].lo < halves[1].lo ? halves[0].lo : halves[1].lo;
    int64_t hi = halves[0].hi > halves[1].hi ? halves[0].hi : halves[1].hi;
    load_block(j, b0, lanes, lo, hi, xs, g, a);
    for (int k = 0; k < KERNELS; k++) {
        const half_t *h = &halves[(k % 2 == j->inner_first) ? 0 : 1];
        kernel_values(j, k, h, g, a, vals);
        count_kernel(j, k, h, vals, b0, lanes);
    }
}

static int run_job(const job_t *j) {
    const int64_t padded = j->width + (TAPS - 1) * j->dilation;
    vf *xs = aligned_alloc(sizeof(vf), sizeof(vf) * (size_t)(j->channels * padded));
    vf *g = aligned_alloc(sizeof(vf), sizeof(vf) * (size_t)(j->channels * padded));
    vf *a = aligned_alloc(sizeof(vf), sizeof(vf) * (size_t)(j->channels * j->width + 1));
    vf *vals = aligned_alloc(sizeof(vf), sizeof(vf) * (size_t)(j->width + 1));
    int ok = xs && g && a && vals;
    if (ok)
        for (int64_t b0 = 0; b0 < j->batch; b0 += LANES) run_block(j, b0, xs, g, a, vals);
    free(xs);
    free(g);
    free(a);
    free(vals);
    return ok;
}

static PyObject *dilation_ppv(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long x, mask, edges, taps, s0, e0, s1, e1, out;
    long long width, channels, batch, dilation, n, stride, per_op;
    int inner_first, operators;
    if (!PyArg_ParseTuple(args, "KLLLLKKLKKKKKiKLiL", &x, &width, &channels, &batch, &dilation,
                          &mask, &edges, &n, &taps, &s0, &e0, &s1, &e1, &inner_first, &out,
                          &stride, &operators, &per_op))
        return NULL;
    if (width < 1 || channels < 1 || batch < 1 || dilation < 1 || n < 1 ||
        (operators != 1 && operators != 4) || per_op < KERNELS * n ||
        stride < (operators - 1) * per_op + KERNELS * n) {
        PyErr_SetString(PyExc_ValueError, "dilation_ppv: inconsistent sizes");
        return NULL;
    }
    job_t j = {(const float *)x, width, channels, batch, dilation, n, (const float *)mask,
               (const float *)edges, (const int32_t *)taps, stride, operators, per_op,
               {(const int64_t *)s0, (const int64_t *)s1}, {(const int64_t *)e0,
                                                            (const int64_t *)e1},
               inner_first, (float *)out};
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = run_job(&j);
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"dilation_ppv", dilation_ppv, METH_VARARGS,
     "dilation_ppv(x, width, channels, batch, dilation, mask, edges, n, taps, inner_starts, "
     "inner_ends, full_starts, full_ends, inner_first, out, stride, operators, per_op): one "
     "dilation's features (PPV; or PPV, MPV, MIPV, LSPV) into the columns of the rows "
     "`stride` apart from `out` on, each operator's `per_op` after the last's; "
     "every array argument is the address of a contiguous buffer (see transform.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ppv",
                                    "MiniRocket PPV features in registers (see _ppv.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__ppv(void) { return PyModule_Create(&module); }
