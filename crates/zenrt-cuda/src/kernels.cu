// zenrt's CUDA kernels, compiled once per process and storage precision with NVRTC (see gpu.rs).
// Shapes are passed as a `Dims` struct by value (rank <= 8). Indices are 64-bit.
// Every kernel is a grid-stride loop, so any grid size is correct.
//
// Float tensors are stored as `real`, defined by the prelude gpu.rs puts in front of this file:
// `float` (fp32 mode), or a 2-byte struct holding fp16 / bf16 bits. `ld(real) -> float` and
// `st(float) -> real` convert; every kernel computes and accumulates in float and only loads and
// stores `real`. Kernels keep their `_f32` names (the ONNX type of the tensors they handle).

typedef long long i64;
typedef unsigned char u8;

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#define MAXR 8
struct Dims {
    i64 rank;
    i64 shape[MAXR];
    i64 a[MAXR];  // strides (elements) of operand a / source
    i64 b[MAXR];  // strides of operand b / destination
    i64 c[MAXR];  // strides of operand c
};

// Typed element access, so templates serve float (through `real`) and integer tensors alike.
__device__ __forceinline__ float get(const real* p) { return ld(*p); }
__device__ __forceinline__ i64 get(const i64* p) { return *p; }
__device__ __forceinline__ int get(const int* p) { return *p; }
__device__ __forceinline__ u8 get(const u8* p) { return *p; }
__device__ __forceinline__ void put(real* p, float v) { *p = st(v); }
__device__ __forceinline__ void put(i64* p, i64 v) { *p = v; }
__device__ __forceinline__ void put(int* p, int v) { *p = v; }
__device__ __forceinline__ void put(u8* p, u8 v) { *p = v; }

#define GRID_LOOP(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// ---------- activations (shared by unary ops and fused epilogues) ----------
// codes: 0 none, 1 relu, 2 leaky(a), 3 clip(a,b), 4 sigmoid, 5 hardsigmoid(a,b), 6 hardswish,
// 7 tanh, 8 silu, 9 gelu, 10 gelu_tanh, 20 exp, 21 log, 22 sqrt, 23 neg, 24 abs, 25 erf,
// 26 reciprocal, 27 floor, 28 ceil, 29 sin, 30 cos, 31 elu(a), 32 softplus, 33 round, 34 sign,
// 35 affine(a,b), 36 thresholded relu(a), 37 scaled tanh(a,b), 38 softsign
__device__ __forceinline__ float act(int op, float x, float a, float b) {
    switch (op) {
    case 0: return x;
    case 1: return x > 0.f ? x : 0.f;
    case 2: return x >= 0.f ? x : a * x;
    case 3: return fminf(fmaxf(x, a), b);
    case 4: return 1.f / (1.f + expf(-x));
    case 5: return fmaxf(0.f, fminf(1.f, a * x + b));
    case 6: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case 7: return tanhf(x);
    case 8: return x / (1.f + expf(-x));
    case 9: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case 10: return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case 20: return expf(x);
    case 21: return logf(x);
    case 22: return sqrtf(x);
    case 23: return -x;
    case 24: return fabsf(x);
    case 25: return erff(x);
    case 26: return 1.f / x;
    case 27: return floorf(x);
    case 28: return ceilf(x);
    case 29: return sinf(x);
    case 30: return cosf(x);
    case 31: return x >= 0.f ? x : a * (expf(x) - 1.f);
    case 32: return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case 33: return rintf(x);
    case 34: return (float)((x > 0.f) - (x < 0.f));
    case 35: return a * x + b;
    case 36: return x > a ? x : 0.f;
    case 37: return a * tanhf(b * x);
    case 38: return x / (1.f + fabsf(x));
    }
    return x;
}

extern "C" __global__ void unary_f32(i64 n, int op, float a, float b, const real* x, real* y) {
    GRID_LOOP(i, n) y[i] = st(act(op, ld(x[i]), a, b));
}

// Boundary conversions: the user's f32 tensors to and from device storage.
extern "C" __global__ void f32_to_real(i64 n, const float* x, real* y) { GRID_LOOP(i, n) y[i] = st(x[i]); }
extern "C" __global__ void real_to_f32(i64 n, const real* x, float* y) { GRID_LOOP(i, n) y[i] = ld(x[i]); }

// y[i] = act(y[i] + bias[(i / inner) % ch]); bias may be null.
extern "C" __global__ void bias_act_f32(i64 n, i64 inner, i64 ch, const real* bias, int op, float a, float b, real* y) {
    GRID_LOOP(i, n) {
        float v = ld(y[i]);
        if (bias) v += ld(bias[(i / inner) % ch]);
        y[i] = st(act(op, v, a, b));
    }
}

// y = act(y + bias + z): a convolution's epilogue with a residual z of y's shape (one pass)
extern "C" __global__ void bias_res_act_f32(i64 n, i64 inner, i64 ch, const real* bias, const real* z, int op, float a, float b, real* y) {
    GRID_LOOP(i, n) {
        float v = ld(y[i]);
        if (bias) v += ld(bias[(i / inner) % ch]);
        v += ld(z[i]);
        y[i] = st(act(op, v, a, b));
    }
}

__device__ __forceinline__ void offsets(const Dims& d, i64 i, i64& oa, i64& ob, i64& oc) {
    oa = 0; ob = 0; oc = 0;
    for (int k = (int)d.rank - 1; k >= 0; --k) {
        i64 s = d.shape[k];
        i64 q = i % s;
        i /= s;
        oa += q * d.a[k];
        ob += q * d.b[k];
        oc += q * d.c[k];
    }
}

// ---------- binary arithmetic with broadcasting ----------
// ops: 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 max, 6 min, 7 fmod (sign of dividend), 8 mod (sign of divisor)
template <typename T> __device__ __forceinline__ T arith(int op, T x, T y);
template <> __device__ __forceinline__ float arith<float>(int op, float x, float y) {
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return powf(x, y);
    case 5: return fmaxf(x, y);
    case 6: return fminf(x, y);
    case 7: return fmodf(x, y);
    case 8: { float r = fmodf(x, y); if (r != 0.f && ((r < 0.f) != (y < 0.f))) r += y; return r; }
    }
    return 0.f;
}
template <> __device__ __forceinline__ i64 arith<i64>(int op, i64 x, i64 y) {
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return y == 0 ? 0 : x / y;
    case 5: return x > y ? x : y;
    case 6: return x < y ? x : y;
    case 7: return y == 0 ? 0 : x % y;
    case 8: { if (y == 0) return 0; i64 r = x % y; if (r != 0 && ((r < 0) != (y < 0))) r += y; return r; }
    }
    return 0;
}
template <> __device__ __forceinline__ int arith<int>(int op, int x, int y) {
    return (int)arith<i64>(op, (i64)x, (i64)y);
}

// S: storage type, T: compute type (float for `real`).
template <typename S, typename T>
__device__ void binary_t(i64 n, int op, Dims d, const S* a, const S* b, S* y) {
    GRID_LOOP(i, n) {
        i64 oa, ob, oc;
        offsets(d, i, oa, ob, oc);
        put(y + i, arith<T>(op, get(a + oa), get(b + ob)));
    }
}
extern "C" __global__ void binary_f32(i64 n, int op, Dims d, const real* a, const real* b, real* y) { binary_t<real, float>(n, op, d, a, b, y); }
extern "C" __global__ void binary_i64(i64 n, int op, Dims d, const i64* a, const i64* b, i64* y) { binary_t<i64, i64>(n, op, d, a, b, y); }
extern "C" __global__ void binary_i32(i64 n, int op, Dims d, const int* a, const int* b, int* y) { binary_t<int, int>(n, op, d, a, b, y); }

// Broadcast float fast path: a and y contiguous of n elements, b broadcast over them as the
// groups [B0, P, Q, R] of the output's dims (b varies over P and R only: index p * R + r), e.g.
// a squeeze-excitation scale [N, C, 1, 1] over NCHW (P = N*C, Q = H*W, R = 1) or over NHWC
// (P = N, Q = H*W, R = C), a per-channel bias (B0 = N, P = C, Q = H*W). 32-bit index math
// (n < 2^31) instead of the rank-deep i64 division of binary_t; `swap`: y = op(b, a).
extern "C" __global__ void binary_bcast_f32(i64 n, int op, int swap, unsigned P, unsigned QR, unsigned R,
                                            const real* a, const real* b, real* y) {
    GRID_LOOP(i, n) {
        unsigned u = (unsigned)i;
        float x = ld(a[i]), z = ld(b[(u / QR) % P * R + u % R]);
        y[i] = st(swap ? arith<float>(op, z, x) : arith<float>(op, x, z));
    }
}

// Same-shape float fast path: y = op(a, b), then an activation.
extern "C" __global__ void binary_same_f32(i64 n, int op, const real* a, const real* b, int act_op, float p, float q, real* y) {
    GRID_LOOP(i, n) y[i] = st(act(act_op, arith<float>(op, ld(a[i]), ld(b[i])), p, q));
}

// ---------- comparisons and logic (bool output = u8) ----------
// ops: 0 eq, 1 lt, 2 le, 3 gt, 4 ge
template <typename T>
__device__ void compare_t(i64 n, int op, Dims d, const T* a, const T* b, u8* y) {
    GRID_LOOP(i, n) {
        i64 oa, ob, oc;
        offsets(d, i, oa, ob, oc);
        auto x = get(a + oa), z = get(b + ob);
        bool r = false;
        switch (op) {
        case 0: r = x == z; break;
        case 1: r = x < z; break;
        case 2: r = x <= z; break;
        case 3: r = x > z; break;
        case 4: r = x >= z; break;
        }
        y[i] = r;
    }
}
extern "C" __global__ void compare_f32(i64 n, int op, Dims d, const real* a, const real* b, u8* y) { compare_t<real>(n, op, d, a, b, y); }
extern "C" __global__ void compare_i64(i64 n, int op, Dims d, const i64* a, const i64* b, u8* y) { compare_t<i64>(n, op, d, a, b, y); }
extern "C" __global__ void compare_i32(i64 n, int op, Dims d, const int* a, const int* b, u8* y) { compare_t<int>(n, op, d, a, b, y); }

// ops: 0 and, 1 or, 2 xor
extern "C" __global__ void logic_u8(i64 n, int op, Dims d, const u8* a, const u8* b, u8* y) {
    GRID_LOOP(i, n) {
        i64 oa, ob, oc;
        offsets(d, i, oa, ob, oc);
        bool x = a[oa] != 0, z = b[ob] != 0;
        y[i] = op == 0 ? (x && z) : op == 1 ? (x || z) : (x != z);
    }
}
extern "C" __global__ void not_u8(i64 n, const u8* a, u8* y) { GRID_LOOP(i, n) y[i] = a[i] == 0; }

// ---------- where (cond ? x : y), by element size ----------
template <typename T>
__device__ void where_t(i64 n, Dims d, const u8* c, const T* x, const T* z, T* y) {
    GRID_LOOP(i, n) {
        i64 oa, ob, oc;
        offsets(d, i, oa, ob, oc);
        y[i] = c[oa] ? x[ob] : z[oc];
    }
}
extern "C" __global__ void where_2(i64 n, Dims d, const u8* c, const unsigned short* x, const unsigned short* z, unsigned short* y) { where_t<unsigned short>(n, d, c, x, z, y); }
extern "C" __global__ void where_4(i64 n, Dims d, const u8* c, const unsigned* x, const unsigned* z, unsigned* y) { where_t<unsigned>(n, d, c, x, z, y); }
extern "C" __global__ void where_8(i64 n, Dims d, const u8* c, const i64* x, const i64* z, i64* y) { where_t<i64>(n, d, c, x, z, y); }
extern "C" __global__ void where_1(i64 n, Dims d, const u8* c, const u8* x, const u8* z, u8* y) { where_t<u8>(n, d, c, x, z, y); }

// ---------- casts ----------
#define CAST(name, A, B, expr) \
    extern "C" __global__ void name(i64 n, const A* x, B* y) { GRID_LOOP(i, n) { auto v = get(x + i); put(y + i, (expr)); } }
CAST(cast_f32_i64, real, i64, (i64)v)
CAST(cast_f32_i32, real, int, (int)v)
CAST(cast_f32_u8, real, u8, (u8)(v != 0.f))
CAST(cast_i64_f32, i64, real, (float)v)
CAST(cast_i64_i32, i64, int, (int)v)
CAST(cast_i64_u8, i64, u8, (u8)(v != 0))
CAST(cast_i32_f32, int, real, (float)v)
CAST(cast_i32_i64, int, i64, (i64)v)
CAST(cast_i32_u8, int, u8, (u8)(v != 0))
CAST(cast_u8_f32, u8, real, (float)(v != 0))
CAST(cast_u8_i64, u8, i64, (i64)(v != 0))
CAST(cast_u8_i32, u8, int, (int)(v != 0))

// ---------- strided copy (transpose, expand, slice, concat, split) ----------
// dst[dst_off + sum q_k b_k] = src[src_off + sum q_k a_k] for every index q of `shape`.
template <typename T>
__device__ void copy_t(i64 n, Dims d, const T* x, i64 xo, T* y, i64 yo) {
    GRID_LOOP(i, n) {
        i64 oa, ob, oc;
        offsets(d, i, oa, ob, oc);
        y[yo + ob] = x[xo + oa];
    }
}
extern "C" __global__ void copy_1(i64 n, Dims d, const u8* x, i64 xo, u8* y, i64 yo) { copy_t<u8>(n, d, x, xo, y, yo); }
extern "C" __global__ void copy_2(i64 n, Dims d, const unsigned short* x, i64 xo, unsigned short* y, i64 yo) { copy_t<unsigned short>(n, d, x, xo, y, yo); }
extern "C" __global__ void copy_4(i64 n, Dims d, const unsigned* x, i64 xo, unsigned* y, i64 yo) { copy_t<unsigned>(n, d, x, xo, y, yo); }
extern "C" __global__ void copy_8(i64 n, Dims d, const i64* x, i64 xo, i64* y, i64 yo) { copy_t<i64>(n, d, x, xo, y, yo); }

// ---------- gather along an axis: data viewed [outer, axis, inner], indices [m] ----------
template <typename T, typename I>
__device__ void gather_t(i64 n, i64 m, i64 axis, i64 inner, const T* x, const I* idx, T* y, int* bad) {
    GRID_LOOP(i, n) {
        i64 in = i % inner;
        i64 j = (i / inner) % m;
        i64 o = i / (inner * m);
        i64 k = (i64)idx[j];
        if (k < 0) k += axis;
        if (k < 0 || k >= axis) { *bad = 1; k = 0; }
        y[i] = x[(o * axis + k) * inner + in];
    }
}
extern "C" __global__ void gather_2_i64(i64 n, i64 m, i64 axis, i64 inner, const unsigned short* x, const i64* idx, unsigned short* y, int* bad) { gather_t<unsigned short, i64>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_2_i32(i64 n, i64 m, i64 axis, i64 inner, const unsigned short* x, const int* idx, unsigned short* y, int* bad) { gather_t<unsigned short, int>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_4_i64(i64 n, i64 m, i64 axis, i64 inner, const unsigned* x, const i64* idx, unsigned* y, int* bad) { gather_t<unsigned, i64>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_8_i64(i64 n, i64 m, i64 axis, i64 inner, const i64* x, const i64* idx, i64* y, int* bad) { gather_t<i64, i64>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_1_i64(i64 n, i64 m, i64 axis, i64 inner, const u8* x, const i64* idx, u8* y, int* bad) { gather_t<u8, i64>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_4_i32(i64 n, i64 m, i64 axis, i64 inner, const unsigned* x, const int* idx, unsigned* y, int* bad) { gather_t<unsigned, int>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_8_i32(i64 n, i64 m, i64 axis, i64 inner, const i64* x, const int* idx, i64* y, int* bad) { gather_t<i64, int>(n, m, axis, inner, x, idx, y, bad); }
extern "C" __global__ void gather_1_i32(i64 n, i64 m, i64 axis, i64 inner, const u8* x, const int* idx, u8* y, int* bad) { gather_t<u8, int>(n, m, axis, inner, x, idx, y, bad); }

// ---------- reductions over the middle axis of [outer, r, inner] ----------
// ops: 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 sumsquare, 6 l2, 7 l1, 8 logsumexp
extern "C" __global__ void reduce_f32(i64 outer, i64 r, i64 inner, int op, const real* x, real* y) {
    GRID_LOOP(i, outer * inner) {
        i64 o = i / inner, in = i % inner;
        const real* p = x + o * r * inner + in;
        float acc = op == 2 ? -INFINITY : op == 3 ? INFINITY : op == 4 ? 1.f : 0.f;
        float mx = -INFINITY;
        if (op == 8) for (i64 k = 0; k < r; ++k) mx = fmaxf(mx, ld(p[k * inner]));
        for (i64 k = 0; k < r; ++k) {
            float v = ld(p[k * inner]);
            switch (op) {
            case 0: case 1: acc += v; break;
            case 2: acc = fmaxf(acc, v); break;
            case 3: acc = fminf(acc, v); break;
            case 4: acc *= v; break;
            case 5: case 6: acc += v * v; break;
            case 7: acc += fabsf(v); break;
            case 8: acc += expf(v - mx); break;
            }
        }
        if (op == 1) acc /= (float)r;
        if (op == 6) acc = sqrtf(acc);
        if (op == 8) acc = mx + logf(acc);
        y[i] = st(acc);
    }
}

// Row reduction with a block per row (inner == 1): sum or mean. Used for global pooling.
extern "C" __global__ void row_mean_f32(i64 rows, i64 r, float scale, const real* x, real* y) {
    __shared__ float sh[32];
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const real* p = x + row * r;
        float acc = 0.f;
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) acc += ld(p[k]);
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffff, acc, o);
        if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x < 32) {
            float v = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : 0.f;
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
            if (threadIdx.x == 0) y[row] = st(v * scale);
        }
        __syncthreads();
    }
}

// Global average (op 1) or max (op 2) pooling of channels-last x = [N, R, C] (R = H * W) into
// y = [N, C]: a block reduces `cw` channels (8 or 32) of one image over one of `segs` row segments,
// its threads as cw channels x blockDim / cw row groups (a warp reads 32 / cw rows of cw
// contiguous channels), then the groups' partial results are combined in shared memory. With one
// segment the block writes y; with more (too few images x channel chunks to fill the SMs:
// efficientnet's first squeeze-excitation pool, 32 x 112 x 112 x 32, had 128 blocks) it writes
// its segment's sum or max to part = [N, segs, C] (f32) and pool_nhwc_fin combines them.
// (One thread per output channel, `reduce_f32`, left 32 x C threads to loop over 112 x 112 rows.)
extern "C" __global__ void __launch_bounds__(256) pool_nhwc_f32(i64 n, i64 r, i64 c, int cw, int op, int segs,
                                                                const real* x, real* y, float* part) {
    __shared__ float sh[256];
    const int lane = threadIdx.x % cw, grp = threadIdx.x / cw, groups = blockDim.x / cw;
    const i64 chunks = (c + cw - 1) / cw, rs = (r + segs - 1) / segs;
    for (i64 blk = blockIdx.x; blk < n * chunks * segs; blk += gridDim.x) {
        const i64 seg = blk % segs, bc = blk / segs, b = bc / chunks, ch = (bc % chunks) * cw + lane;
        const i64 k0 = seg * rs, k1 = min(r, k0 + rs);
        float acc = op == 2 ? -INFINITY : 0.f;
        if (ch < c) {
            const real* p = x + b * r * c + ch;
            for (i64 k = k0 + grp; k < k1; k += groups) {
                float v = ld(p[k * c]);
                acc = op == 2 ? fmaxf(acc, v) : acc + v;
            }
        }
        sh[threadIdx.x] = acc;
        __syncthreads();
        if (grp == 0 && ch < c) {
            for (int g = 1; g < groups; ++g) {
                float v = sh[g * cw + lane];
                acc = op == 2 ? fmaxf(acc, v) : acc + v;
            }
            if (segs == 1) y[b * c + ch] = st(op == 2 ? acc : acc / (float)r);
            else part[(b * segs + seg) * c + ch] = acc;
        }
        __syncthreads();
    }
}
extern "C" __global__ void pool_nhwc_fin(i64 n, i64 r, i64 c, int op, int segs, const float* part, real* y) {
    GRID_LOOP(i, n * c) {
        const float* p = part + (i / c) * segs * c + i % c;
        float acc = p[0];
        for (int s = 1; s < segs; ++s) acc = op == 2 ? fmaxf(acc, p[s * c]) : acc + p[s * c];
        y[i] = st(op == 2 ? acc : acc / (float)r);
    }
}

// ---------- block-wide helpers ----------
__device__ float block_sum(float v, float* sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t += sh[w];
    return t;
}
__device__ float block_max(float v, float* sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t = fmaxf(t, sh[w]);
    return t;
}

// Softmax (mode 0), LogSoftmax (1) over the middle axis of [outer, r, inner]: a block per (outer, inner).
extern "C" __global__ void softmax_f32(i64 outer, i64 r, i64 inner, int mode, const real* x, real* y) {
    __shared__ float sh[32];
    for (i64 row = blockIdx.x; row < outer * inner; row += gridDim.x) {
        i64 o = row / inner, in = row % inner;
        const real* p = x + o * r * inner + in;
        real* q = y + o * r * inner + in;
        float m = -INFINITY;
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) m = fmaxf(m, ld(p[k * inner]));
        m = block_max(m, sh);
        float s = 0.f;
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) s += expf(ld(p[k * inner]) - m);
        s = block_sum(s, sh);
        if (mode == 0) {
            float inv = 1.f / s;
            for (i64 k = threadIdx.x; k < r; k += blockDim.x) q[k * inner] = st(expf(ld(p[k * inner]) - m) * inv);
        } else {
            float ls = logf(s);
            for (i64 k = threadIdx.x; k < r; k += blockDim.x) q[k * inner] = st(ld(p[k * inner]) - m - ls);
        }
    }
}

// FusedAttention's middle: x = softmax(x * scale + mask) over each row of t scores, in place. The
// mask (or null) is read at offset `a` of Dims `d` (its strides over the scores' shape).
extern "C" __global__ void attn_softmax_f32(i64 rows, i64 t, float scale, Dims d, const real* mask, real* x) {
    __shared__ float sh[32];
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        real* p = x + row * t;
        float m = -INFINITY;
        for (i64 k = threadIdx.x; k < t; k += blockDim.x) {
            float v = ld(p[k]) * scale;
            if (mask) {
                i64 oa, ob, oc;
                offsets(d, row * t + k, oa, ob, oc);
                v += ld(mask[oa]);
            }
            real r = st(v);
            p[k] = r;
            m = fmaxf(m, ld(r));
        }
        m = block_max(m, sh);
        float s = 0.f;
        for (i64 k = threadIdx.x; k < t; k += blockDim.x) s += expf(ld(p[k]) - m);
        s = block_sum(s, sh);
        float inv = 1.f / s;
        for (i64 k = threadIdx.x; k < t; k += blockDim.x) p[k] = st(expf(ld(p[k]) - m) * inv);
    }
}

// LayerNormalization over the trailing r elements of each row; gamma/beta have r elements (beta may be null).
extern "C" __global__ void layernorm_f32(i64 rows, i64 r, float eps, const real* x, const real* g, const real* bta, real* y) {
    __shared__ float sh[32];
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const real* p = x + row * r;
        real* q = y + row * r;
        float s = 0.f;
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) s += ld(p[k]);
        float mean = block_sum(s, sh) / (float)r;
        float v = 0.f;
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) { float d = ld(p[k]) - mean; v += d * d; }
        float var = block_sum(v, sh) / (float)r;
        float inv = rsqrtf(var + eps);
        for (i64 k = threadIdx.x; k < r; k += blockDim.x) {
            float t = (ld(p[k]) - mean) * inv * ld(g[k]);
            q[k] = st(bta ? t + ld(bta[k]) : t);
        }
    }
}

// BatchNormalization (inference): y = (x - mean) * scale / sqrt(var + eps) + bias, channel = (i / inner) % C.
extern "C" __global__ void batchnorm_f32(i64 n, i64 inner, i64 ch, float eps, const real* x, const real* sc, const real* bi, const real* mean, const real* var, real* y) {
    GRID_LOOP(i, n) {
        i64 c = (i / inner) % ch;
        y[i] = st((ld(x[i]) - ld(mean[c])) * rsqrtf(ld(var[c]) + eps) * ld(sc[c]) + ld(bi[c]));
    }
}

// ---------- convolution helpers (2-D, NCHW) ----------
struct ConvP {
    i64 n, c, h, w;      // input
    i64 oc, oh, ow;      // output
    i64 kh, kw, sh, sw, ph, pw, dh, dw;
    i64 group;
};

// im2col for one group over the whole batch: col[b][ (ci*kh+ky)*kw+kx ][ oy*ow+ox ] (ci within the group).
extern "C" __global__ void im2col_f32(ConvP p, i64 g, const real* x, real* col) {
    i64 cg = p.c / p.group;
    i64 k = cg * p.kh * p.kw;
    i64 hw = p.oh * p.ow;
    i64 total = p.n * k * hw;
    GRID_LOOP(i, total) {
        i64 pos = i % hw;
        i64 kk = (i / hw) % k;
        i64 b = i / (hw * k);
        i64 ox = pos % p.ow, oy = pos / p.ow;
        i64 kx = kk % p.kw, ky = (kk / p.kw) % p.kh, ci = kk / (p.kw * p.kh);
        i64 iy = oy * p.sh - p.ph + ky * p.dh;
        i64 ix = ox * p.sw - p.pw + kx * p.dw;
        real v = st(0.f);
        if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
            v = x[((b * p.c + g * cg + ci) * p.h + iy) * p.w + ix];
        col[i] = v;
    }
}

// Depthwise convolution (group == c == oc / m) with bias and activation in the epilogue; one thread per
// output. The fallback of `depthwise_tiled_f32` for rows too wide for its shared-memory tile.
// nhwc: x and y channels-last ([N, H, W, C]: output index i = ((b * oh + oy) * ow + ox) * oc + co)
extern "C" __global__ void depthwise_f32(ConvP p, int nhwc, const real* x, const real* wt, const real* bias, int op, float a, float b2, real* y) {
    i64 total = p.n * p.oc * p.oh * p.ow;
    i64 m = p.oc / p.c;
    GRID_LOOP(i, total) {
        i64 ox, oy, co, b;
        if (nhwc) {
            co = i % p.oc; ox = (i / p.oc) % p.ow; oy = (i / (p.oc * p.ow)) % p.oh; b = i / (p.oc * p.ow * p.oh);
        } else {
            ox = i % p.ow; oy = (i / p.ow) % p.oh; co = (i / (p.ow * p.oh)) % p.oc; b = i / (p.ow * p.oh * p.oc);
        }
        i64 ci = co / m;
        // element (iy, ix) of the input plane is xp[(iy * p.w + ix) * xs]
        i64 xs = nhwc ? p.c : 1;
        const real* xp = nhwc ? x + b * p.h * p.w * p.c + ci : x + (b * p.c + ci) * p.h * p.w;
        const real* wp = wt + co * p.kh * p.kw;
        float acc = bias ? ld(bias[co]) : 0.f;
        for (i64 ky = 0; ky < p.kh; ++ky) {
            i64 iy = oy * p.sh - p.ph + ky * p.dh;
            if (iy < 0 || iy >= p.h) continue;
            for (i64 kx = 0; kx < p.kw; ++kx) {
                i64 ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.w) continue;
                acc += ld(xp[(iy * p.w + ix) * xs]) * ld(wp[ky * p.kw + kx]);
            }
        }
        y[i] = st(act(op, acc, a, b2));
    }
}

// (q, r, c): a flat index as digits of [*, nr, nc], advanced by a fixed step without divisions
// (each digit carries at most once because the step's own digits are below nr and nc).
struct Idx3 {
    int q, r, c, dq, dr, dc, nr, nc;
    __device__ Idx3(int i, int step, int nr_, int nc_) : nr(nr_), nc(nc_) {
        c = i % nc; r = (i / nc) % nr; q = i / (nc * nr);
        dc = step % nc; dr = (step / nc) % nr; dq = step / (nc * nr);
    }
    __device__ void next() {
        c += dc; if (c >= nc) { c -= nc; r++; }
        r += dr; if (r >= nr) { r -= nr; q++; }
        q += dq;
    }
};

// One depthwise window from shared memory: K x K unrolled (K = 3, 5), or kh x kw (K = 0).
template <int K>
__device__ __forceinline__ float dw_dot(const float* xp, const float* wp, int dh, int dw, int kh = K, int kw = K) {
    float acc = 0.f;
#pragma unroll
    for (int ky = 0; ky < (K ? K : kh); ++ky)
#pragma unroll
        for (int kx = 0; kx < (K ? K : kw); ++kx) acc += xp[ky * dh + kx * dw] * wp[ky * (K ? K : kw) + kx];
    return acc;
}

// Depthwise convolution, tiled: a block computes `tp` output planes (image, channel) x `th`
// output rows. Their input rows (padding stored as zeros, so the inner loop has no bounds checks)
// and the planes' weights are staged in shared memory as float: every input element is read from
// global memory once per tile instead of kh*kw times, and the index math is 32-bit. Bias and
// activation in the epilogue. Grid: ceil(planes / tp) * ceil(oh / th) blocks; shared memory as
// computed by ops/conv.rs (`dw_tile`): tp*8 + tp*(ith*iw + kh*kw)*4 bytes.
extern "C" __global__ void depthwise_tiled_f32(ConvP p, int tp, int th, const real* x, const real* wt, const real* bias, int op, float a, float b2, real* y) {
    extern __shared__ i64 dw_sm[];
    int oh = (int)p.oh, ow = (int)p.ow, kh = (int)p.kh, kw = (int)p.kw, sh = (int)p.sh, sw = (int)p.sw;
    int tiles = (oh + th - 1) / th;
    i64 planes = p.n * p.oc;
    i64 pl0 = (i64)(blockIdx.x / tiles) * tp;
    int oy0 = (int)(blockIdx.x % tiles) * th;
    int np = (int)min((i64)tp, planes - pl0);
    int rows = min(th, oh - oy0);
    int ith = (rows - 1) * sh + (kh - 1) * (int)p.dh + 1;  // input rows of this tile
    int iw = (ow - 1) * sw + (kw - 1) * (int)p.dw + 1;     // input columns, padding included
    int kk = kh * kw;
    i64* xoff = dw_sm;                      // [np] offset of each plane's input channel
    float* xs = (float*)(dw_sm + tp);       // [np][ith][iw]
    float* ws = xs + tp * ith * iw;         // [np][kh*kw]
    i64 m = p.oc / p.c;
    for (int q = threadIdx.x; q < np; q += blockDim.x) {
        i64 pl = pl0 + q, co = pl % p.oc;
        xoff[q] = ((pl / p.oc) * p.c + co / m) * p.h * p.w;
    }
    for (int i = threadIdx.x; i < np * kk; i += blockDim.x) ws[i] = ld(wt[((pl0 + i / kk) % p.oc) * kk + i % kk]);
    __syncthreads();
    int iy0 = oy0 * sh - (int)p.ph;
    int n_in = np * ith * iw;
    Idx3 u(threadIdx.x, blockDim.x, ith, iw);
    for (int i = threadIdx.x; i < n_in; i += blockDim.x, u.next()) {
        int iy = iy0 + u.r, ix = u.c - (int)p.pw;
        xs[i] = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w ? ld(x[xoff[u.q] + (i64)iy * p.w + ix]) : 0.f;
    }
    __syncthreads();
    int dh = (int)p.dh * iw, dw = (int)p.dw;
    Idx3 v(threadIdx.x, blockDim.x, rows, ow);
    for (int i = threadIdx.x; i < np * rows * ow; i += blockDim.x, v.next()) {
        i64 pl = pl0 + v.q;
        const float* xp = xs + (v.q * ith + v.r * sh) * iw + v.c * sw;
        const float* wp = ws + v.q * kk;
        float acc = kh == 3 && kw == 3 ? dw_dot<3>(xp, wp, dh, dw)
                  : kh == 5 && kw == 5 ? dw_dot<5>(xp, wp, dh, dw)
                  : dw_dot<0>(xp, wp, dh, dw, kh, kw);
        if (bias) acc += ld(bias[pl % p.oc]);
        y[(pl * oh + oy0 + v.r) * ow + v.c] = st(act(op, acc, a, b2));
    }
}

// Depthwise convolution (multiplier 1) on channels-last tensors: each thread computes V
// consecutive channels of DW_PX horizontally adjacent output pixels. Channels are contiguous, so
// loads and stores are V-wide vectors (16 bytes at V = 4 fp32 / 8 half; the host checks that C is a
// multiple of V and the pointers are aligned) and a warp reads whole rows of [.., W, C] memory.
// Weights are [kh, kw, C] (one vector per tap, shared by the DW_PX pixels). Epilogue:
// y = act(conv + bias + z) with an optional residual z of y's shape (NHWC). K = 3 or 5: the window
// unrolled; K = 0: kh x kw from p. Index math is 32-bit per thread (the host checks the sizes).
#define DW_PX 2
template <int B> struct RawB;  // B bytes, B-aligned (16 at most): one or two vector loads
template <> struct alignas(16) RawB<32> { unsigned a[8]; };
template <> struct alignas(16) RawB<16> { unsigned a[4]; };
template <> struct alignas(8) RawB<8> { unsigned a[2]; };
template <> struct alignas(4) RawB<4> { unsigned a; };
template <> struct alignas(2) RawB<2> { unsigned short a; };
template <int V> union Pack {
    RawB<V * (int)sizeof(real)> raw;
    real r[V];
    __device__ Pack() {}
};
template <int V> __device__ __forceinline__ void ldv(const real* p, float* f) {
    Pack<V> k;
    k.raw = *(const RawB<V * (int)sizeof(real)>*)p;
#pragma unroll
    for (int j = 0; j < V; ++j) f[j] = ld(k.r[j]);
}
template <int V> __device__ __forceinline__ void stv(real* p, const float* f) {
    Pack<V> k;
#pragma unroll
    for (int j = 0; j < V; ++j) k.r[j] = st(f[j]);
    *(RawB<V * (int)sizeof(real)>*)p = k.raw;
}

template <int V, int K>
__device__ __forceinline__ void dw_nhwc(const ConvP& p, const real* x, const real* wt, const real* bias, const real* z, int op, float a, float b2, real* y) {
    const int c = (int)p.c, h = (int)p.h, w = (int)p.w, oh = (int)p.oh, ow = (int)p.ow;
    const int kh = K ? K : (int)p.kh, kw = K ? K : (int)p.kw;
    const int sh = (int)p.sh, sw = (int)p.sw, dh = (int)p.dh, dw = (int)p.dw, ph = (int)p.ph, pw = (int)p.pw;
    const int cv = c / V, oxq = (ow + DW_PX - 1) / DW_PX;
    const int total = (int)p.n * oh * oxq * cv;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        const int c0 = (i % cv) * V;
        int r = i / cv;
        const int ox0 = (r % oxq) * DW_PX;
        r /= oxq;
        const int oy = r % oh, b = r / oh;
        float acc[DW_PX][V], v[V];
        if (bias) ldv<V>(bias + c0, v);
        else
#pragma unroll
            for (int j = 0; j < V; ++j) v[j] = 0.f;
#pragma unroll
        for (int q = 0; q < DW_PX; ++q)
#pragma unroll
            for (int j = 0; j < V; ++j) acc[q][j] = v[j];
        const real* xb = x + (i64)b * h * w * c + c0;
#pragma unroll
        for (int ky = 0; ky < kh; ++ky) {
            const int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) continue;
            const real* xr = xb + (i64)iy * w * c;
#pragma unroll
            for (int kx = 0; kx < kw; ++kx) {
                float wv[V];
                ldv<V>(wt + (ky * kw + kx) * c + c0, wv);
#pragma unroll
                for (int q = 0; q < DW_PX; ++q) {
                    const int ix = (ox0 + q) * sw - pw + kx * dw;
                    if (ix < 0 || ix >= w) continue;
                    ldv<V>(xr + (i64)ix * c, v);
#pragma unroll
                    for (int j = 0; j < V; ++j) acc[q][j] += v[j] * wv[j];
                }
            }
        }
#pragma unroll
        for (int q = 0; q < DW_PX; ++q) {
            if (ox0 + q >= ow) break;
            const i64 o = (((i64)b * oh + oy) * ow + ox0 + q) * c + c0;
            if (z) ldv<V>(z + o, v);
#pragma unroll
            for (int j = 0; j < V; ++j) v[j] = act(op, acc[q][j] + (z ? v[j] : 0.f), a, b2);
            stv<V>(y + o, v);
        }
    }
}
#define DW_NHWC(V, K) \
    extern "C" __global__ void __launch_bounds__(256) dw_nhwc_v##V##_k##K(ConvP p, const real* x, const real* wt, const real* bias, const real* z, int op, float a, float b2, real* y) { \
        dw_nhwc<V, K>(p, x, wt, bias, z, op, a, b2, y); \
    }
DW_NHWC(1, 3) DW_NHWC(1, 5) DW_NHWC(1, 0)
DW_NHWC(2, 3) DW_NHWC(2, 5) DW_NHWC(2, 0)
DW_NHWC(4, 3) DW_NHWC(4, 5) DW_NHWC(4, 0)
DW_NHWC(8, 3) DW_NHWC(8, 5) DW_NHWC(8, 0)

// Max (mode 0) / average (1: count_include_pad=0, 2: include pad) pooling, 2-D NCHW (channels folded into n*c).
// nhwc: x and y channels-last (as depthwise_f32)
extern "C" __global__ void pool2d_f32(ConvP p, int nhwc, int mode, const real* x, real* y) {
    i64 total = p.n * p.c * p.oh * p.ow;
    GRID_LOOP(i, total) {
        i64 ox, oy, xs;
        const real* xp;
        if (nhwc) {
            i64 c = i % p.c;
            ox = (i / p.c) % p.ow; oy = (i / (p.c * p.ow)) % p.oh;
            xp = x + (i / (p.c * p.ow * p.oh)) * p.h * p.w * p.c + c;
            xs = p.c;
        } else {
            ox = i % p.ow; oy = (i / p.ow) % p.oh;
            xp = x + (i / (p.ow * p.oh)) * p.h * p.w;
            xs = 1;
        }
        float acc = mode == 0 ? -INFINITY : 0.f;
        i64 cnt = 0;
        for (i64 ky = 0; ky < p.kh; ++ky) {
            i64 iy = oy * p.sh - p.ph + ky * p.dh;
            for (i64 kx = 0; kx < p.kw; ++kx) {
                i64 ix = ox * p.sw - p.pw + kx * p.dw;
                bool in = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
                if (mode == 2 && iy < p.h + p.ph && ix < p.w + p.pw) cnt++;
                if (!in) continue;
                float v = ld(xp[(iy * p.w + ix) * xs]);
                if (mode == 0) acc = fmaxf(acc, v); else acc += v;
                if (mode == 1) cnt++;
            }
        }
        y[i] = st(mode == 0 ? acc : acc / (float)(cnt > 0 ? cnt : 1));
    }
}

// ---------- recurrent gates ----------
// LSTM (ONNX gate order i, o, f, c): g = xw[t] (4H, bias included) + hr (4H, recurrent bias included).
extern "C" __global__ void lstm_gates_f32(i64 batch, i64 hs, const real* xw, const real* hr, real* c, real* h, real* y) {
    GRID_LOOP(i, batch * hs) {
        i64 b = i / hs, j = i % hs;
        const real* gx = xw + b * 4 * hs;
        const real* gh = hr + b * 4 * hs;
        auto g = [&](i64 k) { return ld(gx[k * hs + j]) + ld(gh[k * hs + j]); };
        float ig = 1.f / (1.f + expf(-g(0)));
        float og = 1.f / (1.f + expf(-g(1)));
        float fg = 1.f / (1.f + expf(-g(2)));
        float cg = tanhf(g(3));
        float cn = fg * ld(c[i]) + ig * cg;
        c[i] = st(cn);
        real hn = st(og * tanhf(cn));
        h[i] = hn;
        if (y) y[i] = hn;
    }
}

// GRU (ONNX gate order z, r, h). xw = x W^T + Wb (3H); hr = h R^T (3H, no bias); rb = recurrent bias (3H) or null.
// linear_before_reset=1: h~ = tanh(xw_h + r * (hr_h + Rb_h)). linear_before_reset=0 needs (r*h) R^T: handled by
// the caller with a second GEMM; here `hr_h2` then holds that product.
extern "C" __global__ void gru_gates_f32(i64 batch, i64 hs, int lbr, const real* xw, const real* hr, const real* rb, const real* hr_h2, real* h, real* y) {
    GRID_LOOP(i, batch * hs) {
        i64 b = i / hs, j = i % hs;
        const real* gx = xw + b * 3 * hs;
        const real* gh = hr + b * 3 * hs;
        float rz = rb ? ld(rb[j]) : 0.f, rr = rb ? ld(rb[hs + j]) : 0.f, rh = rb ? ld(rb[2 * hs + j]) : 0.f;
        float z = 1.f / (1.f + expf(-(ld(gx[j]) + ld(gh[j]) + rz)));
        float r = 1.f / (1.f + expf(-(ld(gx[hs + j]) + ld(gh[hs + j]) + rr)));
        float hh;
        if (lbr) hh = tanhf(ld(gx[2 * hs + j]) + r * (ld(gh[2 * hs + j]) + rh));
        else hh = tanhf(ld(gx[2 * hs + j]) + ld(hr_h2[b * hs + j]) + rh);
        real hn = st((1.f - z) * hh + z * ld(h[i]));
        h[i] = hn;
        if (y) y[i] = hn;
    }
}

// r * h for GRU with linear_before_reset = 0 (r recomputed from the gates).
extern "C" __global__ void gru_rh_f32(i64 batch, i64 hs, const real* xw, const real* hr, const real* rb, const real* h, real* out) {
    GRID_LOOP(i, batch * hs) {
        i64 b = i / hs, j = i % hs;
        float rr = rb ? ld(rb[hs + j]) : 0.f;
        float r = 1.f / (1.f + expf(-(ld(xw[b * 3 * hs + hs + j]) + ld(hr[b * 3 * hs + hs + j]) + rr)));
        out[i] = st(r * ld(h[i]));
    }
}

// ---------- a whole LSTM / GRU layer in one launch ----------
// One block owns `rows` batch rows of one direction for the whole sequence: h (and c) stay in shared
// memory, each step computes h R^T from R transposed ([H, G*H], coalesced across gate columns) and
// then the gate math; no launch and no global round trip per step. The input projection X W^T of
// every step and direction comes from one GEMM before (`xw`, no bias). ONNX semantics as the CPU op:
// gate order LSTM i,o,f,c / GRU z,r,h; biases Wb+Rb; clip on the gate pre-activations; activations
// f,g(,h) per direction; LSTM peepholes and input_forget; GRU linear_before_reset; sequence_lens
// (steps past a row's length write zeros to Y and leave the state; reverse starts at len-1); layout.
#define RNN_ROWS 8
struct RnnSeq {
    i64 seq, batch, hs, rows, dirs, layout;
    int lstm, lbr, input_forget, reverse, has_clip, lens_i64;
    float clip;
    int act[2][3];
    float aa[2][3];
    float ab[2][3];
    const real* xw;    // [seq*batch, dirs*G*H]: row t*batch+b (layout 0) or b*seq+t (layout 1)
    const real* rt;    // [dirs, H, G*H]
    const real* bias;  // [dirs, 2*G*H] or null
    const real* peep;  // [dirs, 3*H] or null
    const real* h0;    // [dirs, batch, H] ([batch, dirs, H] in layout 1) or null
    const real* c0;
    const void* lens;  // [batch] int32 or int64, or null
    real* y;
    real* yh;
    real* yc;          // null for GRU
    int* bad;          // set when a sequence length is out of range
};

// One shared (not inlined) copy of every activation for the rare cell activations: inlining
// act()'s whole switch at each of the cell's five call sites makes the step's code large.
__device__ __noinline__ float act_call(int op, float x, float a, float b) { return act(op, x, a, b); }

__device__ __forceinline__ float rnn_act(const RnnSeq& p, int d, int k, float x, bool clip) {
    if (clip && p.has_clip) x = fminf(fmaxf(x, -p.clip), p.clip);
    // select the direction with a branch: indexing the parameter struct with a run-time value
    // could make the compiler copy it to local memory
    const int op = d == 0 ? p.act[0][k] : p.act[1][k];
    if (op == 4) return 1.f / (1.f + expf(-x));
    if (op == 7) return tanhf(x);
    return d == 0 ? act_call(op, x, p.aa[0][k], p.ab[0][k]) : act_call(op, x, p.aa[1][k], p.ab[1][k]);
}

__device__ __forceinline__ i64 rnn_len(const RnnSeq& p, i64 b) {
    if (!p.lens) return p.seq;
    i64 l = p.lens_i64 ? ((const i64*)p.lens)[b] : (i64)((const int*)p.lens)[b];
    if (l < 0 || l > p.seq) {
        *p.bad = 1;
        return l < 0 ? 0 : p.seq;
    }
    return l;
}

// dst[r][c] = sum_k src[r][k] * rt[k][c] for the columns c in [c0, c1) and the block's nr rows. With
// more threads than columns, each column's k range is split in up to RNN_SLICES slices (more loads in
// flight per step, the latency that bounds a small recurrence); `red` sums the slices.
#define RNN_SLICES 4
__device__ __forceinline__ void rnn_matvec(const real* rt, int gh, int h, int nr, const float* src, float* dst, int c0, int c1, float* red) {
    const int nc = c1 - c0;
    const int S = max(1, min((int)blockDim.x / nc, RNN_SLICES));
    const int kl = (h + S - 1) / S;
    for (int t = threadIdx.x; t < nc * S; t += blockDim.x) {
        const int cc = t % nc, s = t / nc, c = c0 + cc;
        const int k0 = s * kl, k1 = min(h, k0 + kl);
        float acc[RNN_ROWS];
#pragma unroll
        for (int r = 0; r < RNN_ROWS; ++r) acc[r] = 0.f;
#pragma unroll 8
        for (int k = k0; k < k1; ++k) {
            float w = ld(rt[(i64)k * gh + c]);
#pragma unroll
            for (int r = 0; r < RNN_ROWS; ++r)
                if (r < nr) acc[r] += src[r * h + k] * w;
        }
#pragma unroll
        for (int r = 0; r < RNN_ROWS; ++r)
            if (r < nr) {
                if (S == 1) dst[r * gh + c] = acc[r];
                else red[(s * nr + r) * nc + cc] = acc[r];
            }
    }
    if (S > 1) {
        __syncthreads();
        for (int t = threadIdx.x; t < nr * nc; t += blockDim.x) {
            const int r = t / nc, cc = t % nc;
            float v = 0.f;
            for (int s = 0; s < S; ++s) v += red[(s * nr + r) * nc + cc];
            dst[r * gh + c0 + cc] = v;
        }
    }
}

// grid: ceil(batch / rows) * dirs blocks; shared memory: rows * (3H + (1 + RNN_SLICES) G*H) floats.
extern "C" __global__ void __launch_bounds__(1024) rnn_seq_f32(RnnSeq p) {
    extern __shared__ float sm[];
    const int H = (int)p.hs, G = p.lstm ? 4 : 3, GH = G * H;
    const int d = (int)(blockIdx.x % p.dirs);
    const i64 b0 = (i64)(blockIdx.x / p.dirs) * p.rows;
    const int nr = (int)min(p.rows, p.batch - b0);
    if (nr <= 0) return;
    float* hsm = sm;
    float* csm = hsm + p.rows * H;
    float* gsm = csm + p.rows * H;
    float* rhs = gsm + p.rows * GH;
    float* red = rhs + p.rows * H;
    const real* rt = p.rt + (i64)d * H * GH;
    const real* wb = p.bias ? p.bias + (i64)d * 2 * GH : 0;
    const real* pp = p.peep ? p.peep + (i64)d * 3 * H : 0;
    const bool back = p.reverse || d == 1;
    const int nh = nr * H;
    for (int i = threadIdx.x; i < nh; i += blockDim.x) {
        i64 b = b0 + i / H, j = i % H;
        i64 o = (p.layout ? b * p.dirs + d : d * p.batch + b) * H + j;
        hsm[i] = p.h0 ? ld(p.h0[o]) : 0.f;
        csm[i] = p.c0 ? ld(p.c0[o]) : 0.f;
    }
    __syncthreads();
    const bool rh_late = !p.lstm && !p.lbr;  // GRU: (r * h) R_h^T needs r first
    for (i64 s = 0; s < p.seq; ++s) {
        rnn_matvec(rt, GH, H, nr, hsm, gsm, 0, rh_late ? 2 * H : GH, red);
        __syncthreads();
        if (rh_late) {
            for (int i = threadIdx.x; i < nh; i += blockDim.x) {
                const int r = i / H, j = i % H;
                const i64 b = b0 + r, L = rnn_len(p, b);
                if (s >= L) { rhs[i] = 0.f; continue; }
                i64 t = back ? L - 1 - s : s;
                const real* x = p.xw + ((p.layout ? b * p.seq + t : t * p.batch + b) * p.dirs + d) * GH;
                float pre = ld(x[H + j]) + gsm[r * GH + H + j] + (wb ? ld(wb[H + j]) + ld(wb[GH + H + j]) : 0.f);
                rhs[i] = rnn_act(p, d, 0, pre, true) * hsm[i];
            }
            __syncthreads();
            rnn_matvec(rt, GH, H, nr, rhs, gsm, 2 * H, GH, red);
            __syncthreads();
        }
        for (int i = threadIdx.x; i < nh; i += blockDim.x) {
            const int r = i / H, j = i % H;
            const i64 b = b0 + r, L = rnn_len(p, b);
            if (s >= L) {
                if (p.y) p.y[(p.layout ? (b * p.seq + s) * p.dirs + d : (s * p.dirs + d) * p.batch + b) * H + j] = st(0.f);
                continue;
            }
            i64 t = back ? L - 1 - s : s;
            const real* x = p.xw + ((p.layout ? b * p.seq + t : t * p.batch + b) * p.dirs + d) * GH;
            const float* g = gsm + r * GH;
            auto pre = [&](i64 k) {
                i64 q = k * H + j;
                return ld(x[q]) + g[q] + (wb ? ld(wb[q]) + ld(wb[GH + q]) : 0.f);
            };
            float hn;
            if (p.lstm) {
                float cp = csm[i];
                float ig = rnn_act(p, d, 0, pre(0) + (pp ? ld(pp[j]) * cp : 0.f), true);
                float fg = p.input_forget ? 1.f - ig : rnn_act(p, d, 0, pre(2) + (pp ? ld(pp[2 * H + j]) * cp : 0.f), true);
                float ct = rnn_act(p, d, 1, pre(3), true);
                float cn = fg * cp + ig * ct;
                float og = rnn_act(p, d, 0, pre(1) + (pp ? ld(pp[H + j]) * cn : 0.f), true);
                hn = og * rnn_act(p, d, 2, cn, false);
                csm[i] = cn;
            } else {
                float z = rnn_act(p, d, 0, pre(0), true);
                float rg = rnn_act(p, d, 0, pre(1), true);
                float xh = ld(x[2 * H + j]) + (wb ? ld(wb[2 * H + j]) : 0.f);
                float rbh = wb ? ld(wb[GH + 2 * H + j]) : 0.f;
                float hp = p.lbr ? xh + rg * (g[2 * H + j] + rbh) : xh + g[2 * H + j] + rbh;
                hn = (1.f - z) * rnn_act(p, d, 1, hp, true) + z * hsm[i];
            }
            hsm[i] = hn;
            if (p.y) p.y[(p.layout ? (b * p.seq + t) * p.dirs + d : (t * p.dirs + d) * p.batch + b) * H + j] = st(hn);
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < nh; i += blockDim.x) {
        i64 b = b0 + i / H, j = i % H;
        i64 o = (p.layout ? b * p.dirs + d : d * p.batch + b) * H + j;
        p.yh[o] = st(hsm[i]);
        if (p.yc) p.yc[o] = st(csm[i]);
    }
}

// out[d][k][c] = a[d][c][k] for a = [dirs, m, n] (R to the [H, G*H] layout rnn_seq_f32 reads).
extern "C" __global__ void transpose_last2_f32(i64 dirs, i64 m, i64 n, const real* a, real* out) {
    GRID_LOOP(i, dirs * m * n) {
        i64 d = i / (m * n), k = (i / m) % n, c = i % m;
        out[i] = a[(d * m + c) * n + k];
    }
}

// fill a float buffer with a value
extern "C" __global__ void fill_f32(i64 n, float v, real* y) { GRID_LOOP(i, n) y[i] = st(v); }

