/* Hydra's soft and hard counts of one (dilation, representation), computed in registers.

   The same float operations, in the same order, as transform.py's torch path (`responses`,
   `first_equal`, `dilation_counts`), so the counts are bit-identical to it (../_simd.h says
   how): a response is ((w0 x0 + w1 x1) + w2 x2) + ... tap by tap, each product rounded before
   its add; the winner is the first kernel whose response equals the group's largest, the
   loser the first whose response equals the smallest; a winner's soft count adds its
   response, time step after time step in order, a loser's hard count adds 1.

   What is new is the blocking: the torch path writes every response and every mask out to
   memory (18 elementwise passes a block); here 8 sequences (one vector) run a group's k
   kernels at one time step in registers, and only the counts are written, once.

   Layout: sp is time-major (T + 8 * dilation, B, G'), padded by 4 * dilation at both ends
   (`pad_time`), G' = G or 1 (every group reading the same series); w is (9, k, G);
   read_to (B,); soft and hard are (B, k, G). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>

#include "../_simd.h"

#define TAPS 9
#define MAX_KERNELS 32 /* kernels per group (config.MAX_KERNELS_PER_GROUP) */

typedef struct {
    const float *sp;
    int64_t padded, batch, inputs, dilation, kernels, groups, steps;
    const float *w;
    const int64_t *read_to;
    float *soft, *hard;
} job_t;

/* One group's series for the lanes of a block: series[t], t < padded. */
INLINE void load_series(const job_t *j, int64_t b0, int lanes, int64_t g, vf *series) {
    const int64_t at = j->inputs == 1 ? 0 : g;
    for (int64_t t = 0; t < j->padded; t++) {
        const float *row = j->sp + (t * j->batch + b0) * j->inputs + at;
        vf v = {0};
        for (int l = 0; l < lanes; l++) v[l] = row[l * j->inputs];
        series[t] = v;
    }
}

/* The first kernel whose response equals `target` among the lanes still `free`: its mask. */
INLINE vi first_of(const vf *z, int k, vf target, vi free, vi *hit) {
    for (int i = 0; i < k; i++) {
        hit[i] = (z[i] == target) & free;
        free &= ~hit[i];
    }
    return free;
}

/* One group over every time step: its kernels' soft and hard counts for the lanes. */
INLINE void run_group(const job_t *j, int64_t g, const vf *series, vi read_to, vf *soft,
                      vf *hard) {
    const int k = (int)j->kernels;
    float w[TAPS][MAX_KERNELS];
    for (int tap = 0; tap < TAPS; tap++)
        for (int i = 0; i < k; i++) w[tap][i] = j->w[(tap * k + i) * j->groups + g];
    for (int i = 0; i < k; i++) soft[i] = hard[i] = (vf){0};
    for (int64_t t = 0; t < j->steps; t++) {
        vf x[TAPS], z[MAX_KERNELS];
        for (int tap = 0; tap < TAPS; tap++) x[tap] = series[t + tap * j->dilation];
        for (int i = 0; i < k; i++) {
            vf r = x[0] * w[0][i];
            for (int tap = 1; tap < TAPS; tap++) r = r + x[tap] * w[tap][i];
            z[i] = r;
        }
        vf best = z[0], least = z[0];
        for (int i = 1; i < k; i++) {
            best = vselect(z[i] > best, z[i], best);
            least = vselect(z[i] < least, z[i], least);
        }
        const vi valid = (vi){0} + (int32_t)t < read_to;
        vi hit[MAX_KERNELS];
        first_of(z, k, best, valid, hit);
        for (int i = 0; i < k; i++) soft[i] = soft[i] + vselect(hit[i], best, (vf){0});
        first_of(z, k, least, valid, hit);
        for (int i = 0; i < k; i++) hard[i] = hard[i] + vselect(hit[i], (vf){0} + 1.0f, (vf){0});
    }
}

CLONES
static void run_block(const job_t *j, int64_t b0, vf *series) {
    const int lanes = (int)(j->batch - b0 < LANES ? j->batch - b0 : LANES);
    vi read_to = {0};
    for (int l = 0; l < lanes; l++) read_to[l] = (int32_t)j->read_to[b0 + l];
    vf soft[MAX_KERNELS], hard[MAX_KERNELS];
    for (int64_t g = 0; g < j->groups; g++) {
        load_series(j, b0, lanes, g, series);
        run_group(j, g, series, read_to, soft, hard);
        for (int l = 0; l < lanes; l++)
            for (int i = 0; i < j->kernels; i++) {
                const int64_t at = ((b0 + l) * j->kernels + i) * j->groups + g;
                j->soft[at] = soft[i][l];
                j->hard[at] = hard[i][l];
            }
    }
}

static PyObject *dilation_counts(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long sp, w, read_to, soft, hard;
    long long padded, batch, inputs, dilation, kernels, groups, steps;
    if (!PyArg_ParseTuple(args, "KLLLLLLLKKKK", &sp, &padded, &batch, &inputs, &dilation,
                          &kernels, &groups, &steps, &w, &read_to, &soft, &hard))
        return NULL;
    if (batch < 1 || dilation < 1 || kernels < 1 || kernels > MAX_KERNELS || groups < 1 ||
        (inputs != 1 && inputs != groups) || steps < 0 || padded < steps + 8 * dilation) {
        PyErr_SetString(PyExc_ValueError, "dilation_counts: inconsistent sizes");
        return NULL;
    }
    job_t j = {(const float *)sp, padded, batch, inputs, dilation, kernels, groups, steps,
               (const float *)w, (const int64_t *)read_to, (float *)soft, (float *)hard};
    vf *series;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    series = aligned_alloc(sizeof(vf), sizeof(vf) * (size_t)padded);
    ok = series != NULL;
    if (ok)
        for (int64_t b0 = 0; b0 < batch; b0 += LANES) run_block(&j, b0, series);
    free(series);
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"dilation_counts", dilation_counts, METH_VARARGS,
     "dilation_counts(sp, padded, batch, inputs, dilation, kernels, groups, steps, w, "
     "read_to, soft, hard): one (dilation, representation)'s soft and hard counts; every "
     "array argument is the address of a contiguous buffer (see transform.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hydra",
                                    "Hydra's counts in registers (see _hydra.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__hydra(void) { return PyModule_Create(&module); }
