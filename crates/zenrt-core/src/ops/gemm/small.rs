//! Small-M f32 GEMM: products with at most [`MAX_M`] rows (a recurrent step `h·Rᵀ`, a dense
//! layer at batch 1..8). The blocked path of [`super::sgemm`] is built for large tiles: it packs
//! A into `mr`-row panels (6 rows for AVX2, so M = 1 wastes 5/6 of every FMA) and walks B in
//! `nr`-wide panels with a 6×16 tile. Here A is packed once (k × m, a few hundred floats), B is
//! read as k-major panels (pre-packed [`PackedMat`], or packed on the fly), and each register
//! tile is `R ≤ 8` rows (all of M, so B streams once) × `V` vectors of 8 columns with `R·V`
//! between 7 and 12 independent accumulators, so even M = 1 keeps both FMA ports busy (8 chains
//! of 4-cycle FMAs). K blocks are the outer loop: a block of A (at most 8 KiB) stays in L1 while
//! every tile of the column range reads it, and each block of B is read from memory once
//! (keras_cnn's 8×7200 · 7200×64 dense layer streams its 1.8 MB of weights once). The epilogue
//! (alpha, beta·C, bias, Relu/Clip, other activations) is the big path's [`TileEp`].
//!
//! One generic kernel over [`Lanes`] (8 f32 lanes): `__m256` under AVX2+FMA (runtime
//! detection), `[f32; 8]` as the portable fallback.

use super::kernels::{BlockEp, Kernel, TileEp};
use super::pack::PackedMat;
use super::{OutPtr, PackSrc};
use std::cell::RefCell;

/// Largest M this path takes.
pub const MAX_M: usize = 8;
/// Panel width of a B packed here (a multiple of 8).
const OWN_R: usize = 16;
/// Multiply-adds below which the product stays on one thread (measured on a 2-core AVX2 box:
/// a fork/join on the pool costs several µs, about 100k FMAs of this kernel).
const PAR_WORK: usize = 1 << 20;

thread_local! {
    static BUFS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Whether [`sgemm_small`] takes this product (A must be unpacked; a pre-packed B must have
/// panels a multiple of 8 wide). With a 32-wide (AVX-512) blocked kernel only up to
/// [`MAX_M_WIDE`] rows: its 8- and 4-row edge tiles beat this path's 8-lane tiles from 3 rows on
/// (keras_cnn's 7200×64 dense layer, docs/kernels.md "Session 10 (lead)").
pub(super) fn applies(m: usize, a_packed: bool, b_panel: Option<usize>, kern: &Kernel) -> bool {
    let most = if kern.nr >= 32 { MAX_M_WIDE } else { MAX_M };
    (1..=most.min(max_m())).contains(&m) && !a_packed && b_panel.is_none_or(|r| r % 8 == 0)
}

/// Largest M this path takes beside a 32-wide blocked kernel.
pub const MAX_M_WIDE: usize = 2;

/// `ZENRT_GEMM_SMALL_MAX_M` (caps the rows this path takes; for comparisons), else no cap.
fn max_m() -> usize {
    static V: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_GEMM_SMALL_MAX_M");
    V.or(MAX_M)
}

/// B as k-major panels `r` columns wide, in K blocks: [`Panels::block`] gives, for the block
/// starting at `p0`, its depth, its data from panel 0 and the distance between panels.
#[derive(Clone, Copy)]
enum Panels<'a> {
    Packed(&'a PackedMat),
    /// Panels over all of K (`k * OWN_R` values each), walked in blocks of [`OWN_KC`].
    Own {
        data: &'a [f32],
        k: usize,
    },
}

/// K block of B packed here: a block of A (`OWN_KC × m`, at most 8 KiB) stays in L1 while the
/// tiles of every column range read it.
const OWN_KC: usize = 256;

impl Panels<'_> {
    fn r(&self) -> usize {
        match self {
            Panels::Packed(p) => p.r,
            Panels::Own { .. } => OWN_R,
        }
    }
    fn block_len(&self) -> usize {
        match self {
            Panels::Packed(p) => p.kc(),
            Panels::Own { .. } => OWN_KC,
        }
        .max(1)
    }
    /// The block starting at `p0`: `(kc, data from panel 0, panel stride)`.
    fn block(&self, p0: usize, k: usize) -> (usize, &[f32], usize) {
        let kc = self.block_len().min(k - p0);
        match self {
            Panels::Packed(p) => (kc, p.block_from(p0, kc, 0), kc * p.r),
            Panels::Own { data, k } => (kc, &data[p0 * OWN_R..], k * OWN_R),
        }
    }
}

/// Everything one tile needs besides its position.
struct Job<'a> {
    m: usize,
    k: usize,
    /// A packed k-major: `a[p * m + i]`.
    a: &'a [f32],
    b: Panels<'a>,
    c: OutPtr,
    rsc: usize,
    ep: BlockEp<'a>,
    simd: bool,
}

/// `C = post(clamp(alpha·A·B + beta·C + bias))` for `m ≤ MAX_M`, A an unpacked source (`m` rows),
/// B pre-packed (`b_packed`) or a source; C checked by the caller (`m` rows `rsc` apart, `n`
/// contiguous columns, `k > 0`).
pub(super) fn sgemm_small(
    kern: &Kernel,
    a: &dyn PackSrc,
    b_packed: Option<&PackedMat>,
    b_src: Option<&dyn PackSrc>,
    c: &mut [f32],
    rsc: usize,
    ep: BlockEp,
) {
    let (m, k) = (a.other(), a.k());
    let (mut abuf, mut bbuf) = BUFS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    grow(&mut abuf, k * m);
    a.pack(0, k, 0, m, m, &mut abuf[..k * m]);
    let (panels, n) = match (b_packed, b_src) {
        (Some(p), _) => (Panels::Packed(p), p.other),
        (None, Some(s)) => {
            let n = s.other();
            let npan = n.div_ceil(OWN_R);
            grow(&mut bbuf, npan * k * OWN_R);
            for q in 0..npan {
                let t0 = q * OWN_R;
                s.pack(0, k, t0, OWN_R.min(n - t0), OWN_R, &mut bbuf[q * k * OWN_R..(q + 1) * k * OWN_R]);
            }
            (Panels::Own { data: &bbuf, k }, n)
        }
        (None, None) => (Panels::Own { data: &[], k }, 0),
    };
    let job = Job { m, k, a: &abuf, b: panels, c: OutPtr(c.as_mut_ptr()), rsc, ep, simd: simd_ok(kern) };
    // Columns split in multiples of 16 when the product is big enough (a dense layer of 64
    // outputs still splits: each thread streams its share of the weights), into up to two tasks
    // per thread: a worker that wakes late (the caller never waits for it) then takes a quarter
    // of the columns, not a half, while the caller goes on with the rest.
    let threads = crate::threads::current();
    let parts = if threads > 1 && m * n * k >= PAR_WORK { (2 * threads).min(n.div_ceil(16)) } else { 1 };
    let chunk = n.div_ceil(parts.max(1)).div_ceil(16) * 16;
    crate::threads::for_each_task(parts, |t| {
        let (j0, j1) = ((t * chunk).min(n), ((t + 1) * chunk).min(n));
        if j0 < j1 {
            job.columns(j0, j1);
        }
    });
    BUFS.with(|b| *b.borrow_mut() = (abuf, bbuf));
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Whether the AVX2 kernel can run (the CPU has AVX2+FMA and the chosen big kernel is not the
/// portable one, which `ZENRT_GEMM_KERNEL=scalar` forces for testing).
fn simd_ok(kern: &Kernel) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !kern.name.starts_with("scalar") && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kern;
        false
    }
}

/// Rows of A per tile when `left` rows remain: all of them up to 8 (so B streams once for
/// M ≤ 8), else 4. Two 4-row tiles of 3 vectors (fewer loads per FMA) measured 1.4–1.7× slower
/// than one 8×1 tile on the 2-core AVX2 box (docs/kernels.md, session 6).
fn tile_rows(left: usize) -> usize {
    if left <= 8 {
        left
    } else {
        4
    }
}

/// Vectors of 8 columns per tile for `r` rows (7 to 12 accumulators).
fn max_vectors(r: usize) -> usize {
    match r {
        1 => 8,
        2 | 3 => 4,
        4 => 3,
        5 | 6 => 2,
        _ => 1,
    }
}

impl Job<'_> {
    /// Computes output columns `j0..j1` (`j0` a multiple of 8) of every row, then the
    /// activation over the range. K blocks are the outer loop, so a block of A stays in L1 for
    /// all the range's tiles and B's block is read from memory once (the tiles accumulate in C
    /// between blocks: the first block applies beta, the last the biases and the clamp).
    fn columns(&self, j0: usize, j1: usize) {
        let mut p0 = 0;
        while p0 < self.k {
            let block = self.b.block(p0, self.k);
            let mut i0 = 0;
            while i0 < self.m {
                let rows = tile_rows(self.m - i0);
                let mut j = j0;
                while j < j1 {
                    let w = (j1 - j).min(8 * max_vectors(rows));
                    self.tile(p0, block, (i0, rows, j, w));
                    j += w;
                }
                i0 += rows;
            }
            p0 += block.0;
        }
        if let Some(f) = self.ep.post.simd_f32() {
            for i in 0..self.m {
                // SAFETY: row `i` columns `j0..j1` belong to this task (see `sgemm_small`).
                let row = unsafe { std::slice::from_raw_parts_mut(self.c.0.add(i * self.rsc + j0), j1 - j0) };
                crate::simd::map_inplace(f, row);
            }
        }
    }

    /// One register tile `(i0, rows, j, w)` over the K block starting at `p0` (`block`, as
    /// [`Panels::block`] gives it).
    fn tile(&self, p0: usize, block: (usize, &[f32], usize), (i0, rows, j, w): (usize, usize, usize, usize)) {
        let r = self.b.r();
        let (kc, blk, pstride) = block;
        let nv = w.div_ceil(8);
        // Vector `v` of the tile: columns `j + 8v ..`, inside panel `(j + 8v) / r`.
        let mut bptr = [std::ptr::null::<f32>(); 8];
        for (v, bp) in bptr.iter_mut().enumerate().take(nv) {
            let col = j + 8 * v;
            *bp = blk[(col / r) * pstride + col % r..].as_ptr();
        }
        let ep = self.ep.tile(i0, j, p0 == 0, p0 + kc == self.k);
        let t = Tile {
            kc,
            a: self.a[p0 * self.m + i0..].as_ptr(),
            lda: self.m,
            b: bptr,
            ldb: r,
            // SAFETY (of the pointer arithmetic): row `i0 < m`, column `j < n`, inside the C
            // checked by `sgemm`.
            c: unsafe { self.c.0.add(i0 * self.rsc + j) },
            rsc: self.rsc,
            w,
        };
        // SAFETY: A holds `kc` steps of `m` values from `p0 * m` (packed above); every B vector
        // pointer has `kc` steps of 8 values `r` apart inside its panel (panels are padded to
        // `r`, a multiple of 8); C has `rows` rows of `w` columns from `(i0, j)` owned by this
        // task; bias pointers have `rows` / `w` values (lengths checked by `sgemm`).
        unsafe { run_tile(self.simd, rows, nv, &t, &ep) };
    }
}

/// One register tile: `R` rows of A (k-major, `lda` apart per step) times `V` vectors of B.
struct Tile {
    kc: usize,
    a: *const f32,
    lda: usize,
    b: [*const f32; 8],
    ldb: usize,
    c: *mut f32,
    rsc: usize,
    /// Valid columns (`8 * (V - 1) < w <= 8 * V`).
    w: usize,
}

/// Eight f32 lanes.
trait Lanes: Copy {
    unsafe fn zero() -> Self;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    /// The first `n <= 8` lanes from `p`, the others zero.
    unsafe fn load_n(p: *const f32, n: usize) -> Self;
    unsafe fn store_n(self, p: *mut f32, n: usize);
    /// `a * b + c`.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self;
}

/// The portable lanes.
#[derive(Clone, Copy)]
struct F8([f32; 8]);

impl Lanes for F8 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        F8([0.0; 8])
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        F8([x; 8])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        F8(std::ptr::read_unaligned(p as *const [f32; 8]))
    }
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> Self {
        let mut v = [0.0; 8];
        std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n);
        F8(v)
    }
    #[inline(always)]
    unsafe fn store_n(self, p: *mut f32, n: usize) {
        std::ptr::copy_nonoverlapping(self.0.as_ptr(), p, n);
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        F8(std::array::from_fn(|l| a.0[l] * b.0[l] + c.0[l]))
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        F8(std::array::from_fn(|l| self.0[l] + o.0[l]))
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
        F8(std::array::from_fn(|l| self.0[l].max(lo.0[l]).min(hi.0[l])))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{tile, Lanes, Tile, TileEp};
    use std::arch::x86_64::*;

    /// AVX lanes (the kernel is only entered through an `avx2,fma` function).
    #[derive(Clone, Copy)]
    pub struct Y(__m256);

    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    impl Lanes for Y {
        #[inline(always)]
        unsafe fn zero() -> Self {
            Y(_mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Y(_mm256_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Y(_mm256_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn load_n(p: *const f32, n: usize) -> Self {
            if n >= 8 {
                Self::load(p)
            } else {
                Y(_mm256_maskload_ps(p, mask(n)))
            }
        }
        #[inline(always)]
        unsafe fn store_n(self, p: *mut f32, n: usize) {
            if n >= 8 {
                _mm256_storeu_ps(p, self.0)
            } else {
                _mm256_maskstore_ps(p, mask(n), self.0)
            }
        }
        #[inline(always)]
        unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
            Y(_mm256_fmadd_ps(a.0, b.0, c.0))
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            Y(_mm256_add_ps(self.0, o.0))
        }
        #[inline(always)]
        unsafe fn clamp(self, lo: Self, hi: Self) -> Self {
            Y(_mm256_min_ps(_mm256_max_ps(self.0, lo.0), hi.0))
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2<const R: usize, const V: usize>(t: &Tile, ep: &TileEp) {
        tile::<Y, R, V>(t, ep)
    }
}

/// The tile kernel: accumulate `R × V` vectors over `kc` steps, then the epilogue.
#[inline(always)]
unsafe fn tile<L: Lanes, const R: usize, const V: usize>(t: &Tile, ep: &TileEp) {
    let mut acc = [[L::zero(); V]; R];
    let (mut ap, mut bo) = (t.a, 0);
    for _ in 0..t.kc {
        let bv: [L; V] = std::array::from_fn(|v| L::load(t.b[v].add(bo)));
        for (i, row) in acc.iter_mut().enumerate() {
            let av = L::splat(*ap.add(i));
            for v in 0..V {
                row[v] = L::fma(av, bv[v], row[v]);
            }
        }
        ap = ap.add(t.lda);
        bo += t.ldb;
    }
    let (alpha, beta) = (L::splat(ep.alpha), L::splat(ep.beta));
    let (lo, hi) = (L::splat(ep.lo), L::splat(ep.hi));
    for (i, row) in acc.iter().enumerate() {
        let crow = t.c.add(i * t.rsc);
        let rb = L::splat(if ep.row_bias.is_null() { 0.0 } else { *ep.row_bias.add(i) });
        for (v, &x) in row.iter().enumerate() {
            let n = (t.w - 8 * v).min(8);
            let mut y = L::fma(x, alpha, rb);
            if !ep.col_bias.is_null() {
                y = y.add(L::load_n(ep.col_bias.add(8 * v), n));
            }
            if ep.load_c {
                y = L::fma(L::load_n(crow.add(8 * v), n), beta, y);
            }
            if ep.clamp {
                y = y.clamp(lo, hi);
            }
            y.store_n(crow.add(8 * v), n);
        }
    }
}

/// Runs the `rows × nv` tile kernel (AVX2 or portable).
///
/// # Safety
/// As for [`tile`]: see the caller in [`Job::columns`].
unsafe fn run_tile(simd: bool, rows: usize, nv: usize, t: &Tile, ep: &TileEp) {
    macro_rules! pick {
        ($f:ident $(, $feat:ident)?) => {
            match (rows, nv) {
                (1, 1) => $f::<$($feat,)? 1, 1>(t, ep),
                (1, 2) => $f::<$($feat,)? 1, 2>(t, ep),
                (1, 3) => $f::<$($feat,)? 1, 3>(t, ep),
                (1, 4) => $f::<$($feat,)? 1, 4>(t, ep),
                (1, 5) => $f::<$($feat,)? 1, 5>(t, ep),
                (1, 6) => $f::<$($feat,)? 1, 6>(t, ep),
                (1, 7) => $f::<$($feat,)? 1, 7>(t, ep),
                (1, _) => $f::<$($feat,)? 1, 8>(t, ep),
                (2, 1) => $f::<$($feat,)? 2, 1>(t, ep),
                (2, 2) => $f::<$($feat,)? 2, 2>(t, ep),
                (2, 3) => $f::<$($feat,)? 2, 3>(t, ep),
                (2, _) => $f::<$($feat,)? 2, 4>(t, ep),
                (3, 1) => $f::<$($feat,)? 3, 1>(t, ep),
                (3, 2) => $f::<$($feat,)? 3, 2>(t, ep),
                (3, 3) => $f::<$($feat,)? 3, 3>(t, ep),
                (3, _) => $f::<$($feat,)? 3, 4>(t, ep),
                (4, 1) => $f::<$($feat,)? 4, 1>(t, ep),
                (4, 2) => $f::<$($feat,)? 4, 2>(t, ep),
                (4, _) => $f::<$($feat,)? 4, 3>(t, ep),
                (5, 1) => $f::<$($feat,)? 5, 1>(t, ep),
                (5, _) => $f::<$($feat,)? 5, 2>(t, ep),
                (6, 1) => $f::<$($feat,)? 6, 1>(t, ep),
                (6, _) => $f::<$($feat,)? 6, 2>(t, ep),
                (7, _) => $f::<$($feat,)? 7, 1>(t, ep),
                (_, _) => $f::<$($feat,)? 8, 1>(t, ep),
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    if simd {
        use x86::tile_avx2;
        return pick!(tile_avx2);
    }
    let _ = simd;
    pick!(tile, F8)
}

#[cfg(test)]
mod tests {
    use super::super::{kernels, sgemm, Bias, Epilogue, Operand, PackedMat, Strided};
    use crate::ops::fused::Activation;
    use crate::ops::nn::conv::tests::Lcg;

    /// Small-M products (M = 1..=8, odd K and N, K over several K blocks) against a float64
    /// reference, with B packed and unpacked, beta, both bias kinds and activations, on every
    /// kernel this CPU has (the portable lanes run under the scalar kernel), on 1 thread and on a
    /// 2-thread pool (large products split their columns).
    #[test]
    fn small_m_matches_f64() {
        let mut rng = Lcg(77);
        let pool = crate::threads::pool(2);
        for kern in kernels::available() {
            for case in 0..160 {
                let m = 1 + rng.below(8);
                let k = [1, 3, 17, 64, 300, 7, 1000, 2100][rng.below(8)];
                let n = [1, 5, 8, 10, 33, 64, 100, 256][rng.below(8)];
                let a: Vec<f32> = (0..m * k).map(|_| rng.float() as f32).collect();
                let b: Vec<f32> = (0..k * n).map(|_| rng.float() as f32).collect();
                let rsc = n + rng.below(3);
                let c0: Vec<f32> = (0..m * rsc).map(|_| rng.float() as f32).collect();
                let bias: Vec<f32> = (0..m.max(n)).map(|_| rng.float() as f32).collect();
                let (alpha, beta) = ([1.0, 0.5][rng.below(2)], [0.0, 1.0, -0.5][rng.below(3)]);
                let (bkind, act) =
                    (rng.below(3), [Activation::None, Activation::Relu, Activation::Sigmoid][rng.below(3)]);
                let trans_b = rng.below(2) == 1;
                let bt: Vec<f32> =
                    if trans_b { (0..n * k).map(|i| b[(i % k) * n + i / k]).collect() } else { b.clone() };
                let sb = if trans_b { Strided::new(&bt, k, n, 1, k) } else { Strided::new(&bt, k, n, n, 1) }.unwrap();
                let sa = Strided::new(&a, k, m, 1, k).unwrap();
                let packed = PackedMat::new(&sb, kern, false).unwrap();
                for use_packed in [false, true] {
                    let mut c = c0.clone();
                    let ep = Epilogue {
                        bias: match bkind {
                            0 => Bias::None,
                            1 => Bias::PerRow(&bias),
                            _ => Bias::PerCol(&bias),
                        },
                        act,
                        residual: None,
                    };
                    let bop = if use_packed { Operand::Packed(&packed) } else { Operand::Src(&sb) };
                    let threads = if case % 2 == 1 { pool.as_deref() } else { None };
                    crate::threads::run_in(threads, || {
                        sgemm(kern, alpha, Operand::Src(&sa), bop, beta, &mut c, rsc, 1, &ep).unwrap()
                    });
                    for i in 0..m {
                        for j in 0..rsc {
                            let got = c[i * rsc + j] as f64;
                            let want = if j >= n {
                                c0[i * rsc + j] as f64
                            } else {
                                let dot: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
                                let bb = match bkind {
                                    0 => 0.0,
                                    1 => bias[i] as f64,
                                    _ => bias[j] as f64,
                                };
                                act.eval(alpha as f64 * dot + beta as f64 * c0[i * rsc + j] as f64 + bb)
                            };
                            assert!(
                                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                "{} case {case} m{m} k{k} n{n} packed={use_packed} ({i},{j}): {got} vs {want}",
                                kern.name
                            );
                        }
                    }
                }
            }
        }
    }
}
