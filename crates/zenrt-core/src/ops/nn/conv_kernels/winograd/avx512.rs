//! AVX-512 Winograd transforms (session 10). A 512-bit vector holds two groups of 8 horizontally
//! adjacent tiles (a group is `(ty, tx)`: tiles `tx..tx + 8` of tile row `ty`), so the transforms
//! run on 16 tiles per instruction at every plane size: at 56×56 (F(4×4): 14 tiles a row) the
//! two groups of one tile row, at 28×28 and 14×14 (7 and 4 tiles a row) the groups of two tile
//! rows. Each group is one 8-float load or store (the two halves of a vector), in increasing
//! tile order, so the lanes of a group past the row's last tile (stored into the next group's
//! tiles, or into the `+ 8` room of a `V` row) are overwritten by the next group's store.
//!
//! The output transform writes its `m × m` values per tile into a per-plane buffer
//! (`buf[ty·m + i][j][tile]`: output row `ty·m + i`, column phase `j`), then interleaves the `m`
//! column phases of 16 tiles into output rows with `vpermt2ps`, adding nothing (the bias is added
//! in the transform) and applying Relu in the register (other activations per row afterwards).

use super::super::padded::pad_plane;
use super::super::ConvShape;
use super::{Tile, Tiles};
use crate::ops::fused::Activation;
use std::arch::x86_64::*;

/// One group of up to 8 adjacent tiles: tile row `ty`, first tile `tx` (a multiple of 8).
#[derive(Clone, Copy)]
struct Group {
    ty: usize,
    tx: usize,
}

/// The groups of a plane in tile order, in pairs (the last one paired with itself when odd).
fn pairs(tl: &Tiles) -> impl Iterator<Item = (Group, Group)> {
    let (th, tw) = (tl.th, tl.tw);
    let mut it = (0..th).flat_map(move |ty| (0..tw).step_by(8).map(move |tx| Group { ty, tx }));
    std::iter::from_fn(move || {
        let a = it.next()?;
        Some((a, it.next().unwrap_or(a)))
    })
}

/// Two 8-float loads as one vector: `s[a..a + 8]` in the low half, `s[b..b + 8]` in the high one
/// (one 16-float load when `b = a + 8`).
#[inline]
#[target_feature(enable = "avx512f")]
fn ld2(s: &[f32], a: usize, b: usize) -> __m512 {
    if b == a + 8 {
        let s = &s[a..a + 16];
        // SAFETY: 16 floats (checked by the slice).
        return unsafe { _mm512_loadu_ps(s.as_ptr()) };
    }
    let (a, b) = (&s[a..a + 8], &s[b..b + 8]);
    // SAFETY: both slices hold 8 floats.
    let (lo, hi) = unsafe { (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr())) };
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi)))
}

/// Stores the low half of `v` at `s[a..a + 8]`, then the high half at `s[b..b + 8]` (the two
/// runs may overlap: the second wins).
#[inline]
#[target_feature(enable = "avx512f")]
fn st2(s: &mut [f32], a: usize, b: usize, v: __m512) {
    assert!(a.max(b) + 8 <= s.len());
    if b == a + 8 {
        // SAFETY: s[a..a + 16] lies inside `s` (asserted above).
        unsafe { _mm512_storeu_ps(s.as_mut_ptr().add(a), v) };
        return;
    }
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    // SAFETY: both runs lie inside `s` (asserted above).
    unsafe {
        _mm256_storeu_ps(s.as_mut_ptr().add(a), _mm512_castps512_ps256(v));
        _mm256_storeu_ps(s.as_mut_ptr().add(b), hi);
    }
}

/// `Bᵀ d` along one axis (α values in, α out).
#[inline]
#[target_feature(enable = "avx512f")]
fn bt(t: Tile, d: &[__m512; 6]) -> [__m512; 6] {
    let z = _mm512_setzero_ps();
    match t {
        Tile::F2 => [
            _mm512_sub_ps(d[0], d[2]),
            _mm512_add_ps(d[1], d[2]),
            _mm512_sub_ps(d[2], d[1]),
            _mm512_sub_ps(d[1], d[3]),
            z,
            z,
        ],
        Tile::F4 => {
            let (k4, k5, k2) = (_mm512_set1_ps(4.0), _mm512_set1_ps(5.0), _mm512_set1_ps(2.0));
            let a = _mm512_fnmadd_ps(k4, d[2], d[4]);
            let b = _mm512_fnmadd_ps(k4, d[1], d[3]);
            let c = _mm512_sub_ps(d[4], d[2]);
            let e = _mm512_sub_ps(d[3], d[1]);
            [
                _mm512_fmadd_ps(k4, d[0], _mm512_fnmadd_ps(k5, d[2], d[4])),
                _mm512_add_ps(a, b),
                _mm512_sub_ps(a, b),
                _mm512_fmadd_ps(k2, e, c),
                _mm512_fnmadd_ps(k2, e, c),
                _mm512_fmadd_ps(k4, d[1], _mm512_fnmadd_ps(k5, d[3], d[5])),
            ]
        }
    }
}

/// `Aᵀ v` along one axis (α values in, m out).
#[inline]
#[target_feature(enable = "avx512f")]
fn at(t: Tile, v: &[__m512; 6]) -> [__m512; 4] {
    let z = _mm512_setzero_ps();
    match t {
        Tile::F2 => {
            [_mm512_add_ps(_mm512_add_ps(v[0], v[1]), v[2]), _mm512_sub_ps(_mm512_sub_ps(v[1], v[2]), v[3]), z, z]
        }
        Tile::F4 => {
            let (s1, d1) = (_mm512_add_ps(v[1], v[2]), _mm512_sub_ps(v[1], v[2]));
            let (s2, d2) = (_mm512_add_ps(v[3], v[4]), _mm512_sub_ps(v[3], v[4]));
            [
                _mm512_add_ps(_mm512_add_ps(v[0], s1), s2),
                _mm512_fmadd_ps(_mm512_set1_ps(2.0), d2, d1),
                _mm512_fmadd_ps(_mm512_set1_ps(4.0), s2, s1),
                _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d2, d1), v[5]),
            ]
        }
    }
}

/// Input transform of channel plane `src` (image `n`) into `v` (`[α², ld]`), as
/// [`super::input_transform`], 16 tiles per vector.
#[target_feature(enable = "avx512f")]
pub(super) fn input_transform(tl: &Tiles, cs: &ConvShape, n: usize, src: &[f32], pad: &mut [f32], v: &mut [f32]) {
    let (t, m, al, pd) = (tl.t, tl.t.m(), tl.t.alpha(), tl.pd);
    let g = &cs.geo;
    pad_plane(src, [cs.in_sp[0], cs.in_sp[1]], [g.pads_begin[0], g.pads_begin[1]], pd, pad);
    let pad: &[f32] = pad;
    let z = _mm512_setzero_ps();
    let col_off: [usize; 6] = std::array::from_fn(|j| pd.col_off(j));
    for (a, b) in pairs(tl) {
        let (oa, ob) = (a.ty * m * pd.row_len + a.tx, b.ty * m * pd.row_len + b.tx);
        // Rows: w[i][k] = (d B)[i][k].
        let mut w = [[z; 6]; 6];
        for (i, wi) in w[..al].iter_mut().enumerate() {
            let mut d = [z; 6];
            for (j, dj) in d[..al].iter_mut().enumerate() {
                let o = i * pd.row_len + col_off[j];
                *dj = ld2(pad, oa + o, ob + o);
            }
            *wi = bt(t, &d);
        }
        // Columns: V[i·α + k] = (Bᵀ d B)[i][k].
        let (ta, tb) = ((n * tl.th + a.ty) * tl.tw + a.tx, (n * tl.th + b.ty) * tl.tw + b.tx);
        #[allow(clippy::needless_range_loop)] // column k of every row of `w`
        for k in 0..al {
            let col: [__m512; 6] = std::array::from_fn(|i| w[i][k]);
            let r = bt(t, &col);
            for (i, &ri) in r[..al].iter().enumerate() {
                let row = (i * al + k) * tl.ld;
                st2(v, row + ta, row + tb, ri);
            }
        }
    }
}

/// Output transform of output channel `k` of image `n` from `mm` (`[α², M, ld]`) into the plane
/// `dst`, with `bias` and the activation, as [`super::output_transform`]; `buf` holds the
/// plane's transformed tiles (`m · m · th · tw16`).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
pub(super) fn output_transform(
    tl: &Tiles,
    cs: &ConvShape,
    n: usize,
    k: usize,
    mm: &[f32],
    bias: f32,
    act: Activation,
    buf: &mut [f32],
    dst: &mut [f32],
) {
    let (t, m, al) = (tl.t, tl.t.m(), tl.t.alpha());
    let (oh, ow) = (cs.geo.out[0], cs.geo.out[1]);
    let plane = cs.m * tl.ld;
    let tws = tl.tw.next_multiple_of(16);
    assert!(buf.len() >= m * m * tl.th * tws && dst.len() >= oh * ow);
    let z = _mm512_setzero_ps();
    let bv = _mm512_set1_ps(bias);
    let base = k * tl.ld;
    for (a, b) in pairs(tl) {
        let (ta, tb) = ((n * tl.th + a.ty) * tl.tw + a.tx, (n * tl.th + b.ty) * tl.tw + b.tx);
        // Rows: r[i][j] = (s A)[i][j] (α × m).
        let mut r = [[z; 4]; 6];
        for (i, ri) in r[..al].iter_mut().enumerate() {
            let mut s = [z; 6];
            for (j, sj) in s[..al].iter_mut().enumerate() {
                let o = (i * al + j) * plane + base;
                *sj = ld2(mm, o + ta, o + tb);
            }
            *ri = at(t, &s);
        }
        // Columns: o[i][j] = (Aᵀ s A)[i][j] + bias, into buf[ty·m + i][j][tile].
        #[allow(clippy::needless_range_loop)] // column j of every row of `r`
        for j in 0..m {
            let col: [__m512; 6] = std::array::from_fn(|i| if i < al { r[i][j] } else { z });
            let o = at(t, &col);
            for (i, &oi) in o[..m].iter().enumerate() {
                let (ia, ib) = (((a.ty * m + i) * m + j) * tws + a.tx, ((b.ty * m + i) * m + j) * tws + b.tx);
                st2(buf, ia, ib, _mm512_add_ps(oi, bv));
            }
        }
    }
    // Interleave the m column phases of 16 tiles into 16·m outputs of a row.
    let relu = matches!(act, Activation::Relu);
    let f = if relu { None } else { act.simd_f32() };
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    let hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    for y in 0..oh {
        let rb = y * m * tws;
        let drow = &mut dst[y * ow..(y + 1) * ow];
        for q0 in (0..tl.tw).step_by(16) {
            let ph: [__m512; 4] = std::array::from_fn(|j| {
                if j < m {
                    let s = &buf[rb + j * tws + q0..][..16];
                    // SAFETY: 16 floats (checked by the slice).
                    unsafe { _mm512_loadu_ps(s.as_ptr()) }
                } else {
                    z
                }
            });
            let outs = match t {
                Tile::F2 => [_mm512_permutex2var_ps(ph[0], lo, ph[1]), _mm512_permutex2var_ps(ph[0], hi, ph[1]), z, z],
                Tile::F4 => {
                    let (p01l, p01h) =
                        (_mm512_permutex2var_ps(ph[0], lo, ph[1]), _mm512_permutex2var_ps(ph[0], hi, ph[1]));
                    let (p23l, p23h) =
                        (_mm512_permutex2var_ps(ph[2], lo, ph[3]), _mm512_permutex2var_ps(ph[2], hi, ph[3]));
                    [
                        _mm512_permutex2var_ps(p01l, lo2, p23l),
                        _mm512_permutex2var_ps(p01l, hi2, p23l),
                        _mm512_permutex2var_ps(p01h, lo2, p23h),
                        _mm512_permutex2var_ps(p01h, hi2, p23h),
                    ]
                }
            };
            for (u, &ov) in outs[..m].iter().enumerate() {
                let x = q0 * m + 16 * u;
                if x >= ow {
                    break;
                }
                let ov = if relu { _mm512_max_ps(ov, z) } else { ov };
                let rem = (ow - x).min(16);
                let mask: __mmask16 = if rem == 16 { 0xffff } else { (1u16 << rem) - 1 };
                // SAFETY: lanes x..x + rem lie in `drow` (rem ≤ ow - x); the others are masked off.
                unsafe { _mm512_mask_storeu_ps(drow.as_mut_ptr().add(x), mask, ov) };
            }
        }
        if let Some(f) = f {
            crate::simd::map_inplace(f, drow);
        }
    }
}
