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
                Level::Avx2 | Level::Avx512 => matmul_avx2(args),
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
