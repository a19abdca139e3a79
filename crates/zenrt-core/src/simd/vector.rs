//! The lane abstraction the vector math is written against: [`F32x`] with an AVX-512F
//! implementation (16 lanes), an AVX2+FMA one (8 lanes) and a portable scalar one (1 lane).
//!
//! Every method is `unsafe` and `#[inline(always)]`: the generic math in `math.rs` is
//! monomorphised and inlined into a `#[target_feature]` entry point (see `mod.rs`), which is
//! the only place that may be reached, and only after run-time feature detection.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A vector of f32 lanes. `max`/`min` propagate a NaN in `self` (the value being clamped):
/// `a.max(b)` is `if b > a { b } else { a }`.
pub(crate) trait F32x: Copy {
    /// A per-lane condition.
    type M: Copy;
    /// Number of lanes.
    const N: usize;
    unsafe fn splat(v: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn sub(self, o: Self) -> Self;
    unsafe fn mul(self, o: Self) -> Self;
    unsafe fn div(self, o: Self) -> Self;
    /// `self * b + c` with one rounding.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    unsafe fn max(self, o: Self) -> Self;
    unsafe fn min(self, o: Self) -> Self;
    unsafe fn abs(self) -> Self;
    unsafe fn neg(self) -> Self;
    unsafe fn sqrt(self) -> Self;
    /// Round to the nearest integer, ties to even.
    unsafe fn round(self) -> Self;
    /// `2^n` for integral `n` in `[-126, 127]`.
    unsafe fn pow2i(n: Self) -> Self;
    /// `self · 2^n` for integral `n` in `[-150, 128]`, rounded once (gradual underflow, overflow
    /// to infinity): two [`F32x::pow2i`] factors, one `scalef` on AVX-512.
    #[inline(always)]
    unsafe fn scale2(self, n: Self) -> Self {
        let n1 = n.mul(Self::splat(0.5)).round();
        let n2 = n.sub(n1);
        self.mul(Self::pow2i(n1)).mul(Self::pow2i(n2))
    }
    /// The magnitude of `self` with the sign of `s`.
    unsafe fn copysign(self, s: Self) -> Self;
    /// For finite `self > 0` (normal or subnormal): `(e, m)` with `self = m * 2^e`, `m` in `[1, 2)`.
    unsafe fn exp_mant(self) -> (Self, Self);
    unsafe fn lt(self, o: Self) -> Self::M;
    unsafe fn le(self, o: Self) -> Self::M;
    unsafe fn gt(self, o: Self) -> Self::M;
    unsafe fn is_nan(self) -> Self::M;
    unsafe fn or_m(a: Self::M, b: Self::M) -> Self::M;
    /// `m ? a : b` per lane.
    unsafe fn select(m: Self::M, a: Self, b: Self) -> Self;
    unsafe fn hsum(self) -> f32;
    unsafe fn hmax(self) -> f32;
}

/// One lane: the portable fallback (and the reference the vector paths are tested against).
#[derive(Clone, Copy)]
pub(crate) struct Scalar(pub f32);

impl F32x for Scalar {
    type M = bool;
    const N: usize = 1;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Scalar(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Scalar(*p)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        *p = self.0
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        Scalar(self.0 + o.0)
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        Scalar(self.0 - o.0)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        Scalar(self.0 * o.0)
    }
    #[inline(always)]
    unsafe fn div(self, o: Self) -> Self {
        Scalar(self.0 / o.0)
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        Scalar(self.0.mul_add(b.0, c.0))
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        if o.0 > self.0 {
            o
        } else {
            self
        }
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        if o.0 < self.0 {
            o
        } else {
            self
        }
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        Scalar(self.0.abs())
    }
    #[inline(always)]
    unsafe fn neg(self) -> Self {
        Scalar(-self.0)
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        Scalar(self.0.sqrt())
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        Scalar(self.0.round_ties_even())
    }
    #[inline(always)]
    unsafe fn pow2i(n: Self) -> Self {
        Scalar(f32::from_bits(((n.0 as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    unsafe fn copysign(self, s: Self) -> Self {
        Scalar(self.0.copysign(s.0))
    }
    #[inline(always)]
    unsafe fn exp_mant(self) -> (Self, Self) {
        let (x, bias) = if self.0 < f32::MIN_POSITIVE { (self.0 * 8388608.0, 23) } else { (self.0, 0) };
        let b = x.to_bits();
        let e = ((b >> 23) & 0xff) as i32 - 127 - bias;
        (Scalar(e as f32), Scalar(f32::from_bits((b & 0x007f_ffff) | 0x3f80_0000)))
    }
    #[inline(always)]
    unsafe fn lt(self, o: Self) -> bool {
        self.0 < o.0
    }
    #[inline(always)]
    unsafe fn le(self, o: Self) -> bool {
        self.0 <= o.0
    }
    #[inline(always)]
    unsafe fn gt(self, o: Self) -> bool {
        self.0 > o.0
    }
    #[inline(always)]
    unsafe fn is_nan(self) -> bool {
        self.0.is_nan()
    }
    #[inline(always)]
    unsafe fn or_m(a: bool, b: bool) -> bool {
        a || b
    }
    #[inline(always)]
    unsafe fn select(m: bool, a: Self, b: Self) -> Self {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        self.0
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        self.0
    }
}

/// Eight lanes of AVX2 with FMA.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256);

#[cfg(target_arch = "x86_64")]
impl F32x for Avx2 {
    type M = __m256;
    const N: usize = 8;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx2(_mm256_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx2(_mm256_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self.0)
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        Avx2(_mm256_add_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        Avx2(_mm256_sub_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        Avx2(_mm256_mul_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn div(self, o: Self) -> Self {
        Avx2(_mm256_div_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        Avx2(_mm256_fmadd_ps(self.0, b.0, c.0))
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        Avx2(_mm256_max_ps(o.0, self.0))
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        Avx2(_mm256_min_ps(o.0, self.0))
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        Avx2(_mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0))
    }
    #[inline(always)]
    unsafe fn neg(self) -> Self {
        Avx2(_mm256_xor_ps(_mm256_set1_ps(-0.0), self.0))
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        Avx2(_mm256_sqrt_ps(self.0))
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        Avx2(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0))
    }
    #[inline(always)]
    unsafe fn pow2i(n: Self) -> Self {
        let i = _mm256_add_epi32(_mm256_cvtps_epi32(n.0), _mm256_set1_epi32(127));
        Avx2(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(i)))
    }
    #[inline(always)]
    unsafe fn copysign(self, s: Self) -> Self {
        let sign = _mm256_set1_ps(-0.0);
        Avx2(_mm256_or_ps(_mm256_andnot_ps(sign, self.0), _mm256_and_ps(sign, s.0)))
    }
    #[inline(always)]
    unsafe fn exp_mant(self) -> (Self, Self) {
        let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, _mm256_set1_ps(f32::MIN_POSITIVE));
        let x = _mm256_blendv_ps(self.0, _mm256_mul_ps(self.0, _mm256_set1_ps(8388608.0)), tiny);
        let bias = _mm256_blendv_ps(_mm256_set1_ps(127.0), _mm256_set1_ps(150.0), tiny);
        let b = _mm256_castps_si256(x);
        let e = _mm256_and_si256(_mm256_srli_epi32::<23>(b), _mm256_set1_epi32(0xff));
        let e = _mm256_sub_ps(_mm256_cvtepi32_ps(e), bias);
        let m = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f80_0000));
        (Avx2(e), Avx2(_mm256_castsi256_ps(m)))
    }
    #[inline(always)]
    unsafe fn lt(self, o: Self) -> __m256 {
        _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn le(self, o: Self) -> __m256 {
        _mm256_cmp_ps::<_CMP_LE_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn gt(self, o: Self) -> __m256 {
        _mm256_cmp_ps::<_CMP_GT_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn is_nan(self) -> __m256 {
        _mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0)
    }
    #[inline(always)]
    unsafe fn or_m(a: __m256, b: __m256) -> __m256 {
        _mm256_or_ps(a, b)
    }
    #[inline(always)]
    unsafe fn select(m: __m256, a: Self, b: Self) -> Self {
        Avx2(_mm256_blendv_ps(b.0, a.0, m))
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        let mut buf = [0f32; 8];
        self.store(buf.as_mut_ptr());
        buf.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a || b.is_nan() { b } else { a })
    }
}

/// Sixteen lanes of AVX-512F.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512(__m512);

#[cfg(target_arch = "x86_64")]
impl F32x for Avx512 {
    type M = __mmask16;
    const N: usize = 16;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Avx512(_mm512_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Avx512(_mm512_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self.0)
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        Avx512(_mm512_add_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        Avx512(_mm512_sub_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        Avx512(_mm512_mul_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn div(self, o: Self) -> Self {
        Avx512(_mm512_div_ps(self.0, o.0))
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        Avx512(_mm512_fmadd_ps(self.0, b.0, c.0))
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        Avx512(_mm512_max_ps(o.0, self.0))
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        Avx512(_mm512_min_ps(o.0, self.0))
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        Avx512(_mm512_abs_ps(self.0))
    }
    #[inline(always)]
    unsafe fn neg(self) -> Self {
        Avx512(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(i32::MIN))))
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        Avx512(_mm512_sqrt_ps(self.0))
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        Avx512(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0))
    }
    #[inline(always)]
    unsafe fn pow2i(n: Self) -> Self {
        let i = _mm512_add_epi32(_mm512_cvtps_epi32(n.0), _mm512_set1_epi32(127));
        Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(i)))
    }
    #[inline(always)]
    unsafe fn scale2(self, n: Self) -> Self {
        Avx512(_mm512_scalef_ps(self.0, n.0))
    }
    #[inline(always)]
    unsafe fn copysign(self, s: Self) -> Self {
        let mag = _mm512_and_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(i32::MAX));
        let sign = _mm512_and_si512(_mm512_castps_si512(s.0), _mm512_set1_epi32(i32::MIN));
        Avx512(_mm512_castsi512_ps(_mm512_or_si512(mag, sign)))
    }
    #[inline(always)]
    unsafe fn exp_mant(self) -> (Self, Self) {
        // getexp/getmant normalise subnormals themselves.
        let e = _mm512_getexp_ps(self.0);
        let m = _mm512_getmant_ps::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(self.0);
        (Avx512(e), Avx512(m))
    }
    #[inline(always)]
    unsafe fn lt(self, o: Self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn le(self, o: Self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn gt(self, o: Self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, o.0)
    }
    #[inline(always)]
    unsafe fn is_nan(self) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(self.0, self.0)
    }
    #[inline(always)]
    unsafe fn or_m(a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[inline(always)]
    unsafe fn select(m: __mmask16, a: Self, b: Self) -> Self {
        Avx512(_mm512_mask_blend_ps(m, b.0, a.0))
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        _mm512_reduce_add_ps(self.0)
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        if _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(self.0, self.0) != 0 {
            return f32::NAN;
        }
        _mm512_reduce_max_ps(self.0)
    }
}
