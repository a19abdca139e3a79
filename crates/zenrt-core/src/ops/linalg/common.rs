//! Helpers shared by the linalg family: strided GEMM kernels (f32/f64 through
//! `matrixmultiply`, exact wrapping i64 otherwise), numpy-style batched matmul,
//! float rounding to a dtype, and small tensor layout helpers.

use crate::ops::util::broadcast_shapes;
use crate::{bail, checked_numel, strides_of, DType, Elem, Error, Result, Tensor};

/// A strided view of an `m × k` (or `k × n`) matrix inside a flat buffer.
#[derive(Clone, Copy, Debug)]
pub struct MatView {
    pub off: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl MatView {
    /// A contiguous row-major matrix with `cols` columns at offset `off`.
    pub fn row_major(off: usize, cols: usize) -> MatView {
        MatView { off, rs: cols, cs: 1 }
    }
    /// The transpose of a contiguous row-major matrix with `cols` columns at offset `off`.
    pub fn transposed(off: usize, cols: usize) -> MatView {
        MatView { off, rs: 1, cs: cols }
    }
    /// Largest flat index touched by a `rows × cols` matrix (None when empty).
    fn last(&self, rows: usize, cols: usize) -> Option<usize> {
        if rows == 0 || cols == 0 {
            return None;
        }
        Some(self.off + (rows - 1) * self.rs + (cols - 1) * self.cs)
    }
}

/// Element types with a GEMM kernel: `C (m×n, row-major, contiguous) = A (m×k) · B (k×n)`.
pub trait GemmElem: Copy + Default + Send + Sync + 'static {
    /// Computes `c = alpha·A·B` (c is overwritten). Views are bounds-checked.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        av: MatView,
        b: &[Self],
        bv: MatView,
        c: &mut [Self],
    ) -> Result<()>;
}

#[allow(clippy::too_many_arguments)]
fn check_views<T>(m: usize, n: usize, k: usize, a: &[T], av: MatView, b: &[T], bv: MatView, c: &[T]) -> Result<()> {
    if c.len() < m * n {
        bail!("gemm: output buffer too small");
    }
    if av.last(m, k).is_some_and(|l| l >= a.len()) || bv.last(k, n).is_some_and(|l| l >= b.len()) {
        bail!("gemm: operand view out of bounds");
    }
    Ok(())
}

/// Multiply-adds up to which a float product runs as plain dot products (DLRM's interaction,
/// 5×32 · 32×5 per batch entry): the GEMM's packing and dispatch cost more than the product.
const TINY_GEMM: usize = 2048;

/// `c = A·B` by dot products (views checked by the caller).
#[allow(clippy::too_many_arguments)]
fn tiny_gemm<T: Copy + Default + std::ops::Mul<Output = T> + std::ops::Add<Output = T>>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    av: MatView,
    b: &[T],
    bv: MatView,
    c: &mut [T],
) {
    for i in 0..m {
        for j in 0..n {
            let (ai, bj) = (av.off + i * av.rs, bv.off + j * bv.cs);
            let mut s = T::default();
            for p in 0..k {
                s = s + a[ai + p * av.cs] * b[bj + p * bv.rs];
            }
            c[i * n + j] = s;
        }
    }
}

/// f32/f64 go through the shared checked kernel wrapper (`ops::gemm`), tiny products through
/// [`tiny_gemm`].
macro_rules! float_gemm {
    ($t:ty) => {
        impl GemmElem for $t {
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: &[$t],
                av: MatView,
                b: &[$t],
                bv: MatView,
                c: &mut [$t],
            ) -> Result<()> {
                check_views(m, n, k, a, av, b, bv, c)?;
                if m * n * k <= TINY_GEMM {
                    tiny_gemm(m, n, k, a, av, b, bv, c);
                    return Ok(());
                }
                let a = (a.get(av.off..).unwrap_or(&[]), av.rs, av.cs);
                let b = (b.get(bv.off..).unwrap_or(&[]), bv.rs, bv.cs);
                crate::ops::gemm::gemm(m, k, n, a, b, 0.0, c, n, 1)
            }
        }
    };
}
float_gemm!(f64);

impl GemmElem for f32 {
    fn gemm(m: usize, n: usize, k: usize, a: &[f32], av: MatView, b: &[f32], bv: MatView, c: &mut [f32]) -> Result<()> {
        check_views(m, n, k, a, av, b, bv, c)?;
        if m * n * k <= TINY_GEMM {
            tiny_gemm(m, n, k, a, av, b, bv, c);
            return Ok(());
        }
        if av.cs == 1 && bv.cs == 1 && n >= 16 && m * n * k <= DIRECT_GEMM {
            // SAFETY: the views were checked above: A has `m` rows of `k` values `av.rs` apart
            // from `av.off`, B `k` rows of `n` values `bv.rs` apart, C `m × n` values.
            unsafe {
                direct::run(m, n, k, a.as_ptr().add(av.off), av.rs, b.as_ptr().add(bv.off), bv.rs, c.as_mut_ptr())
            };
            return Ok(());
        }
        let a = (a.get(av.off..).unwrap_or(&[]), av.rs, av.cs);
        let b = (b.get(bv.off..).unwrap_or(&[]), bv.rs, bv.cs);
        crate::ops::gemm::gemm(m, k, n, a, b, 0.0, c, n, 1)
    }
}

/// Multiply-adds up to which an f32 product with unit-stride rows and at least 16 columns runs
/// the direct kernel below instead of the GEMM (attention heads: BERT's 32×64 · 64×32 per head,
/// 32 heads at batch 8, where the GEMM's per-call packing and dispatch cost several times the
/// product); narrower products would leave most columns to its dot-product tail.
const DIRECT_GEMM: usize = 1 << 17;

/// Small f32 products straight from row-major A and B: register tiles of up to 4 rows × 4
/// vectors accumulate over all of K (A broadcast per row and step, B rows loaded in place), no
/// packing; columns past the last whole vector by dot products.
mod direct {
    use crate::simd::vector::{F32x, Scalar};
    use crate::simd::Level;

    /// `c[m × n] = A · B`, A rows `lda` apart, B rows `ldb` apart, C contiguous.
    ///
    /// # Safety
    /// A holds `m` rows of `k` values, B `k` rows of `n` values, C `m · n` values.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn run(m: usize, n: usize, k: usize, a: *const f32, lda: usize, b: *const f32, ldb: usize, c: *mut f32) {
        let args = (m, n, k, a, lda, b, ldb, c);
        match crate::simd::level() {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => avx512(args),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => avx2(args),
            _ => body::<Scalar>(args),
        }
    }

    type Args = (usize, usize, usize, *const f32, usize, *const f32, usize, *mut f32);

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(args: Args) {
        body::<crate::simd::vector::Avx512>(args)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(args: Args) {
        body::<crate::simd::vector::Avx2>(args)
    }

    #[inline(always)]
    unsafe fn body<V: F32x>((m, n, k, a, lda, b, ldb, c): Args) {
        let full = n / V::N * V::N;
        let mut j = 0;
        while j < full {
            let nv = ((full - j) / V::N).min(4);
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(4);
                let (ai, bj, cij) = (a.add(i * lda), b.add(j), c.add(i * n + j));
                macro_rules! go {
                    ($r:literal) => {
                        match nv {
                            4 => tile::<V, $r, 4>(k, ai, lda, bj, ldb, cij, n),
                            3 => tile::<V, $r, 3>(k, ai, lda, bj, ldb, cij, n),
                            2 => tile::<V, $r, 2>(k, ai, lda, bj, ldb, cij, n),
                            _ => tile::<V, $r, 1>(k, ai, lda, bj, ldb, cij, n),
                        }
                    };
                }
                match rows {
                    4 => go!(4),
                    3 => go!(3),
                    2 => go!(2),
                    _ => go!(1),
                }
                i += rows;
            }
            j += nv * V::N;
        }
        for i in 0..m {
            for jj in full..n {
                let mut s = 0f32;
                for p in 0..k {
                    s = (*a.add(i * lda + p)).mul_add(*b.add(p * ldb + jj), s);
                }
                *c.add(i * n + jj) = s;
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<V: F32x, const R: usize, const NV: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        let mut acc = [[V::splat(0.0); NV]; R];
        for p in 0..k {
            let bp = b.add(p * ldb);
            let bv: [V; NV] = std::array::from_fn(|v| V::load(bp.add(v * V::N)));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = V::splat(*a.add(r * lda + p));
                for v in 0..NV {
                    row[v] = x.fma(bv[v], row[v]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                x.store(c.add(r * ldc + v * V::N));
            }
        }
    }
}

impl GemmElem for i64 {
    /// Exact integer product with wrapping (two's complement) arithmetic.
    fn gemm(m: usize, n: usize, k: usize, a: &[i64], av: MatView, b: &[i64], bv: MatView, c: &mut [i64]) -> Result<()> {
        check_views(m, n, k, a, av, b, bv, c)?;
        for i in 0..m {
            let row = &mut c[i * n..(i + 1) * n];
            row.fill(0);
            for p in 0..k {
                let x = a[av.off + i * av.rs + p * av.cs];
                if x == 0 {
                    continue;
                }
                let boff = bv.off + p * bv.rs;
                for (j, r) in row.iter_mut().enumerate() {
                    *r = r.wrapping_add(x.wrapping_mul(b[boff + j * bv.cs]));
                }
            }
        }
        Ok(())
    }
}

/// Multiply-adds of a batched product below which its matrices stay on one thread (a split
/// costs a few µs: DLRM's interaction products, short attention heads).
const PAR_BATCH_WORK: usize = 1 << 17;

/// Numpy `matmul` on flat row-major buffers: 1-D promotion and batch broadcasting.
/// Returns the output shape and data.
pub fn batched_matmul<G: GemmElem + crate::Elem>(
    a: &[G],
    ashape: &[usize],
    b: &[G],
    bshape: &[usize],
) -> Result<(Vec<usize>, Vec<G>)> {
    if ashape.is_empty() || bshape.is_empty() {
        bail!("MatMul: inputs must have rank >= 1, got shapes {ashape:?} and {bshape:?}");
    }
    let a2: Vec<usize> = if ashape.len() == 1 { vec![1, ashape[0]] } else { ashape.to_vec() };
    let b2: Vec<usize> = if bshape.len() == 1 { vec![bshape[0], 1] } else { bshape.to_vec() };
    let (m, ka) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if ka != kb {
        return Err(Error::Shape(format!("MatMul: inner dimensions differ for shapes {ashape:?} and {bshape:?}")));
    }
    let k = ka;
    let abatch = &a2[..a2.len() - 2];
    let bbatch = &b2[..b2.len() - 2];
    let batch = broadcast_shapes(abatch, bbatch)?;
    let mut out_shape = batch.clone();
    if ashape.len() > 1 {
        out_shape.push(m);
    }
    if bshape.len() > 1 {
        out_shape.push(n);
    }
    let total = checked_numel(&out_shape, DType::F64, "MatMul output")?;
    let mut out = crate::memory::alloc::<G>(total);
    if total == 0 {
        return Ok((out_shape, out));
    }
    // Fast path: B is a single matrix shared by every batch of A: fold A's batch into M.
    if bbatch.iter().product::<usize>() == 1 && batch.as_slice() == abatch {
        let rows = abatch.iter().product::<usize>() * m;
        G::gemm(rows, n, k, a, MatView::row_major(0, k), b, MatView::row_major(0, n), &mut out)?;
        return Ok((out_shape, out));
    }
    let nb: usize = batch.iter().product();
    let amap = batch_offsets(abatch, &batch);
    let bmap = batch_offsets(bbatch, &batch);
    let one = |(bi, chunk): (usize, &mut [G])| -> Result<()> {
        let ao = amap[bi] * m * k;
        let bo = bmap[bi] * k * n;
        G::gemm(m, n, k, a, MatView::row_major(ao, k), b, MatView::row_major(bo, n), chunk)
    };
    if crate::threads::current() > 1 && nb > 1 && nb * m * n * k >= PAR_BATCH_WORK {
        // Batched products (attention heads) run in parallel, one matrix per task.
        crate::threads::try_for_each_chunk(&mut out[..nb * m * n], m * n, |bi, chunk| one((bi, chunk)))?;
    } else {
        out.chunks_mut(m * n).take(nb).enumerate().try_for_each(one)?;
    }
    Ok((out_shape, out))
}

/// For each batch index of `out` (row-major), the index of the matching matrix of `src` (broadcast).
pub fn batch_offsets(src: &[usize], out: &[usize]) -> Vec<usize> {
    crate::ops::util::broadcast_index_map(src, out)
}

/// Rounds an f64 value to the precision of a float dtype (identity for f64 and non-floats).
#[inline]
pub fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::BF16 => half::bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

/// Builds a tensor of `dtype` from f64 values (rounding / converting each).
pub fn tensor_from_f64(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> Result<Tensor> {
    if dtype == DType::F64 {
        return Tensor::from_vec(shape, v);
    }
    crate::dispatch_all!(dtype, T => Tensor::from_vec(shape, v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>()))
}

/// Builds a tensor of integer `dtype` from i64 values (wrapping to the width).
pub fn tensor_from_i64(dtype: DType, shape: Vec<usize>, v: Vec<i64>) -> Result<Tensor> {
    crate::dispatch_all!(dtype, T => Tensor::from_vec(shape, v.iter().map(|&x| T::from_i64(x)).collect::<Vec<T>>()))
}

/// Transposes a tensor's flat data by `perm` (out axis i = in axis perm[i]).
pub fn permute<T: Copy>(data: &[T], shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<T>) {
    let rank = shape.len();
    let in_strides = strides_of(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let eff: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return (out_shape, out);
    }
    let mut idx = vec![0usize; rank];
    let mut cur = 0usize;
    for _ in 0..n {
        out.push(data[cur]);
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            cur += eff[ax];
            if idx[ax] < out_shape[ax] {
                break;
            }
            cur -= eff[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    (out_shape, out)
}

/// Splits `shape` around `axis` into (outer, len, inner) element counts.
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let len = shape.get(axis).copied().unwrap_or(1);
    let inner = shape.get(axis + 1..).map(|s| s.iter().product()).unwrap_or(1);
    (outer, len, inner)
}

/// Reads any numeric tensor as f64 values.
pub fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

/// Reads a tensor as `T` after checking its dtype.
pub fn typed<T: Elem>(t: &Tensor, what: &str) -> Result<Vec<T>> {
    if t.dtype() != T::DTYPE {
        bail!("{what}: expected {} but got {}", T::DTYPE, t.dtype());
    }
    Ok(t.as_slice::<T>()?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_broadcast_and_1d() {
        // [2,2,3] x [3] -> [2,2]
        let a: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let b = vec![1.0f32, 0.0, -1.0];
        let (s, o) = batched_matmul(&a, &[2, 2, 3], &b, &[3]).unwrap();
        assert_eq!(s, vec![2, 2]);
        assert_eq!(o, vec![-2.0, -2.0, -2.0, -2.0]);
        // [3] x [2,3,2] -> [2,2]
        let b: Vec<i64> = (0..12).collect();
        let (s, o) = batched_matmul(&[1i64, 1, 1], &[3], &b, &[2, 3, 2]).unwrap();
        assert_eq!(s, vec![2, 2]);
        assert_eq!(o, vec![6, 9, 24, 27]);
        // batch broadcast [2,1,2,2] x [3,2,2]
        let a: Vec<f64> = vec![1., 0., 0., 1., 2., 0., 0., 2.];
        let b: Vec<f64> = (0..12).map(|x| x as f64).collect();
        let (s, o) = batched_matmul(&a, &[2, 1, 2, 2], &b, &[3, 2, 2]).unwrap();
        assert_eq!(s, vec![2, 3, 2, 2]);
        assert_eq!(&o[..12], &b[..]);
        assert_eq!(o[12..].to_vec(), b.iter().map(|x| x * 2.0).collect::<Vec<_>>());
    }

    /// Float products on both sides of [`TINY_GEMM`] (dot products / the GEMM), strided and
    /// transposed views, batched and broadcast, against a float64 reference.
    #[test]
    fn float_products_match_f64() {
        let mut seed = 99u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % 2001) as f64 / 1000.0 - 1.0
        };
        let cases = [
            (1, 1, 1),
            (5, 32, 5),
            (3, 7, 2),
            (8, 16, 16),
            (9, 16, 16),
            (2, 1100, 1),
            // The direct kernel: attention heads, 4-row and 1..3-row tiles, 1..4 vectors, tails.
            (32, 64, 32),
            (32, 32, 64),
            (7, 50, 83),
            (13, 20, 100),
            (3, 300, 17),
            // Narrower than 16 columns: the GEMM.
            (600, 20, 8),
            // Past the direct kernel's limit: the GEMM.
            (64, 64, 40),
        ];
        for &(m, k, n) in &cases {
            let (a, b): (Vec<f64>, Vec<f64>) =
                ((0..m * k).map(|_| next()).collect(), (0..k * n).map(|_| next()).collect());
            let want: Vec<f64> =
                (0..m * n).map(|ij| (0..k).map(|p| a[(ij / n) * k + p] * b[p * n + ij % n]).sum()).collect();
            let (a32, b32): (Vec<f32>, Vec<f32>) =
                (a.iter().map(|&v| v as f32).collect(), b.iter().map(|&v| v as f32).collect());
            // Row-major views.
            let mut c = vec![f32::NAN; m * n];
            f32::gemm(m, n, k, &a32, MatView::row_major(0, k), &b32, MatView::row_major(0, n), &mut c).unwrap();
            // A stored transposed (k × m) behind 3 leading values, B transposed (n × k).
            let at: Vec<f32> = [0.0; 3].into_iter().chain((0..k * m).map(|i| a32[(i % m) * k + i / m])).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| b32[(i % k) * n + i / k]).collect();
            let mut ct = vec![f32::NAN; m * n];
            f32::gemm(m, n, k, &at, MatView::transposed(3, m), &bt, MatView::transposed(0, k), &mut ct).unwrap();
            // Batched with a broadcast B: [2, m, k] · [k, n] and [2, m, k] · [2, k, n].
            let a2: Vec<f32> = a32.iter().chain(&a32).copied().collect();
            let (_, o1) = batched_matmul(&a2, &[2, m, k], &b32, &[k, n]).unwrap();
            let b2: Vec<f32> = b32.iter().chain(&b32).copied().collect();
            let (_, o2) = batched_matmul(&a2, &[2, m, k], &b2, &[2, k, n]).unwrap();
            let mut c64 = vec![0f64; m * n];
            f64::gemm(m, n, k, &a, MatView::row_major(0, k), &b, MatView::row_major(0, n), &mut c64).unwrap();
            for ij in 0..m * n {
                let w = want[ij];
                let tol = 1e-5 * (1.0 + (0..k).map(|p| (a[(ij / n) * k + p] * b[p * n + ij % n]).abs()).sum::<f64>());
                for (got, what) in
                    [(c[ij], "c"), (ct[ij], "ct"), (o1[ij], "o1"), (o1[m * n + ij], "o1'"), (o2[m * n + ij], "o2")]
                {
                    assert!((got as f64 - w).abs() <= tol, "{m}x{k}x{n} {what}[{ij}]: {got} vs {w}");
                }
                assert!((c64[ij] - w).abs() <= 1e-12 * (1.0 + w.abs()), "f64 {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn permute_3d() {
        let d: Vec<i32> = (0..24).collect();
        let (s, o) = permute(&d, &[2, 3, 4], &[2, 0, 1]);
        assert_eq!(s, vec![4, 2, 3]);
        assert_eq!(o[1], 4); // out[0,0,1] = in[0,1,0]
        assert_eq!(o[6], 1); // out[1,0,0] = in[0,0,1]
    }
}
