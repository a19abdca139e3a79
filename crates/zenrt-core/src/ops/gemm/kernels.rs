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
    /// The residual's tile (rows `rsc` apart, like C), added before the clamp, or null.
    pub res: *const f32,
}

/// The epilogue of one product, resolved once by `sgemm`: what every tile applies (scalars, biases
/// and the clamp the micro-kernels fuse) and the activation applied after the last K block.
#[derive(Clone, Copy, Debug)]
pub struct BlockEp<'a> {
    pub alpha: f32,
    pub beta: f32,
    pub row_bias: Option<&'a [f32]>,
    pub col_bias: Option<&'a [f32]>,
    pub clamp: Option<(f32, f32)>,
    pub post: crate::ops::fused::Activation,
    /// A residual laid out like C (`row * rsc + col`), added on the last K block.
    pub res: Option<&'a [f32]>,
    /// C's row stride (to find a tile's residual).
    pub rsc: usize,
}

impl BlockEp<'_> {
    /// The tile epilogue at (`row`, `col`) for one K block: `first` and `last` say where the block
    /// lies in K (beta and C are applied on the first block, biases and the clamp on the last).
    pub fn tile(&self, row: usize, col: usize, first: bool, last: bool) -> TileEp {
        let ptr = |b: Option<&[f32]>, at: usize| match b {
            Some(b) if last => b[at..].as_ptr(),
            _ => std::ptr::null(),
        };
        let (lo, hi) = self.clamp.unwrap_or((0.0, 0.0));
        TileEp {
            alpha: self.alpha,
            beta: if first { self.beta } else { 1.0 },
            load_c: !first || self.beta != 0.0,
            row_bias: ptr(self.row_bias, row),
            col_bias: ptr(self.col_bias, col),
            clamp: last && self.clamp.is_some(),
            lo,
            hi,
            res: match self.res {
                Some(r) if last => r[row * self.rsc + col..].as_ptr(),
                _ => std::ptr::null(),
            },
        }
    }
}

/// `kc, a, b, ldb, c, rsc, mr, nr, ep`: B's step `p` at `b + p * ldb` (`nr` of the kernel for a
/// packed panel); `c` points at the tile's top-left element, rows `rsc` apart, columns contiguous;
/// only the top-left `mr × nr` part is written.
pub type KernelFn = unsafe fn(usize, *const f32, *const f32, usize, *mut f32, usize, usize, usize, &TileEp);

/// A micro-kernel and its register-tile shape.
#[derive(Debug)]
pub struct Kernel {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub f: KernelFn,
    /// The same kernel on an unpacked, row-major B read where it lies (only the tile's `nr`
    /// columns of each step are read), where it has one.
    pub direct: Option<KernelFn>,
}

/// Scalar epilogue of one tile held in `acc` (row-major `MR × NR`).
///
/// # Safety
/// `c` must address `mr` rows of `nr` values, `rsc` apart; the bias pointers `mr` / `nr` values.
#[inline(always)]
unsafe fn store_tile(acc: &[f32], nrs: usize, c: *mut f32, rsc: usize, mr: usize, nr: usize, ep: &TileEp) {
    for i in 0..mr {
        let rb = if ep.row_bias.is_null() { 0.0 } else { *ep.row_bias.add(i) };
        for j in 0..nr {
            let dst = c.add(i * rsc + j);
            let mut v = acc[i * nrs + j] * ep.alpha + rb;
            if ep.load_c {
                v += ep.beta * *dst;
            }
            if !ep.col_bias.is_null() {
                v += *ep.col_bias.add(j);
            }
            if !ep.res.is_null() {
                v += *ep.res.add(i * rsc + j);
            }
            if ep.clamp {
                v = v.max(ep.lo).min(ep.hi);
            }
            *dst = v;
        }
    }
}

/// Portable kernel (4×8), left to the compiler's vectoriser.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_scalar(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    rsc: usize,
    mr: usize,
    nr: usize,
    ep: &TileEp,
) {
    const MR: usize = 4;
    const NR: usize = 8;
    let mut acc = [[0f32; NR]; MR];
    for p in 0..kc {
        let bp = std::slice::from_raw_parts(b.add(p * ldb), NR);
        let ap = std::slice::from_raw_parts(a.add(p * MR), MR);
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] += ap[i] * bp[j];
            }
        }
    }
    let flat: Vec<f32> = acc.iter().flatten().copied().collect();
    store_tile(&flat, NR, c, rsc, mr, nr, ep);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::TileEp;
    use std::arch::x86_64::*;

    const MR512: usize = 12;

    /// The AVX-512 tile's products over `kc` steps for its first `R` rows and `V` vectors of 16
    /// columns (the rest of the tile stays zero). B's step `p` is at `b + p * ldb` (32 for a packed
    /// panel); `last` masks the loads of the last vector (all ones for a full or zero-padded panel:
    /// nothing past a row's `nr` columns is read when B is read where it lies).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn accumulate512<const R: usize, const V: usize, const FULL: bool>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        last: __mmask16,
    ) -> [[__m512; 2]; MR512] {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR512];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let bv = match (V, FULL) {
                (1, true) => [_mm512_loadu_ps(bp), _mm512_setzero_ps()],
                (1, false) => [_mm512_maskz_loadu_ps(last, bp), _mm512_setzero_ps()],
                (_, true) => [_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16))],
                _ => [_mm512_loadu_ps(bp), _mm512_maskz_loadu_ps(last, bp.add(16))],
            };
            for (i, row) in acc.iter_mut().enumerate().take(R) {
                let av = _mm512_set1_ps(*ap.add(i));
                for v in 0..V {
                    row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
                }
            }
            ap = ap.add(MR512);
            bp = bp.add(ldb);
        }
        acc
    }

    /// AVX-512 kernel: 12 rows × 32 columns (24 zmm accumulators). `PADDED`: B is a packed panel,
    /// zero-padded to 32 columns; otherwise B is read where it lies and the loads of a narrower
    /// tile's last vector are masked.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn kernel_avx512<const PADDED: bool>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        mr: usize,
        nr: usize,
        ep: &TileEp,
    ) {
        let masks: [__mmask16; 2] = [
            if nr >= 16 { 0xffff } else { ((1u32 << nr) - 1) as u16 },
            if nr >= 32 {
                0xffff
            } else if nr > 16 {
                ((1u32 << (nr - 16)) - 1) as u16
            } else {
                0
            },
        ];
        // The last vector's load mask: a packed panel is zero-padded to 32 columns.
        let last = if PADDED { 0xffff } else { masks[usize::from(nr > 16)] };
        // Edge tiles multiply only the rows and vectors they store (as the AVX2 kernel does): a
        // panel of at most 16 columns (Winograd's α² GEMMs at batch 1: 16 tiles at 14×14, 4 at
        // 7×7; the last panel of N = 196) or of at most 4 / 8 rows (M = 64: 5 panels and 4 rows).
        let acc = match (mr, nr <= 16, last == 0xffff) {
            (0..=4, true, true) => accumulate512::<4, 1, true>(kc, a, b, ldb, last),
            (0..=4, false, true) => accumulate512::<4, 2, true>(kc, a, b, ldb, last),
            (5..=8, true, true) => accumulate512::<8, 1, true>(kc, a, b, ldb, last),
            (5..=8, false, true) => accumulate512::<8, 2, true>(kc, a, b, ldb, last),
            (_, true, true) => accumulate512::<MR512, 1, true>(kc, a, b, ldb, last),
            (_, false, true) => accumulate512::<MR512, 2, true>(kc, a, b, ldb, last),
            (0..=4, true, false) => accumulate512::<4, 1, false>(kc, a, b, ldb, last),
            (0..=4, false, false) => accumulate512::<4, 2, false>(kc, a, b, ldb, last),
            (5..=8, true, false) => accumulate512::<8, 1, false>(kc, a, b, ldb, last),
            (5..=8, false, false) => accumulate512::<8, 2, false>(kc, a, b, ldb, last),
            (_, true, false) => accumulate512::<MR512, 1, false>(kc, a, b, ldb, last),
            (_, false, false) => accumulate512::<MR512, 2, false>(kc, a, b, ldb, last),
        };
        const MR: usize = MR512;
        let alpha = _mm512_set1_ps(ep.alpha);
        let beta = _mm512_set1_ps(ep.beta);
        let (lo, hi) = (_mm512_set1_ps(ep.lo), _mm512_set1_ps(ep.hi));
        let mut cb = [_mm512_setzero_ps(); 2];
        if !ep.col_bias.is_null() {
            for (v, cbv) in cb.iter_mut().enumerate() {
                *cbv = _mm512_maskz_loadu_ps(masks[v], ep.col_bias.add(16 * v));
            }
        }
        // Spill through a small buffer so the accumulators are never indexed dynamically.
        let mut tile = [[_mm512_setzero_ps(); 2]; MR];
        tile.copy_from_slice(&acc);
        for (i, row) in tile.iter().enumerate().take(mr) {
            let rb = if ep.row_bias.is_null() { 0.0 } else { *ep.row_bias.add(i) };
            let rbv = _mm512_set1_ps(rb);
            let crow = c.add(i * rsc);
            for v in 0..2 {
                if masks[v] == 0 {
                    continue;
                }
                // Full vectors by plain loads and stores (masked ones cost more on Zen 5).
                let full = masks[v] == 0xffff;
                let load = |p: *const f32| if full { _mm512_loadu_ps(p) } else { _mm512_maskz_loadu_ps(masks[v], p) };
                let mut x = _mm512_fmadd_ps(row[v], alpha, rbv);
                x = _mm512_add_ps(x, cb[v]);
                if ep.load_c {
                    x = _mm512_fmadd_ps(load(crow.add(16 * v)), beta, x);
                }
                if !ep.res.is_null() {
                    x = _mm512_add_ps(x, load(ep.res.add(i * rsc + 16 * v)));
                }
                if ep.clamp {
                    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
                }
                if full {
                    _mm512_storeu_ps(crow.add(16 * v), x);
                } else {
                    _mm512_mask_storeu_ps(crow.add(16 * v), masks[v], x);
                }
            }
        }
    }

    const MR: usize = 6;
    const NR: usize = 16;

    /// The AVX2 tile's products over `kc` steps for its first `R` rows and `V` vectors of 8 columns
    /// (the rest of the tile stays zero); panels are full width (`MR` / `NR` values a step).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn accumulate<const R: usize, const V: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
    ) -> [[__m256; 2]; MR] {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let bv = [_mm256_loadu_ps(bp), if V == 2 { _mm256_loadu_ps(bp.add(8)) } else { _mm256_setzero_ps() }];
            for (i, row) in acc.iter_mut().enumerate().take(R) {
                let av = _mm256_set1_ps(*ap.add(i));
                for v in 0..V {
                    row[v] = _mm256_fmadd_ps(av, bv[v], row[v]);
                }
            }
            ap = ap.add(MR);
            bp = bp.add(ldb);
        }
        acc
    }

    /// AVX2+FMA kernel: 6 rows × 16 columns (12 ymm accumulators).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn kernel_avx2(
        kc: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        mr: usize,
        nr: usize,
        ep: &TileEp,
    ) {
        // Edge tiles multiply only the rows and vectors they store: a panel of 1..=2 (or 3..=4)
        // rows, or of at most 8 columns (N = 49 at ResNet's 7×7 stage: 3 panels and 1 column;
        // M = 32 tokens: 5 panels and 2 rows), costs that share of the full tile's FMAs.
        let acc = match (mr, nr <= 8) {
            (0..=2, true) => accumulate::<2, 1>(kc, a, b, ldb),
            (0..=2, false) => accumulate::<2, 2>(kc, a, b, ldb),
            (3..=4, true) => accumulate::<4, 1>(kc, a, b, ldb),
            (3..=4, false) => accumulate::<4, 2>(kc, a, b, ldb),
            (_, true) => accumulate::<MR, 1>(kc, a, b, ldb),
            (_, false) => accumulate::<MR, 2>(kc, a, b, ldb),
        };
        if mr == MR && nr == NR {
            let alpha = _mm256_set1_ps(ep.alpha);
            let beta = _mm256_set1_ps(ep.beta);
            let (lo, hi) = (_mm256_set1_ps(ep.lo), _mm256_set1_ps(ep.hi));
            let mut cb = [_mm256_setzero_ps(); 2];
            if !ep.col_bias.is_null() {
                cb = [_mm256_loadu_ps(ep.col_bias), _mm256_loadu_ps(ep.col_bias.add(8))];
            }
            let mut tile = [[_mm256_setzero_ps(); 2]; MR];
            tile.copy_from_slice(&acc);
            for (i, row) in tile.iter().enumerate() {
                let rb = if ep.row_bias.is_null() { 0.0 } else { *ep.row_bias.add(i) };
                let rbv = _mm256_set1_ps(rb);
                let crow = c.add(i * rsc);
                for v in 0..2 {
                    let mut x = _mm256_fmadd_ps(row[v], alpha, rbv);
                    x = _mm256_add_ps(x, cb[v]);
                    if ep.load_c {
                        x = _mm256_fmadd_ps(_mm256_loadu_ps(crow.add(8 * v)), beta, x);
                    }
                    if !ep.res.is_null() {
                        x = _mm256_add_ps(x, _mm256_loadu_ps(ep.res.add(i * rsc + 8 * v)));
                    }
                    if ep.clamp {
                        x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
                    }
                    _mm256_storeu_ps(crow.add(8 * v), x);
                }
            }
        } else {
            let mut flat = [0f32; MR * NR];
            for (i, row) in acc.iter().enumerate() {
                _mm256_storeu_ps(flat.as_mut_ptr().add(i * NR), row[0]);
                _mm256_storeu_ps(flat.as_mut_ptr().add(i * NR + 8), row[1]);
            }
            super::store_tile(&flat, NR, c, rsc, mr, nr, ep);
        }
    }
}

static SCALAR: Kernel = Kernel { name: "scalar-4x8", mr: 4, nr: 8, f: kernel_scalar, direct: None };
#[cfg(target_arch = "x86_64")]
static AVX2: Kernel = Kernel { name: "avx2-6x16", mr: 6, nr: 16, f: x86::kernel_avx2, direct: None };
#[cfg(target_arch = "x86_64")]
static AVX512: Kernel = Kernel {
    name: "avx512-12x32",
    mr: 12,
    nr: 32,
    f: x86::kernel_avx512::<true>,
    direct: Some(x86::kernel_avx512::<false>),
};

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
