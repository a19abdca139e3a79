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
        for (p, phase) in row.chunks_exact_mut(pd.phase_len).enumerate() {
            for (j, d) in phase.iter_mut().enumerate() {
                let ix = (j * pd.sw + p) as i64 - pw;
                *d = if ix >= 0 && ix < w as i64 { srow[ix as usize] } else { 0.0 };
            }
        }
    }
}
