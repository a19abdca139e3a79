//! Packing of GEMM operands into the micro-kernels' k-major panels, on the fly or once ahead
//! of time ([`PackedMat`], for constant weights).
//!
//! Both operands are seen the same way: a matrix `X(p, t)` with `p` along K and `t` along the
//! other dimension (M for A, N for B); a panel holds `r` consecutive `t` for a run of `p`:
//! `dst[pp * r + tt] = X(p0 + pp, t0 + tt)`, zero-padded past the last `t`.

use super::kernels::Kernel;
use crate::{ensure, Result};

/// Something that can be packed into panels (a strided matrix, an image seen through im2col, ...).
pub trait PackSrc: Sync {
    /// Extent along K.
    fn k(&self) -> usize;
    /// Extent along the other dimension.
    fn other(&self) -> usize;
    /// Fills `dst[..kc * r]` with the panel of `w <= r` values of `t` from `t0`, for `p0..p0 + kc`
    /// (caller guarantees `p0 + kc <= k()`, `t0 + w <= other()`).
    fn pack(&self, p0: usize, kc: usize, t0: usize, w: usize, r: usize, dst: &mut [f32]);
}

/// `dst.copy_from_slice(src)` for the short runs of packing: panel-wide runs (the kernels' `mr`
/// and `nr`) are copied with a fixed length (a few vector moves) instead of a `memcpy` call per
/// run, which costs as much as the copy itself for 6..32 floats.
#[inline]
pub fn copy_run(dst: &mut [f32], src: &[f32]) {
    #[inline(always)]
    fn fixed<const W: usize>(dst: &mut [f32], src: &[f32]) -> bool {
        match (<&mut [f32; W]>::try_from(&mut *dst), <&[f32; W]>::try_from(src)) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    let done = match dst.len() {
        4 => fixed::<4>(dst, src),
        6 => fixed::<6>(dst, src),
        8 => fixed::<8>(dst, src),
        12 => fixed::<12>(dst, src),
        16 => fixed::<16>(dst, src),
        32 => fixed::<32>(dst, src),
        _ => false,
    };
    if !done {
        dst.copy_from_slice(src);
    }
}

/// A strided matrix view, bounds-checked when built: element `(p, t)` at `p * ks + t * ts`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    data: &'a [f32],
    k: usize,
    other: usize,
    ks: usize,
    ts: usize,
}

impl<'a> Strided<'a> {
    /// Checks that every element of the `k × other` view lies inside `data`.
    pub fn new(data: &'a [f32], k: usize, other: usize, ks: usize, ts: usize) -> Result<Strided<'a>> {
        if k > 0 && other > 0 {
            let last = (k - 1).checked_mul(ks).and_then(|a| (other - 1).checked_mul(ts).and_then(|b| a.checked_add(b)));
            ensure!(last.is_some_and(|l| l < data.len()), "internal: gemm operand view out of bounds");
        }
        Ok(Strided { data, k, other, ks, ts })
    }
}

impl PackSrc for Strided<'_> {
    fn k(&self) -> usize {
        self.k
    }
    fn other(&self) -> usize {
        self.other
    }
    fn pack(&self, p0: usize, kc: usize, t0: usize, w: usize, r: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * r];
        if self.ts == 1 {
            for (pp, row) in dst.chunks_exact_mut(r).enumerate() {
                let s = (p0 + pp) * self.ks + t0;
                copy_run(&mut row[..w], &self.data[s..s + w]);
                if w < r {
                    row[w..].fill(0.0);
                }
            }
        } else {
            if self.ks == 1 && transpose_rows(self.data, t0 * self.ts + p0, self.ts, kc, w, r, dst) {
                return;
            }
            if self.ks == 1 && w == r && gather_rows(self.data, t0 * self.ts + p0, self.ts, kc, r, dst) {
                return;
            }
            if w < r {
                dst.fill(0.0);
            }
            for tt in 0..w {
                let base = (t0 + tt) * self.ts + p0 * self.ks;
                if self.ks == 1 {
                    for (d, &v) in dst[tt..].iter_mut().step_by(r).zip(&self.data[base..base + kc]) {
                        *d = v;
                    }
                } else {
                    for pp in 0..kc {
                        dst[pp * r + tt] = self.data[base + pp * self.ks];
                    }
                }
            }
        }
    }
}

/// A panel of `w <= r` rows of a t-major source (row `tt` is `data[base + tt·ts..][..kc]`), zero
/// past row `w`, for the 12- and 16-wide panels with AVX-512: 16 values of each row per load,
/// transposed in registers, 16 panel rows stored whole (a 12-wide row's last 4 lanes land on the
/// next panel row, stored after; only each group's last store is masked). Packing row-major
/// activations as A this way instead of one strided store per value: keras_cnn's 8 × 7200 dense
/// input took as long to pack as to multiply. Returns false when it does not apply.
fn transpose_rows(data: &[f32], base: usize, ts: usize, kc: usize, w: usize, r: usize, dst: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if (r == 12 || r == 16) && w <= r && kc >= 16 && crate::simd::level() == crate::simd::Level::Avx512 {
        // Bounds of every row read and of the panel written.
        assert!(dst.len() >= kc * r && (w == 0 || base + (w - 1) * ts + kc <= data.len()));
        // SAFETY: AVX-512F is available; the rows and the panel lie in bounds (checked above).
        let done = unsafe { transpose_rows_avx512(data.as_ptr().add(base), ts, kc, w, r, dst.as_mut_ptr()) };
        for pp in done..kc {
            for (tt, d) in dst[pp * r..][..r].iter_mut().enumerate() {
                *d = if tt < w { data[base + tt * ts + pp] } else { 0.0 };
            }
        }
        return true;
    }
    let _ = (data, base, ts, kc, w, r, dst);
    false
}

/// [`transpose_rows`]' groups of 16 panel rows; returns how many panel rows it wrote.
/// Safety: AVX-512F is available; rows `0..w` of `src` (`ts` apart) hold `kc` values; `dst`
/// holds `kc·r` values; `r` is 12 or 16, `w <= r`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_rows_avx512(src: *const f32, ts: usize, kc: usize, w: usize, r: usize, dst: *mut f32) -> usize {
    use std::arch::x86_64::*;
    let mut p = 0;
    while p + 16 <= kc {
        let x: [__m512; 16] =
            std::array::from_fn(|i| if i < w { _mm512_loadu_ps(src.add(i * ts + p)) } else { _mm512_setzero_ps() });
        // Pairs of rows interleaved, then quads: `u[4q + j]` holds, in each 128-bit lane `l`,
        // column `4l + j` of rows `4q..4q + 4`.
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (x[i & !1], x[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (q, j) = (i / 4, i % 4);
            let (a, b) = (_mm512_castps_pd(t[4 * q + j / 2]), _mm512_castps_pd(t[4 * q + 2 + j / 2]));
            _mm512_castpd_ps(if j % 2 == 0 { _mm512_unpacklo_pd(a, b) } else { _mm512_unpackhi_pd(a, b) })
        });
        let mut cols = [_mm512_setzero_ps(); 16];
        for j in 0..4 {
            let v = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
            let v1 = _mm512_shuffle_f32x4::<0xdd>(u[j], u[4 + j]);
            let y = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
            let y1 = _mm512_shuffle_f32x4::<0xdd>(u[8 + j], u[12 + j]);
            // Columns j, 4 + j, 8 + j, 12 + j of the 16.
            cols[j] = _mm512_shuffle_f32x4::<0x88>(v, y);
            cols[4 + j] = _mm512_shuffle_f32x4::<0x88>(v1, y1);
            cols[8 + j] = _mm512_shuffle_f32x4::<0xdd>(v, y);
            cols[12 + j] = _mm512_shuffle_f32x4::<0xdd>(v1, y1);
        }
        // In column order: a 12-wide store's spill lands on the next column, stored after it.
        for (col, c) in cols.into_iter().enumerate() {
            let d = dst.add((p + col) * r);
            if r == 16 || col < 15 {
                _mm512_storeu_ps(d, c);
            } else {
                _mm512_mask_storeu_ps(d, ((1u32 << r) - 1) as __mmask16, c);
            }
        }
        p += 16;
    }
    p
}

/// A full panel (`r` rows) of a t-major source (row `tt` is the contiguous run
/// `data[base + tt·ts..][..kc]`, as constant weights `[M, K]` are for the A operand), written in
/// panel order: for each `p`, the `r` values of the rows. Sequential stores of whole `r`-wide
/// groups instead of `r` strided passes over the panel (the strided stores were most of session
/// creation's packing time). Returns false for panel widths other than the kernels' (the caller's
/// general loop packs those, and the ragged last panel).
fn gather_rows(data: &[f32], base: usize, ts: usize, kc: usize, r: usize, dst: &mut [f32]) -> bool {
    fn go<const R: usize>(data: &[f32], base: usize, ts: usize, kc: usize, dst: &mut [f32]) {
        let rows: [&[f32]; R] = std::array::from_fn(|tt| &data[base + tt * ts..][..kc]);
        for (pp, out) in dst[..kc * R].chunks_exact_mut(R).enumerate() {
            for (o, row) in out.iter_mut().zip(&rows) {
                *o = row[pp];
            }
        }
    }
    match r {
        4 => go::<4>(data, base, ts, kc, dst),
        6 => go::<6>(data, base, ts, kc, dst),
        8 => go::<8>(data, base, ts, kc, dst),
        12 => go::<12>(data, base, ts, kc, dst),
        16 => go::<16>(data, base, ts, kc, dst),
        32 => go::<32>(data, base, ts, kc, dst),
        _ => return false,
    }
    true
}

/// An operand packed once for one kernel's panel width: K blocks of `kc` (this machine's K block
/// for the kernel, [`super::blocking::for_kernel`]), each holding the panels of the whole other
/// dimension. Block starting at `p0` with length `kc`: panel `q` at
/// `p0 * padded + q * kc * r`.
#[derive(Debug, Clone)]
pub struct PackedMat {
    pub k: usize,
    pub other: usize,
    /// Panel width (the kernel's `mr` for A, `nr` for B).
    pub r: usize,
    /// Depth of the K blocks.
    kc: usize,
    padded: usize,
    data: Vec<f32>,
}

impl PackedMat {
    /// Packs `src` for `kernel` as the left operand (A, panels of `mr` rows) or right (B).
    pub fn new(src: &dyn PackSrc, kernel: &Kernel, as_lhs: bool) -> Result<PackedMat> {
        let r = if as_lhs { kernel.mr } else { kernel.nr };
        let n =
            crate::checked_numel(&[src.k(), src.other().div_ceil(r) * r], crate::DType::F32, "packed GEMM weights")?;
        let kc = super::blocking::for_kernel(kernel.mr, kernel.nr).kc;
        Ok(PackedMat::pack_into(src, r, kc, crate::memory::alloc_for_overwrite::<f32>(n)))
    }

    /// Packs `src` in panels of `r` and K blocks of `kc` into `data` (resized as needed; its
    /// contents are overwritten), over the current thread pool: each K block's panels are cut
    /// into groups that tasks fill in parallel (serially outside a pool or inside a task).
    pub(super) fn pack_into(src: &dyn PackSrc, r: usize, kc: usize, mut data: Vec<f32>) -> PackedMat {
        let (k, other) = (src.k(), src.other());
        let padded = other.div_ceil(r) * r;
        data.resize(k * padded, 0.0);
        let group = (padded / r).div_ceil(4 * crate::threads::current()).max(1);
        for (blk, block) in data.chunks_mut((kc * padded).max(1)).enumerate() {
            let (p0, kb) = (blk * kc, block.len() / padded);
            crate::threads::for_each_chunk(block, group * kb * r, |g, chunk| {
                for (i, panel) in chunk.chunks_exact_mut(kb * r).enumerate() {
                    let t0 = (g * group + i) * r;
                    src.pack(p0, kb, t0, r.min(other - t0), r, panel);
                }
            });
        }
        PackedMat { k, other, r, kc, padded, data }
    }

    /// The packed data, for reuse as the buffer of a later [`PackedMat::pack_into`].
    pub(crate) fn into_buffer(self) -> Vec<f32> {
        self.data
    }

    /// Depth of the K blocks the panels are stored in.
    pub fn kc(&self) -> usize {
        self.kc
    }

    /// All packed panels, in storage order (for tests).
    #[cfg(test)]
    pub(super) fn panels(&self) -> &[f32] {
        &self.data
    }

    /// Bytes of packed data held.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }

    /// The packed panels of block `p0` (length `kc`) starting at panel `q`.
    pub(super) fn block_from(&self, p0: usize, kc: usize, q: usize) -> &[f32] {
        &self.data[p0 * self.padded + q * kc * self.r..p0 * self.padded + kc * self.padded]
    }
}
