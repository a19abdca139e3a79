//! Winograd F(m×m, 3×3) convolution for 3×3, stride-1, dilation-1, group-1 2-D convolutions
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015), m = 4 (α = 6)
//! or m = 2 (α = 4).
//!
//! - Filter transform `U = G g Gᵀ` once (in f32, parallel over output channels), packed as `α²` GEMM left
//!   operands `[M, C]` ([`WinogradWeights`]).
//! - Input transform `V = Bᵀ d B` of every m×m output tile (α×α input patch), 8 horizontally
//!   adjacent tiles at a time: the input plane is copied into the padded stride-m phase layout
//!   ([`super::padded`]), so element `(i, j)` of 8 tiles is one contiguous 8-float load. The
//!   transforms are written on 8-lane arrays ([`L8`]) that LLVM turns into AVX2 vectors inside
//!   the `avx2,fma` entry points (the same code compiled without them is the scalar fallback); with
//!   AVX-512, 16 tiles per vector in `winograd/avx512.rs` (session 10).
//! - `α²` GEMMs `Mξ[M, T] = Uξ[M, C] · Vξ[C, T]` (T = tiles of all images) through `ops::gemm`.
//! - Output transform `Y = Aᵀ Mξ A` with the bias added and the activation applied per output
//!   row while it is in L1.
//!
//! Scratch (`V`, `Mξ`, padded planes) comes from the plan's buffer pool.

#[cfg(target_arch = "x86_64")]
mod avx512;

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
    fn g(self) -> &'static [[f32; 3]] {
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
    /// `w`: `[M, C, 3, 3]`. The filter transform runs in f32 (error: docs/kernels.md), parallel
    /// over output channels when a thread pool is installed.
    pub fn new(w: &[f32], m: usize, c: usize, tile: Tile, kern: &'static Kernel) -> Result<WinogradWeights> {
        ensure!(w.len() == m * c * 9, "Conv: weight data length mismatch");
        let (al, g) = (tile.alpha(), tile.g());
        let per_m = al * al * c;
        // u[mo][ξ][ci]: one output channel's α² rows of C values, written by one task.
        let mut u = vec![0f32; crate::checked_numel(&[m, per_m], crate::DType::F32, "Winograd weights")?];
        let xform = |mo: usize, um: &mut [f32]| {
            for (ci, wk) in w[mo * c * 9..(mo + 1) * c * 9].chunks_exact(9).enumerate() {
                // t = G g (α×3), then U = t Gᵀ (α×α).
                let mut t = [[0f32; 3]; 6];
                for (ti, gi) in t.iter_mut().zip(g) {
                    for (b, tv) in ti.iter_mut().enumerate() {
                        *tv = gi[0] * wk[b] + gi[1] * wk[3 + b] + gi[2] * wk[6 + b];
                    }
                }
                for (i, ti) in t[..al].iter().enumerate() {
                    for (j, gj) in g.iter().enumerate() {
                        um[(i * al + j) * c + ci] = ti[0] * gj[0] + ti[1] * gj[1] + ti[2] * gj[2];
                    }
                }
            }
        };
        // Parallel over output channels when a pool is current (serial otherwise).
        crate::threads::for_each_chunk(&mut u, per_m, xform);
        // Uξ[M, C] is row ξ of every output channel's block: element (ci, mo) at mo·α²·C + ξ·C + ci.
        let pack = |xi: usize| PackedMat::new(&Strided::new(&u[xi * c..], c, m, 1, per_m)?, kern, true);
        let mut packed: Vec<Option<Result<PackedMat>>> = (0..al * al).map(|_| None).collect();
        crate::threads::for_each_chunk(&mut packed, 1, |xi, slot| slot[0] = Some(pack(xi)));
        let missing = || Err(crate::Error::Invalid("Conv: a Winograd packing task did not run".into()));
        let u = packed.into_iter().map(|p| p.unwrap_or_else(missing)).collect::<Result<Vec<_>>>()?;
        Ok(WinogradWeights { tile, kern, u })
    }

    /// Bytes of transformed weights held.
    pub fn bytes(&self) -> usize {
        self.u.iter().map(PackedMat::bytes).sum()
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
    /// The AVX-512 transforms (`use_avx512`, read once per call).
    wide: bool,
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

/// Whether the AVX-512 transforms run: AVX-512F detected, unless `ZENRT_WINOGRAD_SIMD=avx2` (the
/// 8-lane transforms, for comparisons) or a test turned them off (`set_avx512`).
fn use_avx512() -> bool {
    static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let env = *ENV.get_or_init(|| {
        cfg!(target_arch = "x86_64")
            && crate::simd::level() == crate::simd::Level::Avx512
            && std::env::var("ZENRT_WINOGRAD_SIMD").as_deref() != Ok("avx2")
    });
    env && !AVX512_OFF.load(std::sync::atomic::Ordering::Relaxed)
}

static AVX512_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the AVX-512 transforms off (`false`) or back on, for tests of the 8-lane path. Each call
/// reads the setting once, so a change while another call runs does not affect that call.
#[cfg(test)]
pub(super) fn set_avx512(on: bool) {
    AVX512_OFF.store(!on, std::sync::atomic::Ordering::Relaxed);
}

/// Floats of one thread's output-transform buffer (the AVX-512 path's whole plane, else a row
/// of tiles).
fn buf_len(t: Tile, th: usize, tw: usize, wide: bool) -> usize {
    let m = t.m();
    if wide {
        m * m * th * tw.next_multiple_of(16)
    } else {
        m * m * tw.next_multiple_of(8)
    }
}

/// Tiles per chunk of images (at least one image): the batch is transformed, multiplied and
/// transformed back a few images at a time, so the scratch (`V`, `Mξ`: `α²·(C + M)` floats per
/// tile) stays small whatever the batch, and is reused by every chunk. Session 10: 32 (one
/// image at 56×56 and 28×28, two at 14×14 and for F(2×2) at 7×7) rather than 256: ResNet-50 b8
/// 1T 600 -> 565 ms (`ZENRT_WINOGRAD_CHUNK=32` vs 256, docs/kernels.md); the α² GEMMs keep at
/// least one 32-column panel.
const CHUNK_TILES: usize = 32;

/// `y = act(conv3x3(x, w) + b)` by Winograd; `y` is `[N, M, OH, OW]`.
pub fn winograd_f32(
    x: &[f32],
    w: &WinogradWeights,
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> Result<()> {
    winograd_chunked(x, w, b, cs, act, y, chunk_tiles())
}

/// [`CHUNK_TILES`], or `ZENRT_WINOGRAD_CHUNK` (tiles) when set, for tuning runs.
fn chunk_tiles() -> usize {
    static N: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_WINOGRAD_CHUNK");
    N.get().filter(|&n| n > 0).unwrap_or(CHUNK_TILES)
}

/// [`winograd_f32`] over chunks of images holding about `chunk_tiles` tiles.
pub(super) fn winograd_chunked(
    x: &[f32],
    w: &WinogradWeights,
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
    chunk_tiles: usize,
) -> Result<()> {
    let t = w.tile;
    let (m, al) = (t.m(), t.alpha());
    let (oh, ow) = (cs.geo.out[0], cs.geo.out[1]);
    let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
    let (c, mo) = (cs.c, cs.m);
    ensure!(w.u.len() == al * al && w.u[0].k == c && w.u[0].other == mo, "Conv: Winograd weights do not match");
    let (in_img, out_img) = (c * cs.in_sp[0] * cs.in_sp[1], mo * oh * ow);
    ensure!(x.len() >= cs.n * in_img && y.len() >= cs.n * out_img, "Conv: Winograd buffers too short");
    let imgs = chunk_tiles.div_ceil((th * tw).max(1)).clamp(1, cs.n.max(1));
    let pd = Padded::new([al, al], [m, m], [th, tw]);
    let parts = crate::threads::current().max(1);
    let ld = imgs * th * tw + 8;
    let wide = use_avx512();
    let mut s = Scratch {
        v: crate::memory::alloc_for_overwrite::<f32>(al * al * c * ld),
        pads: crate::memory::alloc_for_overwrite::<f32>(pd.len() * parts),
        mm: crate::memory::alloc_for_overwrite::<f32>(al * al * mo * ld),
        bufs: crate::memory::alloc_for_overwrite::<f32>(buf_len(t, th, tw, wide) * parts),
    };
    let mut res = Ok(());
    for n0 in (0..cs.n).step_by(imgs) {
        let sub = ConvShape { n: imgs.min(cs.n - n0), ..cs.clone() };
        let tl = Tiles { t, th, tw, ld: sub.n * th * tw + 8, pd, wide };
        let (xs, ys) = (&x[n0 * in_img..(n0 + sub.n) * in_img], &mut y[n0 * out_img..(n0 + sub.n) * out_img]);
        res = winograd_chunk(xs, w, b, &sub, act, ys, &tl, parts, &mut s);
        if res.is_err() {
            break;
        }
    }
    for v in [s.v, s.pads, s.mm, s.bufs] {
        crate::memory::recycle(v);
    }
    res
}

/// Scratch of one Winograd call, sized for its largest chunk.
struct Scratch {
    /// `V`: `[C][α²][ld]` transformed input tiles.
    v: Vec<f32>,
    /// One padded plane per thread.
    pads: Vec<f32>,
    /// `Mξ`: `[α²][M][ld]` products.
    mm: Vec<f32>,
    /// One row of output tiles per thread.
    bufs: Vec<f32>,
}

/// Nanoseconds spent in each phase (input transform, GEMMs, output transform), for the timing test.
#[cfg(test)]
pub(super) static PHASE_NS: [std::sync::atomic::AtomicU64; 3] = [const { std::sync::atomic::AtomicU64::new(0) }; 3];

#[inline(always)]
fn phase_mark(_i: usize, _t0: &mut std::time::Instant) {
    #[cfg(test)]
    {
        let now = std::time::Instant::now();
        PHASE_NS[_i].fetch_add((now - *_t0).as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        *_t0 = now;
    }
}

/// One chunk of images (`cs.n` of them): input transform, `α²` GEMMs, output transform.
#[allow(clippy::too_many_arguments)]
fn winograd_chunk(
    x: &[f32],
    w: &WinogradWeights,
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
    tl: &Tiles,
    parts: usize,
    s: &mut Scratch,
) -> Result<()> {
    let al = tl.t.alpha();
    let total = cs.n * tl.th * tl.tw;
    let (c, mo) = (cs.c, cs.m);
    let in_size = cs.in_sp[0] * cs.in_sp[1];
    let out_size = cs.geo.out[0] * cs.geo.out[1];
    let per_c = al * al * tl.ld;
    let (v, mm) = (&mut s.v[..c * per_c], &mut s.mm[..al * al * mo * tl.ld]);
    // V: each (n, c) writes its own tiles in all α² rows of channel c.
    let chunk_c = c.div_ceil(parts);
    let mut t0 = std::time::Instant::now();
    let wide = tl.wide;
    let xform_in = |ci0: usize, vs: &mut [f32], pad: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        if wide {
            for (k, vc) in vs.chunks_exact_mut(per_c).enumerate() {
                for n in 0..cs.n {
                    let src = &x[(n * c + ci0 + k) * in_size..][..in_size];
                    // SAFETY: AVX-512F is available (`tl.wide` comes from `use_avx512`).
                    unsafe { avx512::input_transform(tl, cs, n, src, pad, vc) };
                }
            }
            return;
        }
        with_avx2(|| {
            for (k, vc) in vs.chunks_exact_mut(per_c).enumerate() {
                for n in 0..cs.n {
                    let src = &x[(n * c + ci0 + k) * in_size..][..in_size];
                    input_transform(tl, cs, n, src, pad, vc);
                }
            }
        })
    };
    let par = parts > 1;
    let plen = tl.pd.len();
    split_zip(par, v, chunk_c * per_c, &mut s.pads, plen, |i, vs, pad| xform_in(i * chunk_c, vs, pad));
    phase_mark(0, &mut t0);
    // α² GEMMs: Mξ[M, T] = Uξ[M, C] · Vξ[C, T] (Vξ rows are strided by α²·ld).
    let v: &[f32] = v;
    let gemm = |xi: usize, out: &mut [f32]| -> Result<()> {
        let vsrc = Strided::new(&v[xi * tl.ld..], c, total, per_c, 1)?;
        let a = Operand::Packed(&w.u[xi]);
        sgemm(w.kern, 1.0, a, Operand::Src(&vsrc), 0.0, out, tl.ld, 1, &Epilogue::default())
    };
    crate::threads::try_for_each_chunk(mm, mo * tl.ld, gemm)?;
    phase_mark(1, &mut t0);
    // Output transform, parallel over output planes.
    let planes = cs.n * mo;
    let chunk_p = planes.div_ceil(parts);
    let mm: &[f32] = mm;
    let xform_out = |p0: usize, ys: &mut [f32], buf: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        if wide {
            for (k, dst) in ys.chunks_exact_mut(out_size).enumerate() {
                let (n, ko) = ((p0 + k) / mo, (p0 + k) % mo);
                let bias = b.map_or(0.0, |b| b[ko]);
                // SAFETY: AVX-512F is available (`tl.wide` comes from `use_avx512`).
                unsafe { avx512::output_transform(tl, cs, n, ko, mm, bias, act, buf, dst) };
            }
            return;
        }
        with_avx2(|| {
            for (k, dst) in ys.chunks_exact_mut(out_size).enumerate() {
                let (n, ko) = ((p0 + k) / mo, (p0 + k) % mo);
                let bias = b.map_or(0.0, |b| b[ko]);
                output_transform(tl, cs, n, ko, mm, bias, act, buf, dst);
            }
        })
    };
    let blen = s.bufs.len() / parts;
    let ys = &mut y[..planes * out_size];
    split_zip(par, ys, chunk_p * out_size, &mut s.bufs, blen, |i, ys, buf| xform_out(i * chunk_p, ys, buf));
    phase_mark(2, &mut t0);
    Ok(())
}
