//! MaxPool (with Indices), AveragePool and LpPool: sliding-window pooling over the spatial
//! axes of `[N, C, D1, ...]` with strides, dilations, pads, auto_pad and ceil_mode.

use super::common::{float_vec, from_f64_vec, nc_spatial, unravel, Geometry, Window};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, dispatch_numeric, strides_of, DType, Dim, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PoolKind {
    Max { storage_order: i64 },
    Average { count_include_pad: bool },
    Lp { p: f64 },
}

#[derive(Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub win: Window,
    /// Outputs the node has (MaxPool's Indices are skipped by the fast path when absent).
    pub n_outputs: usize,
}

pub fn build_max(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let storage_order = cx.int("storage_order", 0)?;
    if !(0..=1).contains(&storage_order) {
        return Err(Error::Attr { attr: "storage_order".into(), msg: format!("must be 0 or 1, got {storage_order}") });
    }
    Ok(Arc::new(Pool { kind: PoolKind::Max { storage_order }, win: Window::parse(cx, true)?, n_outputs: cx.n_outputs }))
}

pub fn build_average(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let count_include_pad = cx.int("count_include_pad", 0)? != 0;
    Ok(Arc::new(Pool {
        kind: PoolKind::Average { count_include_pad },
        win: Window::parse(cx, true)?,
        n_outputs: cx.n_outputs,
    }))
}

pub fn build_lp(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let p = cx.float("p", 2.0)? as f64;
    Ok(Arc::new(Pool { kind: PoolKind::Lp { p }, win: Window::parse(cx, true)?, n_outputs: cx.n_outputs }))
}

/// One window position along one axis: the valid input coordinates it covers and how many
/// kernel taps fall inside the padded input (for `count_include_pad`).
struct AxisWindows {
    taps: Vec<Vec<usize>>,
    padded_count: Vec<usize>,
}

fn axis_windows(geo: &Geometry, d: usize, in_len: usize) -> AxisWindows {
    let (k, s, dl) = (geo.kernel[d], geo.strides[d] as i64, geo.dilations[d] as i64);
    let (pb, pe) = (geo.pads_begin[d], geo.pads_end[d]);
    let mut taps = Vec::with_capacity(geo.out[d]);
    let mut padded_count = Vec::with_capacity(geo.out[d]);
    for o in 0..geo.out[d] as i64 {
        let start = o * s - pb;
        let pos = (0..k as i64).map(|t| start + t * dl);
        taps.push(pos.clone().filter(|&p| p >= 0 && p < in_len as i64).map(|p| p as usize).collect());
        padded_count.push(pos.filter(|&p| p < in_len as i64 + pe).count());
    }
    AxisWindows { taps, padded_count }
}

/// Visits the window of output position `o`: calls `f(coords)` for each valid input coordinate tuple.
fn for_each_tap(axes: &[AxisWindows], o: &[usize], cur: &mut [usize], f: &mut impl FnMut(&[usize])) {
    let r = axes.len();
    let lists: Vec<&[usize]> = (0..r).map(|d| axes[d].taps[o[d]].as_slice()).collect();
    if lists.iter().any(|l| l.is_empty()) {
        return;
    }
    let mut pos = vec![0usize; r];
    loop {
        for d in 0..r {
            cur[d] = lists[d][pos[d]];
        }
        f(cur);
        let mut d = r;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            pos[d] += 1;
            if pos[d] < lists[d].len() {
                break;
            }
            pos[d] = 0;
        }
    }
}

impl Pool {
    fn geometry(&self, x: &Tensor) -> Result<(usize, usize, Vec<usize>, Geometry)> {
        let (n, c, sp) = nc_spatial(x.shape(), "pool", 3)?;
        let geo = self.win.resolve(&sp, None)?;
        Ok((n, c, sp, geo))
    }

    fn max_pool<T: Elem>(&self, x: &Tensor, storage_order: i64) -> Result<(Tensor, Tensor)> {
        let (n, c, sp, geo) = self.geometry(x)?;
        let xv = x.as_slice::<T>()?;
        let mut out_shape = vec![n, c];
        out_shape.extend(&geo.out);
        let total = checked_numel(&out_shape, T::DTYPE, "MaxPool output")?;
        let axes: Vec<AxisWindows> = (0..sp.len()).map(|d| axis_windows(&geo, d, sp[d])).collect();
        let plane: usize = sp.iter().product();
        let out_plane: usize = geo.out.iter().product();
        let row = strides_of(&sp);
        // Column-major strides for storage_order = 1.
        let mut colm = vec![1usize; sp.len()];
        for d in 1..sp.len() {
            colm[d] = colm[d - 1] * sp[d - 1];
        }
        let mut y = Vec::with_capacity(total);
        let mut idx = Vec::with_capacity(total);
        let (mut o, mut cur) = (vec![0; sp.len()], vec![0; sp.len()]);
        let lowest = T::from_f64(f64::NEG_INFINITY);
        for nc in 0..n * c {
            let src = &xv[nc * plane..(nc + 1) * plane];
            for of in 0..out_plane {
                unravel(of, &geo.out, &mut o);
                let mut best: Option<(T, usize)> = None;
                for_each_tap(&axes, &o, &mut cur, &mut |p| {
                    let off: usize = p.iter().zip(&row).map(|(a, b)| a * b).sum();
                    let v = src[off];
                    if best.is_none_or(|(b, _)| v > b) {
                        let so = if storage_order == 1 { p.iter().zip(&colm).map(|(a, b)| a * b).sum() } else { off };
                        best = Some((v, so));
                    }
                });
                let (v, i) = best.unwrap_or((lowest, 0));
                y.push(v);
                idx.push((nc * plane + i) as i64);
            }
        }
        Ok((Tensor::from_vec(out_shape.clone(), y)?, Tensor::from_vec(out_shape, idx)?))
    }

    fn avg_lp(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, sp, geo) = self.geometry(x)?;
        let xv = float_vec(x, "pool")?;
        let mut out_shape = vec![n, c];
        out_shape.extend(&geo.out);
        let total = checked_numel(&out_shape, DType::F64, "pool output")?;
        let axes: Vec<AxisWindows> = (0..sp.len()).map(|d| axis_windows(&geo, d, sp[d])).collect();
        let plane: usize = sp.iter().product();
        let out_plane: usize = geo.out.iter().product();
        let row = strides_of(&sp);
        let mut y = Vec::with_capacity(total);
        let (mut o, mut cur) = (vec![0; sp.len()], vec![0; sp.len()]);
        for nc in 0..n * c {
            let src = &xv[nc * plane..(nc + 1) * plane];
            for of in 0..out_plane {
                unravel(of, &geo.out, &mut o);
                let (mut acc, mut cnt) = (0.0f64, 0usize);
                let kind = self.kind;
                for_each_tap(&axes, &o, &mut cur, &mut |p| {
                    let v = src[p.iter().zip(&row).map(|(a, b)| a * b).sum::<usize>()];
                    acc += match kind {
                        PoolKind::Lp { p } => v.abs().powf(p),
                        _ => v,
                    };
                    cnt += 1;
                });
                y.push(match kind {
                    PoolKind::Average { count_include_pad: true } => {
                        let div: usize = (0..sp.len()).map(|d| axes[d].padded_count[o[d]]).product();
                        acc / div as f64
                    }
                    PoolKind::Lp { p } => acc.powf(1.0 / p),
                    _ => acc / cnt as f64,
                });
            }
        }
        from_f64_vec(x.dtype(), out_shape, y)
    }
}

/// The valid kernel taps `lo..hi` of output position `o` along one axis, and the first input
/// coordinate (`o * stride - pad + lo * dilation`).
#[derive(Clone, Copy)]
struct Taps {
    lo: usize,
    hi: usize,
    first: usize,
    /// Taps inside the padded extent (for `count_include_pad`).
    padded: usize,
}

fn taps(geo: &Geometry, d: usize, in_len: usize) -> Vec<Taps> {
    let (k, s, dl) = (geo.kernel[d] as i64, geo.strides[d] as i64, geo.dilations[d] as i64);
    let (pb, pe, n) = (geo.pads_begin[d], geo.pads_end[d], in_len as i64);
    (0..geo.out[d] as i64)
        .map(|o| {
            let start = o * s - pb;
            let pos = |t: i64| start + t * dl;
            let lo = (0..k).find(|&t| pos(t) >= 0).unwrap_or(k);
            let hi = (lo..k).find(|&t| pos(t) >= n).unwrap_or(k).max(lo);
            let padded = (0..k).filter(|&t| pos(t) < n + pe).count();
            Taps { lo: lo as usize, hi: hi as usize, first: pos(lo).max(0) as usize, padded }
        })
        .collect()
}

impl Pool {
    /// MaxPool (without Indices) and AveragePool over 2-D f32 images: precomputed tap ranges
    /// per output row/column, image planes split over threads. `None` when not applicable.
    fn fast_2d_f32(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let max = match self.kind {
            PoolKind::Max { .. } if self.n_outputs <= 1 => true,
            PoolKind::Average { .. } => false,
            _ => return Ok(None),
        };
        if x.dtype() != DType::F32 || x.rank() != 4 {
            return Ok(None);
        }
        let (n, c, sp, geo) = self.geometry(x)?;
        let (h, w) = (sp[0], sp[1]);
        let (oh, ow) = (geo.out[0], geo.out[1]);
        let total = checked_numel(&[n, c, oh, ow], DType::F32, "pool output")?;
        let (ty, tx) = (taps(&geo, 0, h), taps(&geo, 1, w));
        let (dh, dw) = (geo.dilations[0], geo.dilations[1]);
        let include_pad = matches!(self.kind, PoolKind::Average { count_include_pad: true });
        let xv = x.as_slice::<f32>()?;
        let mut y = crate::memory::alloc_for_overwrite::<f32>(total);
        // Output columns whose window lies wholly inside the input (no per-tap bounds there).
        let kw = geo.kernel[1];
        let full = |b: &Taps| b.lo == 0 && b.hi == kw;
        let ox0 = tx.iter().position(full).unwrap_or(ow);
        let ox1 = ox0 + tx[ox0..].iter().take_while(|b| full(b)).count();
        let sw = geo.strides[1];
        // Non-overlapping pairs (2-wide, stride 2): one pass over adjacent input pairs.
        let pairs = kw == 2 && sw == 2 && dw == 1;
        let plane = (oh * ow).max(1);
        let borders = ox0 > 0 || ox1 < ow;
        // 3×3 stride-2 max windows (ResNet's stem pool), left pad 0 or 1: the AVX-512 row kernel.
        let max3s2 = max
            && geo.kernel[..] == [3, 3]
            && geo.strides[..] == [2, 2]
            && dh == 1
            && dw == 1
            && geo.pads_begin[1] <= 1
            && max3s2_available()
            && max3s2_on();
        // 2×2 stride-2 max windows without padding (every window whole): the plane kernel.
        let plane2x2 = max
            && pairs
            && geo.kernel[0] == 2
            && geo.strides[0] == 2
            && dh == 1
            && ty.iter().all(|a| a.hi - a.lo == 2)
            && ox0 == 0
            && ox1 == ow
            && ty.iter().enumerate().all(|(oy, a)| a.first == 2 * oy)
            && tx.iter().enumerate().all(|(ox, b)| b.first == 2 * ox);
        let one_plane = |p: usize, out: &mut [f32], rowred: &mut [f32]| {
            if plane2x2 {
                max_2x2_plane(&xv[p * h * w..], w, oh, out);
                return;
            }
            let src = &xv[p * h * w..(p + 1) * h * w];
            if max3s2 {
                for (oy, a) in ty.iter().enumerate() {
                    let rows: [&[f32]; 3] = std::array::from_fn(|k| {
                        let r = a.first + k.min((a.hi - a.lo).saturating_sub(1));
                        if a.hi > a.lo {
                            &src[r * w..][..w]
                        } else {
                            &[]
                        }
                    });
                    max3s2_row(rows, a.hi - a.lo, geo.pads_begin[1] as usize, &mut out[oy * ow..][..ow], rowred);
                }
                return;
            }
            for (oy, a) in ty.iter().enumerate() {
                let orow = &mut out[oy * ow..(oy + 1) * ow];
                let rows = a.hi - a.lo;
                // 2×2 stride-2 max windows over two whole rows: straight from the input rows.
                if max && pairs && rows == 2 && dh == 1 && ox0 < ox1 {
                    let (r0, r1) = (&src[a.first * w..][..w], &src[(a.first + 1) * w..][..w]);
                    let f = tx[ox0].first;
                    max_2x2(&r0[f..], &r1[f..], &mut orow[ox0..ox1]);
                    if !borders {
                        continue;
                    }
                }
                // Reduce the window's input rows into one row (contiguous, vectorised).
                if rows == 0 {
                    rowred.fill(if max { f32::NEG_INFINITY } else { 0.0 });
                } else {
                    rowred.copy_from_slice(&src[a.first * w..a.first * w + w]);
                }
                for ky in 1..rows {
                    let r = &src[(a.first + ky * dh) * w..(a.first + ky * dh) * w + w];
                    if max {
                        rowred.iter_mut().zip(r).for_each(|(t, &v)| *t = if v > *t { v } else { *t });
                    } else {
                        rowred.iter_mut().zip(r).for_each(|(t, &v)| *t += v);
                    }
                }
                // Interior columns: one strided pass per kernel column.
                if max && pairs && rows == 2 && dh == 1 {
                    // Done above.
                } else if ox0 < ox1 && pairs {
                    let (o, taps) = (&mut orow[ox0..ox1], rowred[tx[ox0].first..].chunks_exact(2));
                    if max {
                        o.iter_mut().zip(taps).for_each(|(t, q)| *t = if q[1] > q[0] { q[1] } else { q[0] });
                    } else {
                        o.iter_mut().zip(taps).for_each(|(t, q)| *t = q[0] + q[1]);
                    }
                } else if ox0 < ox1 {
                    let o = &mut orow[ox0..ox1];
                    for kx in 0..kw {
                        let taps = rowred[tx[ox0].first + kx * dw..].iter().step_by(sw);
                        if kx == 0 {
                            o.iter_mut().zip(taps).for_each(|(t, &v)| *t = v);
                        } else if max {
                            o.iter_mut().zip(taps).for_each(|(t, &v)| *t = if v > *t { v } else { *t });
                        } else {
                            o.iter_mut().zip(taps).for_each(|(t, &v)| *t += v);
                        }
                    }
                }
                // Border columns (and the interior's average divisor).
                for (ox, b) in tx.iter().enumerate() {
                    let interior = (ox0..ox1).contains(&ox);
                    if !interior {
                        let mut taps = (0..b.hi - b.lo).map(|kx| rowred[b.first + kx * dw]);
                        orow[ox] = if max {
                            let first = taps.next().unwrap_or(f32::NEG_INFINITY);
                            taps.fold(first, |m, v| if v > m { v } else { m })
                        } else {
                            taps.sum()
                        };
                    }
                    if !max {
                        let cnt = if include_pad { a.padded * b.padded } else { rows * (b.hi - b.lo) };
                        orow[ox] /= cnt as f32;
                    }
                }
            }
        };
        // Planes in chunks over the threads (sized by the input read, `h·w` per plane: a 2×2 pool
        // reads 4 values per output); one row buffer per chunk, AVX2 code when available.
        let planes = n * c;
        let per = planes.div_ceil(crate::simd::par::pieces(planes, h * w)) * plane;
        crate::threads::for_each_chunk(&mut y, per.max(1), |i, chunk| {
            crate::simd::with_avx2(|| {
                let mut rowred = vec![0f32; if max3s2 { max3s2_buf_len(w, ow) } else { w }];
                for (k, out) in chunk.chunks_mut(plane).enumerate() {
                    one_plane(i * per / plane + k, out, &mut rowred);
                }
            })
        });
        Ok(Some(Tensor::from_vec(vec![n, c, oh, ow], y)?))
    }
}

/// Whether [`max3s2_row`] runs its AVX-512 code (else the scalar loop).
fn max3s2_available() -> bool {
    cfg!(target_arch = "x86_64") && crate::simd::level() == crate::simd::Level::Avx512
}

/// 0 until `ZENRT_POOL_MAX3S2` is read (`off`: 3×3 stride-2 max pools take the generic row
/// code), then 1 (on) or 2 (off); tests set it directly.
static MAX3S2: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether the 3×3 stride-2 max-pool row kernel is switched on.
fn max3s2_on() -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    match MAX3S2.load(Relaxed) {
        0 => {
            let on = !matches!(std::env::var("ZENRT_POOL_MAX3S2").as_deref(), Ok("off" | "0"));
            MAX3S2.store(if on { 1 } else { 2 }, Relaxed);
            on
        }
        v => v == 1,
    }
}

/// The row buffer [`max3s2_row`] needs for input rows of `w` and output rows of `ow`.
fn max3s2_buf_len(w: usize, ow: usize) -> usize {
    (w + 2).max(2 * ow + 2) + 32
}

/// One output row of a 3×3 stride-2 max pool (left pad `pw` <= 1): the column-wise max of the
/// window's `rows` rows (1..=3; those of `r` past `rows` repeat a used row; 0: the window is all
/// padding) into `buf` after one `-inf` column (and `-inf` past the row), then `out[j]` the max
/// of `buf` at `2j + 1 - pw .. 2j + 4 - pw`: the stride-2 split done once per output row.
fn max3s2_row(r: [&[f32]; 3], rows: usize, pw: usize, out: &mut [f32], buf: &mut [f32]) {
    let ow = out.len();
    let w = if rows == 0 { 0 } else { r[0].len() };
    assert!(pw <= 1 && buf.len() >= max3s2_buf_len(w, ow) && r.iter().all(|x| x.len() == w || rows == 0));
    buf[0] = f32::NEG_INFINITY;
    buf[w + 1..].fill(f32::NEG_INFINITY);
    let off = 1 - pw;
    #[cfg(target_arch = "x86_64")]
    if max3s2_available() {
        // SAFETY: AVX-512F is available; the rows hold `w` values and `buf` `w + 1`; `buf` holds
        // `2·ow + 34 >= off + 2·j + 34` values for every group of 16 outputs from `j < ow`
        // (`max3s2_buf_len`).
        unsafe {
            if rows > 0 {
                max3_rows_avx512(r, &mut buf[1..=w]);
            }
            max3s2_avx512(&buf[off..], out);
        }
        return;
    }
    if rows > 0 {
        buf[1..=w].copy_from_slice(r[0]);
        for x in &r[1..rows] {
            for (b, &v) in buf[1..=w].iter_mut().zip(*x) {
                *b = if v > *b { v } else { *b };
            }
        }
    }
    for (j, o) in out.iter_mut().enumerate() {
        let t = &buf[off + 2 * j..][..3];
        let m = if t[1] > t[0] { t[1] } else { t[0] };
        *o = if t[2] > m { t[2] } else { m };
    }
}

/// `dst[i] = max(r[0][i], r[1][i], r[2][i])`.
/// Safety: AVX-512F is available; the rows hold `dst.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max3_rows_avx512(r: [&[f32]; 3], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = dst.len();
    assert!(r.iter().all(|x| x.len() >= n));
    let (a, b, c, d) = (r[0].as_ptr(), r[1].as_ptr(), r[2].as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        let v = _mm512_max_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
        _mm512_storeu_ps(d.add(i), _mm512_max_ps(v, _mm512_loadu_ps(c.add(i))));
        i += 16;
    }
    if i < n {
        let m = ((1u32 << (n - i)) - 1) as __mmask16;
        let v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, a.add(i)), _mm512_maskz_loadu_ps(m, b.add(i)));
        _mm512_mask_storeu_ps(d.add(i), m, _mm512_max_ps(v, _mm512_maskz_loadu_ps(m, c.add(i))));
    }
}

/// `out[j] = max(b[2j], b[2j + 1], b[2j + 2])`, 16 outputs per 4 loads and 3 permutes.
/// Safety: AVX-512F is available; `b` holds `2·out.len() + 32` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max3s2_avx512(b: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = out.len();
    assert!(b.len() >= 2 * n + 32);
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let p = b.as_ptr();
    let mut j = 0;
    while j < n {
        let k = (n - j).min(16);
        let q = p.add(2 * j);
        let (x0, x1) = (_mm512_loadu_ps(q), _mm512_loadu_ps(q.add(16)));
        let (y0, y1) = (_mm512_loadu_ps(q.add(2)), _mm512_loadu_ps(q.add(18)));
        let m = _mm512_max_ps(_mm512_permutex2var_ps(x0, ie, x1), _mm512_permutex2var_ps(x0, io, x1));
        let m = _mm512_max_ps(m, _mm512_permutex2var_ps(y0, ie, y1));
        if k == 16 {
            _mm512_storeu_ps(out.as_mut_ptr().add(j), m);
        } else {
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(j), ((1u32 << k) - 1) as __mmask16, m);
        }
        j += 16;
    }
}

/// `out[j] = max(r0[2j], r0[2j+1], r1[2j], r1[2j+1])` (a 2×2 stride-2 max window per output).
/// `r0` and `r1` hold at least `2·out.len()` values.
fn max_2x2(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut j = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::level() == crate::simd::Level::Avx512 && r0.len() >= 2 * n && r1.len() >= 2 * n {
        // SAFETY: AVX-512F is available (run-time detection); both rows hold `2·n` values.
        j = unsafe { max_2x2_avx512(r0, r1, out) };
    } else if crate::simd::level() != crate::simd::Level::Scalar && r0.len() >= 2 * n && r1.len() >= 2 * n {
        // SAFETY: AVX2 is available (run-time detection); both rows hold `2·n` values.
        j = unsafe { max_2x2_avx2(r0, r1, out) };
    }
    for (o, (p, q)) in out[j..].iter_mut().zip(r0[2 * j..].chunks_exact(2).zip(r1[2 * j..].chunks_exact(2))) {
        let (a, b) = (p[0].max(p[1]), q[0].max(q[1]));
        *o = a.max(b);
    }
}

/// Whether [`max_2x2_plane`] runs its AVX-512 code (else the row kernel, row by row).
fn max_2x2_plane_available() -> bool {
    cfg!(target_arch = "x86_64") && crate::simd::level() == crate::simd::Level::Avx512
}

/// One plane of a 2×2 stride-2 max pool without padding: `out[oy·ow + ox]` (`out.len()` is
/// `oh·ow`) the max of `x[(2oy + i)·w + 2ox + j]`, `i, j < 2`; `x` starts at the plane and runs to
/// the end of the tensor (rows of `w >= 2·ow` values, `2·oh` of them).
///
/// 16 outputs a vector. A row's last vector is stored whole when the lanes past the row still
/// lie in this plane's output (they land on later rows, which are written after) and loaded
/// whole when its 32 values lie in `x`: only the plane's last row masks. Masked loads and stores
/// are slow on Zen 5; keras_cnn's 15-wide rows took one masked vector each.
fn max_2x2_plane(x: &[f32], w: usize, oh: usize, out: &mut [f32]) {
    let ow = out.len().checked_div(oh).unwrap_or(0);
    assert!(out.len() == oh * ow && 2 * ow <= w && x.len() >= 2 * oh * w);
    #[cfg(target_arch = "x86_64")]
    if max_2x2_plane_available() {
        // SAFETY: AVX-512F is available; the bounds of every whole access are checked inside
        // against `x.len()` and `out.len()`, checked above to cover the rows.
        unsafe { max_2x2_plane_avx512(x, w, oh, ow, out) };
        return;
    }
    for oy in 0..oh {
        let (r0, r1) = (&x[2 * oy * w..][..w], &x[(2 * oy + 1) * w..][..w]);
        max_2x2(r0, r1, &mut out[oy * ow..][..ow]);
    }
}

/// [`max_2x2_plane`] with AVX-512.
/// Safety: AVX-512F is available; `out.len() == oh·ow`, `2·ow <= w`, `x.len() >= 2·oh·w`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_2x2_plane_avx512(x: &[f32], w: usize, oh: usize, ow: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mask = |k: usize| -> __mmask16 { ((1u32 << k.min(16)) - 1) as __mmask16 };
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
    for oy in 0..oh {
        let (i0, i1) = (2 * oy * w, (2 * oy + 1) * w);
        let mut j = 0;
        while j < ow {
            let k = (ow - j).min(16);
            let (p, q) = (xp.add(i0 + 2 * j), xp.add(i1 + 2 * j));
            let (a, b) = if i1 + 2 * j + 32 <= x.len() {
                let a = _mm512_max_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(q));
                (a, _mm512_max_ps(_mm512_loadu_ps(p.add(16)), _mm512_loadu_ps(q.add(16))))
            } else {
                let (m0, m1) = (mask(2 * k), mask((2 * k).saturating_sub(16)));
                let a = _mm512_max_ps(_mm512_maskz_loadu_ps(m0, p), _mm512_maskz_loadu_ps(m0, q));
                (a, _mm512_max_ps(_mm512_maskz_loadu_ps(m1, p.add(16)), _mm512_maskz_loadu_ps(m1, q.add(16))))
            };
            let m = _mm512_max_ps(_mm512_permutex2var_ps(a, ie, b), _mm512_permutex2var_ps(a, io, b));
            let o = oy * ow + j;
            if o + 16 <= out.len() {
                _mm512_storeu_ps(op.add(o), m);
            } else {
                _mm512_mask_storeu_ps(op.add(o), mask(k), m);
            }
            j += 16;
        }
    }
}

/// [`max_2x2`] in groups of 8 outputs (none when there are fewer than 8); returns how many
/// outputs it wrote.
/// Safety: AVX2 is available; `r0` and `r1` hold at least `2·out.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_2x2_avx2(r0: &[f32], r1: &[f32], out: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let n = out.len();
    if n < 8 {
        return 0;
    }
    let mut j = 0;
    loop {
        // The last group overlaps the previous one when `n` is not a multiple of 8 (the max of
        // a window does not change when it is written twice).
        if j + 8 > n {
            j = n - 8;
        }
        let (p, q) = (r0.as_ptr().add(2 * j), r1.as_ptr().add(2 * j));
        let a = _mm256_max_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(q));
        let b = _mm256_max_ps(_mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(q.add(8)));
        // Even and odd columns: [a0 a2 b0 b2 | a4 a6 b4 b6] and [a1 a3 b1 b3 | a5 a7 b5 b7].
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
        let m = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(_mm256_max_ps(even, odd))));
        _mm256_storeu_ps(out.as_mut_ptr().add(j), m);
        j += 8;
        if j >= n {
            return n;
        }
    }
}

/// [`max_2x2`] in groups of 16 outputs, the last one masked; returns `out.len()`.
/// Safety: AVX-512F is available; `r0` and `r1` hold at least `2·out.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_2x2_avx512(r0: &[f32], r1: &[f32], out: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let n = out.len();
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mask = |k: usize| -> __mmask16 { ((1u32 << k.min(16)) - 1) as __mmask16 };
    let mut j = 0;
    while j < n {
        let k = (n - j).min(16);
        let (p, q) = (r0.as_ptr().add(2 * j), r1.as_ptr().add(2 * j));
        let (m0, m1) = (mask(2 * k), mask((2 * k).saturating_sub(16)));
        let a = _mm512_max_ps(_mm512_maskz_loadu_ps(m0, p), _mm512_maskz_loadu_ps(m0, q));
        let b = _mm512_max_ps(_mm512_maskz_loadu_ps(m1, p.add(16)), _mm512_maskz_loadu_ps(m1, q.add(16)));
        let m = _mm512_max_ps(_mm512_permutex2var_ps(a, ie, b), _mm512_permutex2var_ps(a, io, b));
        _mm512_mask_storeu_ps(out.as_mut_ptr().add(j), mask(k), m);
        j += 16;
    }
    n
}

impl Op for Pool {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "pool")?;
        if let Some(y) = self.fast_2d_f32(x)? {
            return Ok(vec![y]);
        }
        match self.kind {
            PoolKind::Max { storage_order } => {
                let (y, i) = dispatch_numeric!(x.dtype(), T => self.max_pool::<T>(x, storage_order))?;
                Ok(vec![y, i])
            }
            _ => Ok(vec![self.avg_lp(x)?]),
        }
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(x) = inputs.first().and_then(|i| i.info) else {
            return Ok(vec![]);
        };
        let shape = x.shape.as_ref().filter(|s| s.len() >= 3).map(|s| {
            let mut out = s[..2].to_vec();
            out.extend(self.win.infer_dims(&s[2..], None));
            out
        });
        let mut v = vec![ValueInfo::new("", x.dtype, shape.clone())];
        if matches!(self.kind, PoolKind::Max { .. }) {
            v.push(ValueInfo::new("", Some(DType::I64), shape));
        }
        Ok(v)
    }
}

/// Symbolic `[N, C, 1, ...]` for global pools.
pub fn infer_global(inputs: &[InferInput]) -> Vec<ValueInfo> {
    let Some(x) = inputs.first().and_then(|i| i.info) else {
        return vec![];
    };
    let shape = x.shape.as_ref().filter(|s| s.len() >= 2).map(|s| {
        let mut out = s[..2].to_vec();
        out.extend(std::iter::repeat_n(Dim::Known(1), s.len() - 2));
        out
    });
    vec![ValueInfo::new("", x.dtype, shape)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::nn::common::AutoPad;

    fn window(k: [i64; 2], s: [i64; 2], d: [i64; 2], pads: [i64; 4], ceil: bool) -> Window {
        Window {
            kernel_shape: Some(k.to_vec()),
            strides: Some(s.to_vec()),
            dilations: Some(d.to_vec()),
            pads: Some(pads.to_vec()),
            auto_pad: AutoPad::NotSet,
            ceil_mode: ceil,
        }
    }

    /// The 2-D f32 fast path against the generic N-D path on assorted geometries, serially and
    /// on a 2-thread pool (the 8×32×30×30 input splits its planes).
    #[test]
    fn fast_2d_matches_generic() {
        let pool = crate::threads::pool(2);
        for threads in [None, pool.as_deref()] {
            crate::threads::run_in(threads, || {
                for (n, c, h, w) in [
                    (2, 3, 11, 9),
                    (2, 3, 13, 37),
                    (2, 3, 8, 32),
                    (8, 32, 30, 30),
                    (1, 5, 7, 23),
                    (1, 2, 5, 67),
                    (2, 3, 1, 1),
                    (1, 2, 3, 2),
                    (2, 4, 57, 66),
                    // 2×2/2 plane kernel: rows of 15, 16, 17 and 33 outputs, odd widths, 1×1 output.
                    (3, 5, 31, 31),
                    (2, 3, 32, 32),
                    (1, 3, 6, 35),
                    (2, 2, 9, 66),
                    (1, 3, 2, 2),
                ] {
                    fast_2d_matches_generic_on(n, c, h, w);
                }
            });
        }
    }

    /// MaxPool 3×3/2 pad 1 of ResNet-50's stem output (batch `ZENRT_TIMING_N`, default 8), 1 thread,
    /// row kernel against the generic rows: `cargo test --release -p zenrt-core max_pool_timing --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn max_pool_timing() {
        use std::sync::atomic::Ordering::Relaxed;
        let n: usize = std::env::var("ZENRT_TIMING_N").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
        let x: Vec<f32> = (0..n * 64 * 112 * 112).map(|i| ((i * 37) % 101) as f32 * 0.1 - 5.0).collect();
        let x = Tensor::from_vec(vec![n, 64, 112, 112], x).unwrap();
        let pool = Pool {
            kind: PoolKind::Max { storage_order: 0 },
            win: window([3, 3], [2, 2], [1, 1], [1; 4], false),
            n_outputs: 1,
        };
        for round in 0..3 {
            for (name, v) in [("row kernel", 1), ("generic", 2)] {
                MAX3S2.store(v, Relaxed);
                let mut best = f64::MAX;
                for _ in 0..10 {
                    let t = std::time::Instant::now();
                    let y = pool.fast_2d_f32(&x).unwrap().unwrap();
                    best = best.min(t.elapsed().as_secs_f64() * 1e3);
                    drop(y);
                }
                println!("round {round} {name}: {best:.3} ms");
            }
        }
        MAX3S2.store(0, Relaxed);
    }

    fn fast_2d_matches_generic_on(n: usize, c: usize, h: usize, w: usize) {
        let x: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 37) % 101) as f32 * 0.1 - 5.0).collect();
        let x = Tensor::from_vec(vec![n, c, h, w], x).unwrap();
        let geoms = [
            ([3, 3], [2, 2], [1, 1], [1, 1, 1, 1], false),
            // 3×3 stride 2 (the AVX-512 row kernel): no pad, ceil mode, uneven and large pads.
            ([3, 3], [2, 2], [1, 1], [0, 0, 0, 0], false),
            ([3, 3], [2, 2], [1, 1], [0, 1, 1, 0], true),
            ([3, 3], [2, 2], [1, 1], [2, 0, 2, 2], true),
            ([3, 3], [2, 2], [1, 1], [1, 1, 2, 2], false),
            ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], true),
            ([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], false),
            ([2, 2], [2, 2], [1, 1], [0, 1, 1, 0], true),
            ([2, 2], [2, 2], [1, 1], [1, 1, 0, 1], false),
            ([3, 2], [1, 2], [2, 1], [2, 0, 1, 1], false),
            ([5, 5], [3, 3], [1, 1], [2, 2, 2, 2], true),
            ([1, 1], [1, 1], [1, 1], [0, 0, 0, 0], false),
        ];
        for (k, s, d, p, ceil) in geoms {
            for kind in [
                PoolKind::Max { storage_order: 0 },
                PoolKind::Average { count_include_pad: false },
                PoolKind::Average { count_include_pad: true },
            ] {
                let pool = Pool { kind, win: window(k, s, d, p, ceil), n_outputs: 1 };
                let fast = match pool.fast_2d_f32(&x) {
                    Ok(f) => f.unwrap(),
                    // Images smaller than the window: both paths refuse them.
                    Err(_) => {
                        assert!(pool.max_pool::<f32>(&x, 0).is_err() && pool.avg_lp(&x).is_err());
                        continue;
                    }
                };
                let want = match kind {
                    PoolKind::Max { .. } => pool.max_pool::<f32>(&x, 0).unwrap().0,
                    _ => pool.avg_lp(&x).unwrap(),
                };
                assert_eq!(fast.shape(), want.shape());
                for (a, b) in fast.as_slice::<f32>().unwrap().iter().zip(want.as_slice::<f32>().unwrap()) {
                    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{kind:?} {k:?} {s:?}: {a} vs {b}");
                }
            }
        }
    }
}
