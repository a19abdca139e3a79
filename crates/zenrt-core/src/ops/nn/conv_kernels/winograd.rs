//! Winograd F(m×m, 3×3) convolution for 3×3, stride-1, dilation-1, group-1 2-D convolutions
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015), m = 4 (α = 6)
//! or m = 2 (α = 4).
//!
//! - Filter transform `U = G g Gᵀ` once at plan time (in f64), packed as `α²` GEMM left
//!   operands `[M, C]` ([`WinogradWeights`]).
//! - Input transform `V = Bᵀ d B` of every m×m output tile (α×α input patch), 8 horizontally
//!   adjacent tiles at a time: the input plane is copied into the padded stride-m phase layout
//!   ([`super::padded`]), so element `(i, j)` of 8 tiles is one contiguous 8-float load. The
//!   transforms are written on 8-lane arrays ([`L8`]) that LLVM turns into AVX2 vectors inside
//!   the `avx2,fma` entry points (the same code compiled without them is the scalar fallback).
//! - `α²` GEMMs `Mξ[M, T] = Uξ[M, C] · Vξ[C, T]` (T = tiles of all images) through `ops::gemm`.
//! - Output transform `Y = Aᵀ Mξ A` with the bias added and the activation applied per output
//!   row while it is in L1.
//!
//! Scratch (`V`, `Mξ`, padded planes) comes from the plan's buffer pool.

use super::padded::{pad_plane, Padded};
use super::{split_zip, ConvShape};
use crate::ops::fused::Activation;
use crate::ops::gemm::{sgemm, Epilogue, Kernel, Operand, PackedMat, Strided};
use crate::simd::with_avx2;
use crate::{ensure, Result};
use std::ops::{Add, Mul, Sub};

/// Eight f32 lanes (8 tiles); plain arrays that vectorise inside `avx2` functions.
#[derive(Clone, Copy, Default)]
struct L8([f32; 8]);

impl Add for L8 {
    type Output = L8;
    #[inline(always)]
    fn add(self, o: L8) -> L8 {
        L8(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}
impl Sub for L8 {
    type Output = L8;
    #[inline(always)]
    fn sub(self, o: L8) -> L8 {
        L8(std::array::from_fn(|i| self.0[i] - o.0[i]))
    }
}
impl Mul<f32> for L8 {
    type Output = L8;
    #[inline(always)]
    fn mul(self, k: f32) -> L8 {
        L8(std::array::from_fn(|i| self.0[i] * k))
    }
}

impl L8 {
    #[inline(always)]
    fn load(s: &[f32]) -> L8 {
        L8(std::array::from_fn(|i| s[i]))
    }
}

/// Output tile size `m` (2 or 4); `α = m + 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    F2,
    F4,
}

impl Tile {
    pub fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }
    pub fn alpha(self) -> usize {
        self.m() + 2
    }
    /// `G` (α×3), the filter transform.
    fn g(self) -> &'static [[f64; 3]] {
        match self {
            Tile::F2 => &[[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
            Tile::F4 => &[
                [0.25, 0.0, 0.0],
                [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
                [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
                [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
                [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
                [0.0, 0.0, 1.0],
            ],
        }
    }
}

/// `Bᵀ d` for one α-vector `d` (the input transform along one axis).
#[inline(always)]
fn bt(t: Tile, d: &[L8], o: &mut [L8]) {
    match t {
        Tile::F2 => {
            o[0] = d[0] - d[2];
            o[1] = d[1] + d[2];
            o[2] = d[2] - d[1];
            o[3] = d[1] - d[3];
        }
        Tile::F4 => {
            let (a, b) = (d[4] - d[2] * 4.0, d[3] - d[1] * 4.0);
            let (c, e) = (d[4] - d[2], (d[3] - d[1]) * 2.0);
            o[0] = d[0] * 4.0 - d[2] * 5.0 + d[4];
            o[1] = a + b;
            o[2] = a - b;
            o[3] = c + e;
            o[4] = c - e;
            o[5] = d[1] * 4.0 - d[3] * 5.0 + d[5];
        }
    }
}

/// `Aᵀ v` for one α-vector `v` (the output transform along one axis), m values.
#[inline(always)]
fn at(t: Tile, v: &[L8], o: &mut [L8]) {
    match t {
        Tile::F2 => {
            o[0] = v[0] + v[1] + v[2];
            o[1] = v[1] - v[2] - v[3];
        }
        Tile::F4 => {
            let (s1, d1) = (v[1] + v[2], v[1] - v[2]);
            let (s2, d2) = (v[3] + v[4], v[3] - v[4]);
            o[0] = v[0] + s1 + s2;
            o[1] = d1 + d2 * 2.0;
            o[2] = s1 + s2 * 4.0;
            o[3] = d1 + d2 * 8.0 + v[5];
        }
    }
}

/// Filter-transformed 3×3 weights: `α²` packed `[M, C]` GEMM left operands.
#[derive(Debug)]
pub struct WinogradWeights {
    pub tile: Tile,
    kern: &'static Kernel,
    u: Vec<PackedMat>,
}

impl WinogradWeights {
    /// `w`: `[M, C, 3, 3]`.
    pub fn new(w: &[f32], m: usize, c: usize, tile: Tile, kern: &'static Kernel) -> Result<WinogradWeights> {
        ensure!(w.len() == m * c * 9, "Conv: weight data length mismatch");
        let (al, g) = (tile.alpha(), tile.g());
        let mut u = vec![vec![0f32; m * c]; al * al];
        for (mc, wk) in w.chunks_exact(9).enumerate() {
            // G g Gᵀ in f64.
            for i in 0..al {
                for j in 0..al {
                    let mut s = 0.0;
                    for a in 0..3 {
                        for b in 0..3 {
                            s += g[i][a] * wk[a * 3 + b] as f64 * g[j][b];
                        }
                    }
                    u[i * al + j][mc] = s as f32;
                }
            }
        }
        let u = u
            .iter()
            .map(|ux| PackedMat::new(&Strided::new(ux, c, m, 1, c)?, kern, true))
            .collect::<Result<Vec<_>>>()?;
        Ok(WinogradWeights { tile, kern, u })
    }
}

/// Whether Winograd applies to `cs` (3×3, stride 1, dilation 1, group 1, 2-D, pads ≥ 0).
pub fn applies(cs: &ConvShape) -> bool {
    let g = &cs.geo;
    cs.in_sp.len() == 2
        && cs.group == 1
        && g.kernel == [3, 3]
        && g.strides == [1, 1]
        && g.dilations == [1, 1]
        && g.pads_begin.iter().all(|&p| p >= 0)
}

/// Whether Winograd is expected to beat im2col + GEMM here: enough tiles for the α² GEMMs
/// (measured on ResNet-50's 3×3 layers) and enough channels for the transforms to amortise.
pub fn pays(cs: &ConvShape, t: Tile) -> bool {
    let m = t.m();
    let tiles = cs.n * cs.geo.out[0].div_ceil(m) * cs.geo.out[1].div_ceil(m);
    tiles >= 16 && cs.c >= 16 && cs.m >= 16
}

/// Geometry of one call: tiles per image and the padded strides of the transformed matrices.
struct Tiles {
    t: Tile,
    th: usize,
    tw: usize,
    /// Row stride of the `V`/`M` matrices (`total` plus room for 8-wide accesses).
    ld: usize,
    pd: Padded,
}

/// Input transform of channel plane `src` (image `n`) into `v` (`[α², ld]`, this channel's
/// rows), using `pad` as the padded-plane scratch.
#[inline(always)]
fn input_transform(tl: &Tiles, cs: &ConvShape, n: usize, src: &[f32], pad: &mut [f32], v: &mut [f32]) {
    let (t, m, al, pd) = (tl.t, tl.t.m(), tl.t.alpha(), tl.pd);
    let g = &cs.geo;
    pad_plane(src, [cs.in_sp[0], cs.in_sp[1]], [g.pads_begin[0], g.pads_begin[1]], pd, pad);
    let mut d = [L8::default(); 36];
    let mut r = [L8::default(); 36];
    for ty in 0..tl.th {
        let rows = &pad[ty * m * pd.row_len..];
        for tx in (0..tl.tw).step_by(8) {
            for i in 0..al {
                for j in 0..al {
                    d[i * al + j] = L8::load(&rows[i * pd.row_len + pd.col_off(j) + tx..]);
                }
            }
            // Columns, then rows: r = Bᵀ d, then d = (Bᵀ d) B.
            down_columns(&d, al, al, &mut r, |c, o| bt(t, c, o));
            let mut out = [L8::default(); 6];
            for i in 0..al {
                bt(t, &r[i * al..(i + 1) * al], &mut out[..al]);
                d[i * al..(i + 1) * al].copy_from_slice(&out[..al]);
            }
            let t0 = (n * tl.th + ty) * tl.tw + tx;
            for (xi, dv) in d[..al * al].iter().enumerate() {
                v[xi * tl.ld + t0..][..8].copy_from_slice(&dv.0);
            }
        }
    }
}

/// A 1-D transform `f` (α inputs, `rows` outputs) applied down each of the α columns of the
/// row-major `src` (α rows of α vectors): `dst[i·α + j] = f(column j)[i]`.
#[inline(always)]
fn down_columns(src: &[L8], al: usize, rows: usize, dst: &mut [L8], f: impl Fn(&[L8], &mut [L8])) {
    let mut col = [L8::default(); 6];
    let mut out = [L8::default(); 6];
    for j in 0..al {
        for i in 0..al {
            col[i] = src[i * al + j];
        }
        f(&col[..al], &mut out[..rows]);
        for i in 0..rows {
            dst[i * al + j] = out[i];
        }
    }
}

/// Output transform of output channel `k` of image `n` from `mm` (`[α², M, ld]`) into the plane
/// `dst`, with `bias` and the activation; `buf` holds one row of tiles (`m · m · tw8`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_transform(
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
    let tw8 = tl.tw.next_multiple_of(8);
    let f = act.simd_f32();
    let mut s = [L8::default(); 36];
    let mut r = [L8::default(); 24];
    for ty in 0..tl.th {
        for tx in (0..tl.tw).step_by(8) {
            let t0 = (n * tl.th + ty) * tl.tw + tx;
            for (xi, sv) in s[..al * al].iter_mut().enumerate() {
                *sv = L8::load(&mm[xi * plane + k * tl.ld + t0..]);
            }
            // r = Aᵀ s (m×α), then o = r A (m×m).
            down_columns(&s, al, m, &mut r, |c, o| at(t, c, o));
            let mut out = [L8::default(); 6];
            for i in 0..m {
                at(t, &r[i * al..(i + 1) * al], &mut out[..m]);
                for (j, o) in out[..m].iter().enumerate() {
                    // buf[i][j][tile]: row i, column phase j.
                    buf[(i * m + j) * tw8 + tx..][..8].copy_from_slice(&(*o + L8([bias; 8])).0);
                }
            }
        }
        for i in 0..m.min(oh - ty * m) {
            let y = ty * m + i;
            let drow = &mut dst[y * ow..(y + 1) * ow];
            for (x, d) in drow.iter_mut().enumerate() {
                *d = buf[(i * m + x % m) * tw8 + x / m];
            }
            if let Some(f) = f {
                crate::simd::map_inplace(f, drow);
            }
        }
    }
}

/// `y = act(conv3x3(x, w) + b)` by Winograd; `y` is `[N, M, OH, OW]`.
pub fn winograd_f32(
    x: &[f32],
    w: &WinogradWeights,
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> Result<()> {
    let t = w.tile;
    let (m, al) = (t.m(), t.alpha());
    let (oh, ow) = (cs.geo.out[0], cs.geo.out[1]);
    let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
    let total = cs.n * th * tw;
    let pd = Padded::new([al, al], [m, m], [th, tw]);
    let tl = Tiles { t, th, tw, ld: total + 8, pd };
    let (c, mo) = (cs.c, cs.m);
    ensure!(w.u.len() == al * al && w.u[0].k == c && w.u[0].other == mo, "Conv: Winograd weights do not match");
    let in_size = cs.in_sp[0] * cs.in_sp[1];
    let out_size = oh * ow;
    let parts = crate::threads::current().max(1);
    // V: [C·N planes][α²][ld]; each (n, c) writes its own tiles in all α² rows of channel c.
    let mut v = crate::memory::alloc_for_overwrite::<f32>(al * al * c * tl.ld);
    let mut pads = crate::memory::alloc_for_overwrite::<f32>(pd.len() * parts);
    let mut mm = crate::memory::alloc_for_overwrite::<f32>(al * al * mo * tl.ld);
    let mut bufs = crate::memory::alloc_for_overwrite::<f32>(m * m * tw.next_multiple_of(8) * parts);
    let per_c = al * al * tl.ld;
    let chunk_c = c.div_ceil(parts);
    let xform_in = |ci0: usize, vs: &mut [f32], pad: &mut [f32]| {
        with_avx2(|| {
            for (k, vc) in vs.chunks_exact_mut(per_c).enumerate() {
                for n in 0..cs.n {
                    let src = &x[(n * c + ci0 + k) * in_size..][..in_size];
                    input_transform(&tl, cs, n, src, pad, vc);
                }
            }
        })
    };
    let par = parts > 1;
    split_zip(par, &mut v, chunk_c * per_c, &mut pads, pd.len(), |i, vs, pad| xform_in(i * chunk_c, vs, pad));
    // α² GEMMs: Mξ[M, T] = Uξ[M, C] · Vξ[C, T] (Vξ rows are strided by α²·ld).
    let gemm = |xi: usize, out: &mut [f32]| -> Result<()> {
        let vsrc = Strided::new(&v[xi * tl.ld..], c, total, per_c, 1)?;
        let a = Operand::Packed(&w.u[xi]);
        sgemm(w.kern, 1.0, a, Operand::Src(&vsrc), 0.0, out, tl.ld, 1, &Epilogue::default())
    };
    crate::threads::try_for_each_chunk(&mut mm, mo * tl.ld, gemm)?;
    // Output transform, parallel over output planes.
    let planes = cs.n * mo;
    let chunk_p = planes.div_ceil(parts);
    let xform_out = |p0: usize, ys: &mut [f32], buf: &mut [f32]| {
        with_avx2(|| {
            for (k, dst) in ys.chunks_exact_mut(out_size).enumerate() {
                let (n, ko) = ((p0 + k) / mo, (p0 + k) % mo);
                let bias = b.map_or(0.0, |b| b[ko]);
                output_transform(&tl, cs, n, ko, &mm, bias, act, buf, dst);
            }
        })
    };
    let blen = bufs.len() / parts;
    let ys = &mut y[..planes * out_size];
    split_zip(par, ys, chunk_p * out_size, &mut bufs, blen, |i, ys, buf| xform_out(i * chunk_p, ys, buf));
    for s in [v, pads, mm, bufs] {
        crate::memory::recycle(s);
    }
    Ok(())
}
