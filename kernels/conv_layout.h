/* Helpers of the convolution's layouts (kernels/col2im.pyx).
 *
 * transpose_add: dst[c * dst_stride + r] = src[r * src_stride + c] (+ add[c] when add is
 * not NULL), for r < rows and c < cols. A plain double loop reads or writes with a stride and runs at a
 * fraction of a copy's speed; on x86-64, whose baseline SSE2 every compiler may use, float
 * blocks of 4 x 4 are loaded as four rows, transposed in registers and stored as four
 * columns. Elsewhere, and for doubles, the plain loop. Both copy (and add) the same numbers:
 * the same bits. No zero is added when there is nothing to add (0.0f + -0.0f is +0.0f).
 */
#ifndef MINIRPN_CONV_LAYOUT_H
#define MINIRPN_CONV_LAYOUT_H

#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline float add_if(float v, const float *add, ptrdiff_t c)
{
    return add ? v + add[c] : v;
}

static inline void transpose_add_f32(const float *src, ptrdiff_t src_stride, float *dst,
                                     ptrdiff_t dst_stride, ptrdiff_t rows, ptrdiff_t cols,
                                     const float *add)
{
    ptrdiff_t r = 0, r0, r_end, c;
#if defined(__SSE2__)
    ptrdiff_t rows4 = rows - rows % 4, cols4 = cols - cols % 4;
    /* Bands of 16 rows: each destination row then gets 16 consecutive numbers, a whole
     * cache line, before the next column. With a stride of a power of two (a 64 x 64
     * map), the destination rows all fall in one cache set, and narrower bands would
     * have them evicted half written. */
    for (r0 = 0; r0 < rows4; r0 += 16) {
        r_end = r0 + 16 < rows4 ? r0 + 16 : rows4;
        for (c = 0; c < cols4; c += 4) {
            for (r = r0; r < r_end; r += 4) {
                const float *s = src + r * src_stride + c;
                __m128 a = _mm_loadu_ps(s);
                __m128 b = _mm_loadu_ps(s + src_stride);
                __m128 d = _mm_loadu_ps(s + 2 * src_stride);
                __m128 e = _mm_loadu_ps(s + 3 * src_stride);
                _MM_TRANSPOSE4_PS(a, b, d, e); /* a: column c of rows r..r+3, b: c+1, ... */
                if (add) {
                    a = _mm_add_ps(a, _mm_set1_ps(add[c]));
                    b = _mm_add_ps(b, _mm_set1_ps(add[c + 1]));
                    d = _mm_add_ps(d, _mm_set1_ps(add[c + 2]));
                    e = _mm_add_ps(e, _mm_set1_ps(add[c + 3]));
                }
                _mm_storeu_ps(dst + c * dst_stride + r, a);
                _mm_storeu_ps(dst + (c + 1) * dst_stride + r, b);
                _mm_storeu_ps(dst + (c + 2) * dst_stride + r, d);
                _mm_storeu_ps(dst + (c + 3) * dst_stride + r, e);
            }
        }
        for (c = cols4; c < cols; c++)
            for (r = r0; r < r_end; r++)
                dst[c * dst_stride + r] = add_if(src[r * src_stride + c], add, c);
    }
    r = rows4;
#endif
    for (; r < rows; r++)
        for (c = 0; c < cols; c++)
            dst[c * dst_stride + r] = add_if(src[r * src_stride + c], add, c);
}

static inline void transpose_add_f64(const double *src, ptrdiff_t src_stride, double *dst,
                                     ptrdiff_t dst_stride, ptrdiff_t rows, ptrdiff_t cols,
                                     const double *add)
{
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t c = 0; c < cols; c++) {
            double v = src[r * src_stride + c];
            dst[c * dst_stride + r] = add ? v + add[c] : v;
        }
    }
}

/* add_run: dst[t] += src[t] for t < n. The two never overlap (restrict), which lets the
 * compiler add four numbers at a time; each sum is the same as one at a time. */
static inline void add_run_f32(float *restrict dst, const float *restrict src, ptrdiff_t n)
{
    for (ptrdiff_t t = 0; t < n; t++)
        dst[t] += src[t];
}

static inline void add_run_f64(double *restrict dst, const double *restrict src, ptrdiff_t n)
{
    for (ptrdiff_t t = 0; t < n; t++)
        dst[t] += src[t];
}

/* copy_run: dst[t] = src[t] for t < n. im2col copies one such run per window and kernel
 * row, often short (a first layer's 3 channels make runs of 9 numbers), where a loop of
 * unknown length (or a call to memcpy) spends more on its bookkeeping than on the copy. With
 * SSE2, blocks of 4 floats are moved by one load and one store each, and runs of 4 to 16
 * floats take a fixed set of blocks that overlap in the middle (they write the same numbers
 * twice), chosen by two well-predicted comparisons, as C libraries copy short strings. */
static inline void copy_run_f32(float *restrict dst, const float *restrict src, ptrdiff_t n)
{
    ptrdiff_t t = 0;
#if defined(__SSE2__)
    if (n >= 4) {
        if (n <= 8) {
            _mm_storeu_ps(dst, _mm_loadu_ps(src));
            _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
        } else if (n <= 16) {
            _mm_storeu_ps(dst, _mm_loadu_ps(src));
            _mm_storeu_ps(dst + 4, _mm_loadu_ps(src + 4));
            _mm_storeu_ps(dst + n - 8, _mm_loadu_ps(src + n - 8));
            _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
        } else {
            for (; t + 4 <= n; t += 4)
                _mm_storeu_ps(dst + t, _mm_loadu_ps(src + t));
            _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
        }
        return;
    }
#endif
    for (; t < n; t++)
        dst[t] = src[t];
}

static inline void copy_run_f64(double *restrict dst, const double *restrict src, ptrdiff_t n)
{
    for (ptrdiff_t t = 0; t < n; t++)
        dst[t] = src[t];
}

#endif
