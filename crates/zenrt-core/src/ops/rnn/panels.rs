//! The small GEMM of the recurrent ops: `out[m, n] = init + A[m, k] · B[k, n]` with B packed
//! once (at plan time for constant weights) in column panels of [`NR`] and A read in place.
//!
//! Both products of an LSTM/GRU use it: the per-step recurrence `H · Rᵀ` (m = batch rows, often
//! ≤ 8, k = hidden) and the input projection of all steps `X · Wᵀ + bias` (m = seq × batch).
//! The register tile is 4 rows × 16 columns (8 accumulators, 2 B loads and 4 broadcasts per k);
//! the panel loop is outermost, so one panel (`k × 16` floats, 4 KiB at k = 64) stays in L1
//! while every row group passes over it, and A is never packed.

use crate::simd::vector::{F32x, Scalar};
use crate::simd::Level;
use crate::{ensure, Result};

/// Columns of a packed panel.
pub const NR: usize = 16;
/// Rows of a register tile.
const MR: usize = 4;

/// A `k × n` right operand in column panels: `data[(p * k + kk) * NR + c] = B[kk, p * NR + c]`,
/// zero beyond column `n`.
#[derive(Debug, Clone)]
pub struct PanelMat {
    pub k: usize,
    pub n: usize,
    data: Vec<f32>,
}

impl PanelMat {
    /// Packs `Bᵀ` given row-major as `w` (`[n, k]`: the layout of ONNX's W and R per direction).
    pub fn from_transposed(w: &[f32], n: usize, k: usize) -> Result<PanelMat> {
        ensure!(w.len() == n * k, "RNN: weight block has {} values, expected {n}×{k}", w.len());
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for (j, row) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let (p, c) = (j / NR, j % NR);
            for (kk, &v) in row.iter().enumerate() {
                data[(p * k + kk) * NR + c] = v;
            }
        }
        Ok(PanelMat { k, n, data })
    }

    /// `out[i * ldo + j] = init[j] + Σ_kk a[i * lda + kk] · B[kk, j]` for `i < m`, `j < n`
    /// (`init` of length `n`, zeros when `None`), on the calling thread.
    pub fn matmul(
        &self,
        a: &[f32],
        lda: usize,
        m: usize,
        init: Option<&[f32]>,
        out: &mut [f32],
        ldo: usize,
    ) -> Result<()> {
        let (k, n) = (self.k, self.n);
        if m == 0 || n == 0 {
            return Ok(());
        }
        ensure!(lda >= k && ldo >= n, "RNN GEMM: strides {lda}/{ldo} below k={k}/n={n}");
        ensure!(a.len() >= (m - 1) * lda + k, "RNN GEMM: A has {} values, needs {m} rows of {lda}", a.len());
        ensure!(out.len() >= (m - 1) * ldo + n, "RNN GEMM: out has {} values, needs {m} rows of {ldo}", out.len());
        if let Some(b) = init {
            ensure!(b.len() == n, "RNN GEMM: init has {} values, expected {n}", b.len());
        }
        // SAFETY: the checks above bound every row of A and out the kernel touches; the panel
        // data holds `panels * k * NR` values by construction.
        unsafe {
            let args = (self, a.as_ptr(), lda, m, init, out.as_mut_ptr(), ldo);
            match crate::simd::level() {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => matmul_avx512(args),
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => matmul_avx2(args),
                _ => matmul_body::<Scalar>(args),
            }
        }
        Ok(())
    }

    /// [`PanelMat::matmul`] with contiguous rows (`lda = k`, `ldo = n`), its rows split over the
    /// current pool when the product is large enough to pay for a split.
    pub fn matmul_par(&self, a: &[f32], m: usize, init: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
        let (k, n) = (self.k, self.n);
        let threads = crate::threads::current();
        let chunks = threads.min(m.div_ceil(MR)).min((m * k * n) / PAR_WORK).max(1);
        if chunks <= 1 || n == 0 {
            return self.matmul(a, k, m, init, out, n);
        }
        let rows = m.div_ceil(chunks).next_multiple_of(MR);
        ensure!(a.len() >= m * k && out.len() >= m * n, "RNN GEMM: operands shorter than {m} rows");
        crate::threads::try_for_each_chunk(&mut out[..m * n], rows * n, |i, o| {
            let r0 = i * rows;
            self.matmul(&a[r0 * k..], k, o.len() / n, init, o, n)
        })
    }
}

/// Multiply-adds below which [`PanelMat::matmul_par`] stays on one thread.
const PAR_WORK: usize = if cfg!(test) { 1 } else { 1 << 18 };

type Args<'a> = (&'a PanelMat, *const f32, usize, usize, Option<&'a [f32]>, *mut f32, usize);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matmul_avx2(args: Args) {
    matmul_body::<crate::simd::vector::Avx2>(args)
}

/// The AVX-512 body: one panel is one 16-lane vector, so a register tile spans several panels
/// (`R` rows × `P` panels, 8 to 16 accumulators: 8 × 2 for the 8-row step of lstm b8 at one
/// thread, 4 × 4 for a 4-row slice); groups of `P` panels are the outer loop (`P · k · 16`
/// floats, 16 KiB at k = 64, stay in L1 while the row groups pass), then row groups of up to 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn matmul_avx512((b, a, lda, m, init, out, ldo): Args) {
    use crate::simd::vector::Avx512;
    let (k, n) = (b.k, b.n);
    let full = n / NR;
    // Panels per tile for a group of `rows` rows.
    let pw = |rows: usize| if rows > 4 { 2 } else { 4 };
    let mut i = 0;
    while i < m {
        let rows = MR512.min(m - i);
        let (ai, oi) = (a.add(i * lda), out.add(i * ldo));
        let mut p = 0;
        while p < full {
            let np = pw(rows).min(full - p);
            let (bp, c0) = (b.data.as_ptr().add(p * k * NR), p * NR);
            let st = |q: usize| init.map_or(std::ptr::null(), |s| s.as_ptr().add(c0 + q * NR));
            let sp: [*const f32; 4] = std::array::from_fn(st);
            macro_rules! go {
                ($r:literal) => {
                    match np {
                        4 => tile512::<$r, 4>(ai, lda, bp, k, &sp, oi.add(c0), ldo),
                        3 => tile512::<$r, 3>(ai, lda, bp, k, &sp, oi.add(c0), ldo),
                        2 => tile512::<$r, 2>(ai, lda, bp, k, &sp, oi.add(c0), ldo),
                        _ => tile512::<$r, 1>(ai, lda, bp, k, &sp, oi.add(c0), ldo),
                    }
                };
            }
            match rows {
                8 => go!(8),
                7 => go!(7),
                6 => go!(6),
                5 => go!(5),
                4 => go!(4),
                3 => go!(3),
                2 => go!(2),
                _ => go!(1),
            }
            p += np;
        }
        i += rows;
    }
    if full * NR < n {
        narrow_last::<Avx512>(b, a, lda, m, init, out, ldo, full);
    }
}

/// Rows of an AVX-512 register tile.
#[cfg(target_arch = "x86_64")]
const MR512: usize = 8;

/// The narrow last panel `p` (fewer than [`NR`] valid columns) of every row: each row's 16
/// lanes computed into a buffer and the valid columns copied.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn narrow_last<V: F32x>(
    b: &PanelMat,
    a: *const f32,
    lda: usize,
    m: usize,
    init: Option<&[f32]>,
    out: *mut f32,
    ldo: usize,
    p: usize,
) {
    let (k, n) = (b.k, b.n);
    let (c0, cols) = (p * NR, n - p * NR);
    let mut start = [0f32; NR];
    if let Some(init) = init {
        start[..cols].copy_from_slice(&init[c0..c0 + cols]);
    }
    let bp = b.data.as_ptr().add(p * k * NR);
    let mut buf = [0f32; NR];
    for i in 0..m {
        let ai = a.add(i * lda);
        let mut c = 0;
        while c < NR {
            let mut acc = V::load(start.as_ptr().add(c));
            for kk in 0..k {
                acc = V::splat(*ai.add(kk)).fma(V::load(bp.add(kk * NR + c)), acc);
            }
            acc.store(buf.as_mut_ptr().add(c));
            c += V::N;
        }
        std::ptr::copy_nonoverlapping(buf.as_ptr(), out.add(i * ldo + c0), cols);
    }
}

/// `R` rows × `P` full panels (one 16-lane vector each) of AVX-512: accumulators start from
/// `start[q]` (zeros when null); one k step is `P` panel loads and `R` broadcasts of A.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile512<const R: usize, const P: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    k: usize,
    start: &[*const f32; 4],
    out: *mut f32,
    ldo: usize,
) {
    use std::arch::x86_64::*;
    let s: [__m512; P] =
        std::array::from_fn(|q| if start[q].is_null() { _mm512_setzero_ps() } else { _mm512_loadu_ps(start[q]) });
    let mut acc = [s; R];
    let pstride = k * NR;
    for kk in 0..k {
        let bk = b.add(kk * NR);
        let bv: [__m512; P] = std::array::from_fn(|q| _mm512_loadu_ps(bk.add(q * pstride)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*a.add(r * lda + kk));
            for q in 0..P {
                acc[q] = _mm512_fmadd_ps(av, bv[q], acc[q]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (q, v) in acc.iter().enumerate() {
            _mm512_storeu_ps(out.add(r * ldo + q * NR), *v);
        }
    }
}

/// Panels outermost, then row groups of [`MR`], each a register tile per `2 V::N` columns.
#[inline(always)]
unsafe fn matmul_body<V: F32x>((b, a, lda, m, init, out, ldo): Args) {
    let (k, n) = (b.k, b.n);
    for p in 0..n.div_ceil(NR) {
        let (c0, cols) = (p * NR, NR.min(n - p * NR));
        let mut start = [0f32; NR];
        if let Some(init) = init {
            start[..cols].copy_from_slice(&init[c0..c0 + cols]);
        }
        let bp = b.data.as_ptr().add(p * k * NR);
        let mut i = 0;
        while i < m {
            let rows = MR.min(m - i);
            let (ai, oi) = (a.add(i * lda), out.add(i * ldo + c0));
            if cols == NR {
                tile_rows::<V>(rows, ai, lda, bp, k, &start, oi, ldo);
            } else {
                // A narrow last panel: compute the full width into a buffer, keep `cols`.
                let mut buf = [0f32; MR * NR];
                tile_rows::<V>(rows, ai, lda, bp, k, &start, buf.as_mut_ptr(), NR);
                for r in 0..rows {
                    std::ptr::copy_nonoverlapping(buf.as_ptr().add(r * NR), oi.add(r * ldo), cols);
                }
            }
            i += rows;
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_rows<V: F32x>(
    rows: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    k: usize,
    start: &[f32; NR],
    out: *mut f32,
    ldo: usize,
) {
    let mut c = 0;
    while c < NR {
        let (bc, sc, oc) = (b.add(c), start.as_ptr().add(c), out.add(c));
        match rows {
            4 => tile::<V, 4>(a, lda, bc, k, sc, oc, ldo),
            3 => tile::<V, 3>(a, lda, bc, k, sc, oc, ldo),
            2 => tile::<V, 2>(a, lda, bc, k, sc, oc, ldo),
            _ => tile::<V, 1>(a, lda, bc, k, sc, oc, ldo),
        }
        c += 2 * V::N;
    }
}

/// `R` rows × `2 V::N` columns: accumulators start from `start`, one k step is two loads of
/// the panel row and `R` broadcasts of A.
#[inline(always)]
unsafe fn tile<V: F32x, const R: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    k: usize,
    start: *const f32,
    out: *mut f32,
    ldo: usize,
) {
    let s = [V::load(start), V::load(start.add(V::N))];
    let mut acc = [s; R];
    for kk in 0..k {
        let bk = b.add(kk * NR);
        let (b0, b1) = (V::load(bk), V::load(bk.add(V::N)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let av = V::splat(*a.add(r * lda + kk));
            acc[0] = av.fma(b0, acc[0]);
            acc[1] = av.fma(b1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        acc[0].store(out.add(r * ldo));
        acc[1].store(out.add(r * ldo + V::N));
    }
}
