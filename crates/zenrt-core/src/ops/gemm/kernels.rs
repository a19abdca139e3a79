//! f32 GEMM micro-kernels: `C[mr×nr] (op)= A-panel · B-panel` over `kc` steps, with the epilogue
//! (alpha, beta, bias, Relu/Clip) applied while the tile is in registers.
//!
//! Panels are k-major: `a[p*MR + i]` (one column of MR rows per step), `b[p*NR + j]`.
//! One kernel per instruction set, chosen once from the CPU's features: AVX-512 (12×32),
//! AVX2+FMA (6×16), portable scalar (4×8).

use std::sync::OnceLock;

/// What a kernel applies when it writes its tile.
#[derive(Clone, Copy, Debug)]
pub struct TileEp {
    pub alpha: f32,
    /// Factor of the old C (only when `load_c`).
    pub beta: f32,
    /// Whether the old C is read (false: C is overwritten, never read).
    pub load_c: bool,
    /// Per-row bias for the tile's rows (`mr` values) or null.
    pub row_bias: *const f32,
    /// Per-column bias for the tile's columns (`nr` values) or null.
    pub col_bias: *const f32,
    /// Clamp to `[lo, hi]` (Relu = `[0, inf]`) when `clamp` is set.
    pub clamp: bool,
    pub lo: f32,
    pub hi: f32,
}

/// `kc, a, b, c, rsc, mr, nr, ep`: `c` points at the tile's top-left element, rows `rsc` apart,
/// columns contiguous; only the top-left `mr × nr` part is written.
pub type KernelFn = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, usize, &TileEp);

/// A micro-kernel and its register-tile shape.
#[derive(Debug)]
pub struct Kernel {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub f: KernelFn,
}

/// The vector operations a micro-kernel needs, for one register width. Implemented for plain
/// `f32` (the portable kernel), AVX2 `__m256` and AVX-512 `__m512`; every method is
/// `inline(always)` so it compiles inside the `target_feature` function that calls [`tile`].
trait Simd: Copy {
    const LANES: usize;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    /// `a * b + c`.
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn clamp(x: Self, lo: Self, hi: Self) -> Self;
    /// Loads the first `n` lanes (`1 <= n`; `n >= LANES` loads all), zero in the others.
    unsafe fn load_part(p: *const f32, n: usize) -> Self;
    /// Stores the first `n` lanes (`1 <= n`; `n >= LANES` stores all).
    unsafe fn store_part(p: *mut f32, x: Self, n: usize);
}

impl Simd for f32 {
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        *p
    }
    #[inline(always)]
    unsafe fn fmadd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
        x.max(lo).min(hi)
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, _: usize) -> f32 {
        *p
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, x: f32, _: usize) {
        *p = x
    }
}

/// One micro-kernel: `MR` rows × `NV` vectors of `V` (an `MR × NV·LANES` register tile),
/// `kc` rank-1 updates from the packed panels, then the epilogue on the top-left `mr × nr`
/// part, written with partial (masked) vectors at the right edge.
///
/// # Safety
/// `a` holds `kc · MR` values, `b` `kc · NV · LANES`; `c` addresses `mr <= MR` rows of
/// `nr <= NV · LANES` values, `rsc` apart; the bias pointers (if not null) `mr` / `nr` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<V: Simd, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    mr: usize,
    nr: usize,
    ep: &TileEp,
) {
    let zero = V::splat(0.0);
    let mut acc = [[zero; NV]; MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        let mut bv = [zero; NV];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = V::load(bp.add(v * V::LANES));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let av = V::splat(*ap.add(i));
            for (x, &bx) in row.iter_mut().zip(&bv) {
                *x = V::fmadd(av, bx, *x);
            }
        }
        ap = ap.add(MR);
        bp = bp.add(NV * V::LANES);
    }
    let (alpha, beta) = (V::splat(ep.alpha), V::splat(ep.beta));
    let (lo, hi) = (V::splat(ep.lo), V::splat(ep.hi));
    // Lanes of vector `v` inside the tile (0: past the right edge).
    let lanes = |v: usize| nr.saturating_sub(v * V::LANES);
    let mut cb = [zero; NV];
    if !ep.col_bias.is_null() {
        for (v, x) in cb.iter_mut().enumerate().take_while(|(v, _)| lanes(*v) > 0) {
            *x = V::load_part(ep.col_bias.add(v * V::LANES), lanes(v));
        }
    }
    for (i, row) in acc.iter().enumerate().take(mr) {
        let rb = V::splat(if ep.row_bias.is_null() { 0.0 } else { *ep.row_bias.add(i) });
        let crow = c.add(i * rsc);
        for (v, &x) in row.iter().enumerate().take_while(|(v, _)| lanes(*v) > 0) {
            let (n, dst) = (lanes(v), crow.add(v * V::LANES));
            let mut y = V::add(V::fmadd(x, alpha, rb), cb[v]);
            if ep.load_c {
                y = V::fmadd(V::load_part(dst, n), beta, y);
            }
            if ep.clamp {
                y = V::clamp(y, lo, hi);
            }
            V::store_part(dst, y, n);
        }
    }
}

/// Portable kernel (4×8), left to the compiler's vectoriser.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_scalar(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    mr: usize,
    nr: usize,
    ep: &TileEp,
) {
    tile::<f32, 4, 8>(kc, a, b, c, rsc, mr, nr, ep)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{tile, Simd, TileEp};
    use std::arch::x86_64::*;

    impl Simd for __m256 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            _mm256_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn clamp(x: Self, lo: Self, hi: Self) -> Self {
            _mm256_min_ps(_mm256_max_ps(x, lo), hi)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> Self {
            if n >= 8 {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, mask8(n))
            }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, x: Self, n: usize) {
            if n >= 8 {
                _mm256_storeu_ps(p, x)
            } else {
                _mm256_maskstore_ps(p, mask8(n), x)
            }
        }
    }

    /// Lane mask of the first `n < 8` lanes.
    #[inline(always)]
    unsafe fn mask8(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    impl Simd for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: Self, b: Self) -> Self {
            _mm512_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn clamp(x: Self, lo: Self, hi: Self) -> Self {
            _mm512_min_ps(_mm512_max_ps(x, lo), hi)
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> Self {
            _mm512_maskz_loadu_ps(mask16(n), p)
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, x: Self, n: usize) {
            _mm512_mask_storeu_ps(p, mask16(n), x)
        }
    }

    #[inline(always)]
    fn mask16(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as u16
        }
    }

    macro_rules! kernel {
        ($(#[$doc:meta])* $name:ident, $feat:literal, $v:ty, $mr:literal, $nv:literal) => {
            $(#[$doc])*
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name(
                kc: usize,
                a: *const f32,
                b: *const f32,
                c: *mut f32,
                rsc: usize,
                mr: usize,
                nr: usize,
                ep: &TileEp,
            ) {
                tile::<$v, $mr, $nv>(kc, a, b, c, rsc, mr, nr, ep)
            }
        };
    }
    kernel!(
        /// AVX-512 kernel: 12 rows × 32 columns (24 zmm accumulators).
        kernel_avx512, "avx512f", __m512, 12, 2
    );
    kernel!(
        /// AVX2+FMA kernel: 6 rows × 16 columns (12 ymm accumulators).
        kernel_avx2, "avx2,fma", __m256, 6, 2
    );
}

static SCALAR: Kernel = Kernel { name: "scalar-4x8", mr: 4, nr: 8, f: kernel_scalar };
#[cfg(target_arch = "x86_64")]
static AVX2: Kernel = Kernel { name: "avx2-6x16", mr: 6, nr: 16, f: x86::kernel_avx2 };

#[cfg(target_arch = "x86_64")]
static AVX512: Kernel = Kernel { name: "avx512-12x32", mr: 12, nr: 32, f: x86::kernel_avx512 };

/// Every kernel this CPU can run, fastest first.
pub fn available() -> Vec<&'static Kernel> {
    let mut v: Vec<&'static Kernel> = vec![];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            v.push(&AVX512);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(&AVX2);
        }
    }
    v.push(&SCALAR);
    v
}

/// The kernel used by default: the fastest available one, unless `ZENRT_GEMM_KERNEL`
/// (`avx512`, `avx2`, `scalar`) names another available one.
pub fn best() -> &'static Kernel {
    static BEST: OnceLock<&'static Kernel> = OnceLock::new();
    BEST.get_or_init(|| {
        let all = available();
        let want = std::env::var("ZENRT_GEMM_KERNEL").unwrap_or_default();
        all.iter().find(|k| !want.is_empty() && k.name.starts_with(want.as_str())).copied().unwrap_or(all[0])
    })
}
