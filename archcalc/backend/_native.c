/* Depthwise convolution, channels last, for archcalc's NumPy backend (loaded by native.py
 * through ctypes: plain C with no Python API, so one build serves every Python).
 *
 * x is the padded input, y the output, both C-contiguous with the channels last; w holds the
 * taps, (taps, c); bias, (c), is added to every output, or is NULL. An "output row" is out_last
 * consecutive outputs along the last spatial axis (out_last * c values of y), and there are
 * rows of them; origin[r] is the offset in x of the first tap of row r's first output, tap[t]
 * the offset of tap t from there, and step the offset between neighbouring outputs of a row
 * (stride times c). Offsets count elements. So any number of spatial axes, strides and
 * dilations come to the same loop, set up by the caller.
 *
 * Each output accumulates all its taps in registers, one block of channels at a time, and is
 * written once: the input under a row's taps stays in cache while the row is computed.
 */
#include <stddef.h>

#ifndef ARCHCALC_SOURCE_HASH
#define ARCHCALC_SOURCE_HASH "unknown"
#endif

/* which source this library was built from: native.py refuses it beside any other _native.c */
const char archcalc_native_source[] = ARCHCALC_SOURCE_HASH;

/* x86-64 Linux with GCC: one build for CPUs with AVX2 and FMA (x86-64-v3), one for the rest,
 * chosen when the library is loaded. Elsewhere the compiler's defaults. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__linux__)
#define ARCHCALC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ARCHCALC_CLONES
#endif

/* Sums are kept in vector registers: LANES values of T in one (GCC's and Clang's vector
 * extension, so one source serves SSE, AVX and NEON), four registers for a block of channels.
 * The vector type is aligned to one T and may alias arrays of T, so AT reads and writes any
 * run of LANES values in place. */
#define AT(VEC, p) (*(VEC *)(p))

#define DEPTHWISE(NAME, T, LANES)                                                           \
    typedef T NAME##_vec                                                                    \
        __attribute__((vector_size(LANES * sizeof(T)), aligned(sizeof(T)), may_alias));     \
    ARCHCALC_CLONES void NAME(const T *restrict x, const T *restrict w, const T *restrict bias, \
                              T *restrict y,                                                \
                              const ptrdiff_t *restrict origin, const ptrdiff_t *restrict tap, \
                              ptrdiff_t taps, ptrdiff_t c, ptrdiff_t out_last, ptrdiff_t step, \
                              ptrdiff_t rows)                                               \
    {                                                                                       \
        typedef const NAME##_vec in;                                                        \
        for (ptrdiff_t r = 0; r < rows; ++r) {                                   \
            for (ptrdiff_t o = 0; o < out_last; ++o) {                                      \
                const T *xo = x + origin[r] + o * step;                                     \
                T *yo = y + (r * out_last + o) * c;                                         \
                ptrdiff_t ch = 0;                                                           \
                for (; ch + 4 * LANES <= c; ch += 4 * LANES) {                              \
                    NAME##_vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                      \
                    if (bias) {                                                             \
                        s0 = AT(in, bias + ch);                                             \
                        s1 = AT(in, bias + ch + LANES);                                     \
                        s2 = AT(in, bias + ch + 2 * LANES);                                 \
                        s3 = AT(in, bias + ch + 3 * LANES);                                 \
                    }                                                                       \
                    for (ptrdiff_t t = 0; t < taps; ++t) {                                  \
                        const T *xt = xo + tap[t] + ch, *wt = w + t * c + ch;               \
                        s0 += AT(in, xt) * AT(in, wt);                                      \
                        s1 += AT(in, xt + LANES) * AT(in, wt + LANES);                      \
                        s2 += AT(in, xt + 2 * LANES) * AT(in, wt + 2 * LANES);              \
                        s3 += AT(in, xt + 3 * LANES) * AT(in, wt + 3 * LANES);              \
                    }                                                                       \
                    AT(NAME##_vec, yo + ch) = s0;                                           \
                    AT(NAME##_vec, yo + ch + LANES) = s1;                                   \
                    AT(NAME##_vec, yo + ch + 2 * LANES) = s2;                               \
                    AT(NAME##_vec, yo + ch + 3 * LANES) = s3;                               \
                }                                                                           \
                for (; ch + LANES <= c; ch += LANES) {                                      \
                    NAME##_vec s0 = {0};                                                    \
                    if (bias)                                                               \
                        s0 = AT(in, bias + ch);                                             \
                    for (ptrdiff_t t = 0; t < taps; ++t)                                    \
                        s0 += AT(in, xo + tap[t] + ch) * AT(in, w + t * c + ch);            \
                    AT(NAME##_vec, yo + ch) = s0;                                           \
                }                                                                           \
                for (; ch < c; ++ch) {                                                      \
                    T sum = bias ? bias[ch] : 0;                                            \
                    for (ptrdiff_t t = 0; t < taps; ++t)                                    \
                        sum += xo[tap[t] + ch] * w[t * c + ch];                             \
                    yo[ch] = sum;                                                           \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

DEPTHWISE(archcalc_depthwise_f32, float, 8)
DEPTHWISE(archcalc_depthwise_f64, double, 4)
