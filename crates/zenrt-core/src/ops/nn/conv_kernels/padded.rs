//! The zero-padded, stride-phase-split copy of one input plane that the direct depthwise and
//! Winograd kernels read: for stride `s`, phase `p` of a padded row holds padded columns
//! `p, p+s, p+2s, …`, so the values at columns `(ox..ox+8)·s + b` are one contiguous 8-float
//! run at `phase(b % s)[ox + b / s]`.

/// Layout of the padded, phase-split copy of one plane read by `kh × kw` windows at strides
/// `sh, sw` for `oh × ow` outputs.
#[derive(Clone, Copy, Debug)]
pub struct Padded {
    /// Padded rows (`(oh - 1)·sh + kh`).
    pub rows: usize,
    /// Values per phase of a row (room for whole 8-wide loads past the last output).
    pub phase_len: usize,
    /// Floats per padded row (`sw · phase_len`).
    pub row_len: usize,
    /// Column stride `sw`.
    pub sw: usize,
}

impl Padded {
    pub fn new(kernel: [usize; 2], strides: [usize; 2], out: [usize; 2]) -> Padded {
        let rows = out[0].saturating_sub(1) * strides[0] + kernel[0];
        let phase_len = out[1].next_multiple_of(8) + (kernel[1] - 1) / strides[1];
        Padded { rows, phase_len, row_len: strides[1] * phase_len, sw: strides[1] }
    }

    pub fn len(&self) -> usize {
        self.rows * self.row_len
    }

    /// Offset in a row of the value under output column 0 of window column `b`.
    #[inline(always)]
    pub fn col_off(&self, b: usize) -> usize {
        (b % self.sw) * self.phase_len + b / self.sw
    }
}

/// Copies plane `src` (`hw = [h, w]`, padded by `pads = [top, left]`, zeros elsewhere) into
/// `dst` in the [`Padded`] layout.
pub fn pad_plane(src: &[f32], hw: [usize; 2], pads: [i64; 2], pd: Padded, dst: &mut [f32]) {
    let [h, w] = hw;
    let [ph, pw] = pads;
    for (r, row) in dst[..pd.len()].chunks_exact_mut(pd.row_len).enumerate() {
        let iy = r as i64 - ph;
        if iy < 0 || iy >= h as i64 {
            row.fill(0.0);
            continue;
        }
        let srow = &src[iy as usize * w..(iy as usize + 1) * w];
        if pd.sw == 1 {
            let lo = (pw.max(0) as usize).min(row.len());
            let skip = (-pw).max(0) as usize;
            let hi = (lo + w.saturating_sub(skip)).min(row.len());
            row[..lo].fill(0.0);
            row[lo..hi].copy_from_slice(&srow[skip..skip + (hi - lo)]);
            row[hi..].fill(0.0);
            continue;
        }
        if pd.sw == 2 {
            split_pairs(srow, pw, row, pd.phase_len);
            continue;
        }
        if pd.sw == 4 {
            split_quads(srow, pw, row, pd.phase_len);
            continue;
        }
        let sw = pd.sw as i64;
        for (p, phase) in row.chunks_exact_mut(pd.phase_len).enumerate() {
            // Phase column j reads input column j·sw + p - pw: inside the row for j in lo..hi.
            let first = p as i64 - pw;
            let len = phase.len() as i64;
            let lo = (((-first).max(0) + sw - 1) / sw).min(len);
            let hi = ((w as i64 - first + sw - 1) / sw).clamp(lo, len);
            let (lo, hi) = (lo as usize, hi as usize);
            phase[..lo].fill(0.0);
            phase[hi..].fill(0.0);
            if lo < hi {
                let start = (lo as i64 * sw + first) as usize;
                for (d, s) in phase[lo..hi].iter_mut().zip(srow[start..].iter().step_by(pd.sw)) {
                    *d = *s;
                }
            }
        }
    }
}

/// Stride-2 row split: `row[j] = x(2j)`, `row[phase_len + j] = x(2j + 1)` where
/// `x(c) = srow[c - pw]` (zero outside the row); the interior is one pass over pairs.
fn split_pairs(srow: &[f32], pw: i64, row: &mut [f32], phase_len: usize) {
    let (even, odd) = row[..2 * phase_len].split_at_mut(phase_len);
    split_even_odd(srow, pw, even, odd);
}

/// `even[j] = x(2j)`, `odd[j] = x(2j + 1)` where `x(c) = srow[c - pw]` (zero outside the row);
/// `even` and `odd` are equally long.
pub(super) fn split_even_odd(srow: &[f32], pw: i64, even: &mut [f32], odd: &mut [f32]) {
    let w = srow.len() as i64;
    let at = |c: i64| if c >= pw && c - pw < w { srow[(c - pw) as usize] } else { 0.0 };
    let phase_len = even.len();
    // Interior: both 2j - pw and 2j + 1 - pw inside the row.
    let lo = ((pw.max(0) + 1) / 2).min(phase_len as i64) as usize;
    let hi = (w + pw).div_euclid(2).clamp(lo as i64, phase_len as i64) as usize;
    for j in (0..lo).chain(hi..phase_len) {
        even[j] = at(2 * j as i64);
        odd[j] = at(2 * j as i64 + 1);
    }
    if lo < hi {
        let src = &srow[(2 * lo as i64 - pw) as usize..(2 * hi as i64 - pw) as usize];
        #[cfg(target_arch = "x86_64")]
        if crate::simd::level() == crate::simd::Level::Avx512 {
            // SAFETY: AVX-512F is available (`simd::level`); the slices have the lengths asserted.
            unsafe { split_pairs_avx512(src, &mut even[lo..hi], &mut odd[lo..hi]) };
            return;
        }
        for ((e, o), pair) in even[lo..hi].iter_mut().zip(&mut odd[lo..hi]).zip(src.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
    }
}

/// `even[j] = src[2j]`, `odd[j] = src[2j + 1]`: 16 pairs per two loads and two permutes.
/// Safety: AVX-512F is available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split_pairs_avx512(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = even.len();
    assert!(odd.len() == n && src.len() >= 2 * n);
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let (s, e, o) = (src.as_ptr(), even.as_mut_ptr(), odd.as_mut_ptr());
    let mut j = 0;
    while j + 16 <= n {
        let (a, b) = (_mm512_loadu_ps(s.add(2 * j)), _mm512_loadu_ps(s.add(2 * j + 16)));
        _mm512_storeu_ps(e.add(j), _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(o.add(j), _mm512_permutex2var_ps(a, io, b));
        j += 16;
    }
    for j in j..n {
        even[j] = src[2 * j];
        odd[j] = src[2 * j + 1];
    }
}

/// Stride-4 row split (Winograd F(4×4)): `row[p·phase_len + j] = x(4j + p)` where
/// `x(c) = srow[c - pw]` (zero outside the row); by AVX-512 masked loads and permutes when
/// available (the whole row, padding included).
fn split_quads(srow: &[f32], pw: i64, row: &mut [f32], phase_len: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() == crate::simd::Level::Avx512 {
        // SAFETY: AVX-512F is available (`simd::level`).
        unsafe { split_quads_avx512(srow, pw, &mut row[..4 * phase_len], phase_len) };
        return;
    }
    let w = srow.len() as i64;
    let at = |c: i64| if c >= pw && c - pw < w { srow[(c - pw) as usize] } else { 0.0 };
    for j in 0..phase_len {
        for p in 0..4 {
            row[p * phase_len + j] = at(4 * j as i64 + p as i64);
        }
    }
}

/// [`split_quads`]: 16 quads per four masked loads (lanes outside `srow` read as zero) and eight
/// permutes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn split_quads_avx512(srow: &[f32], pw: i64, row: &mut [f32], phase_len: usize) {
    use std::arch::x86_64::*;
    assert!(row.len() >= 4 * phase_len);
    let w = srow.len() as i64;
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut j = 0;
    while j < phase_len {
        let cnt = (phase_len - j).min(16);
        let ld = |v: usize| {
            // Lanes l read srow[s0 + l] for 0 ≤ s0 + l < w (and l < 4·cnt - 16v).
            let s0 = (4 * j + 16 * v) as i64 - pw;
            let lo = (-s0).clamp(0, 16);
            let hi = (w - s0).min(4 * cnt as i64 - 16 * v as i64).clamp(lo, 16);
            let mask = (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16;
            if mask == 0 {
                return _mm512_setzero_ps();
            }
            // SAFETY: the unmasked lanes s0 + lo..s0 + hi lie inside `srow` (0 ≤ s0 + lo,
            // s0 + hi ≤ w); the address is formed with wrapping arithmetic and only those lanes
            // are read.
            unsafe { _mm512_maskz_loadu_ps(mask, srow.as_ptr().wrapping_offset(s0 as isize)) }
        };
        let (a, b, c, d) = (ld(0), ld(1), ld(2), ld(3));
        let (e_ab, o_ab) = (_mm512_permutex2var_ps(a, ie, b), _mm512_permutex2var_ps(a, io, b));
        let (e_cd, o_cd) = (_mm512_permutex2var_ps(c, ie, d), _mm512_permutex2var_ps(c, io, d));
        let phases = [
            _mm512_permutex2var_ps(e_ab, ie, e_cd),
            _mm512_permutex2var_ps(o_ab, ie, o_cd),
            _mm512_permutex2var_ps(e_ab, io, e_cd),
            _mm512_permutex2var_ps(o_ab, io, o_cd),
        ];
        let mask: __mmask16 = if cnt == 16 { 0xffff } else { (1u16 << cnt) - 1 };
        for (p, &v) in phases.iter().enumerate() {
            let o = p * phase_len + j;
            // SAFETY: lanes o..o + cnt lie in `row` (j + cnt ≤ phase_len); the others are masked off.
            unsafe { _mm512_mask_storeu_ps(row.as_mut_ptr().add(o), mask, v) };
        }
        j += cnt;
    }
}
