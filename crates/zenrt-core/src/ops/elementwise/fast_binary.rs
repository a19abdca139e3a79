//! The f32 fast path of numpy-broadcast binary arithmetic: the broadcast is reduced to
//! "rows" of a contiguous inner block (same shape, scalar operand, bias rows `[.., N] + [N]`,
//! per-channel `[N, C, H, W] * [C, 1, 1]` all become one or a few long vector loops), each row
//! run by the `crate::simd` kernels, rows split over threads when the output is large.

use crate::ops::util::broadcast_shapes;
use crate::simd::{self, BinFn};
use crate::{checked_numel, DType, Result, Tensor};

/// One axis of the collapsed iteration space: length and the element stride of each operand
/// (0 where that operand is broadcast).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    len: usize,
    sa: usize,
    sb: usize,
}

/// Collapses `out` with the operands' (right-aligned) shapes into as few axes as possible,
/// outermost first. Axes of length 1 disappear; adjacent axes merge when both operands step
/// through them contiguously (or both broadcast the same way).
fn collapse(a: &[usize], b: &[usize], out: &[usize]) -> Vec<Axis> {
    let rank = out.len();
    let strides = |s: &[usize]| {
        let off = rank - s.len();
        let mut st = vec![0usize; rank];
        let mut acc = 1usize;
        for i in (0..rank).rev() {
            let d = if i >= off { s[i - off] } else { 1 };
            st[i] = if d == 1 { 0 } else { acc };
            acc *= d;
        }
        st
    };
    let (sa, sb) = (strides(a), strides(b));
    let mut axes: Vec<Axis> = Vec::with_capacity(rank);
    // Walk from the innermost axis outwards, merging into the last pushed (inner) axis.
    for i in (0..rank).rev() {
        if out[i] == 1 {
            continue;
        }
        let ax = Axis { len: out[i], sa: sa[i], sb: sb[i] };
        if let Some(inner) = axes.last_mut() {
            if ax.sa == inner.sa * inner.len && ax.sb == inner.sb * inner.len {
                inner.len *= ax.len;
                continue;
            }
        }
        axes.push(ax);
    }
    axes.reverse();
    axes
}

/// `a op b` for two f32 tensors with numpy broadcasting, or `None` if they are not both f32.
pub fn binary_f32(f: BinFn, a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return Ok(None);
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let n = checked_numel(&shape, DType::F32, "broadcast result")?;
    let (av, bv) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
    let mut out = crate::memory::alloc_for_overwrite::<f32>(n);
    if n > 0 {
        run(f, av, bv, &collapse(a.shape(), b.shape(), &shape), &mut out);
    }
    Ok(Some(Tensor::from_vec(shape, out)?))
}

/// Runs the collapsed iteration: the innermost axis is a contiguous row of the output.
fn run(f: BinFn, av: &[f32], bv: &[f32], axes: &[Axis], out: &mut [f32]) {
    let Some((inner, outer)) = axes.split_last() else {
        // Every axis has length 1: one element.
        simd::binary(f, &av[..1], &bv[..1], &mut out[..1]);
        return;
    };
    let len = inner.len;
    if outer.is_empty() {
        // A single row: split it over threads directly.
        simd::par::for_chunks(out, 16, |start, chunk| {
            row(f, av, bv, *inner, start * inner.sa, start * inner.sb, chunk);
        });
        return;
    }
    simd::par::for_rows(out, len, |r, dst| {
        // Offsets of row `r` in each operand: unravel `r` over the outer axes.
        let (mut oa, mut ob, mut rem) = (0usize, 0usize, r);
        for ax in outer.iter().rev() {
            let i = rem % ax.len;
            rem /= ax.len;
            oa += i * ax.sa;
            ob += i * ax.sb;
        }
        row(f, av, bv, *inner, oa, ob, dst);
    });
}

/// One contiguous output row starting at operand offsets `oa`/`ob` (advanced by the inner
/// stride, 1 or 0, of each operand).
fn row(f: BinFn, av: &[f32], bv: &[f32], inner: Axis, oa: usize, ob: usize, dst: &mut [f32]) {
    let n = dst.len();
    match (inner.sa != 0, inner.sb != 0) {
        (true, true) => simd::binary(f, &av[oa..oa + n], &bv[ob..ob + n], dst),
        (true, false) => simd::binary_vs(f, &av[oa..oa + n], bv[ob], dst),
        (false, true) => simd::binary_sv(f, av[oa], &bv[ob..ob + n], dst),
        (false, false) => {
            let mut one = [0f32];
            simd::binary(f, &av[oa..oa + 1], &bv[ob..ob + 1], &mut one);
            dst.fill(one[0]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::util::binary_map;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    fn random_tensor(rng: &mut Rng, shape: Vec<usize>) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (rng.below(2001) as f32 - 1000.0) / 37.0).collect();
        Tensor::from_vec(shape, v).unwrap()
    }

    /// Random broadcast-compatible shape pairs against the generic index-map path (f64 math,
    /// rounded: bitwise equal for + - * / which are correctly rounded either way).
    #[test]
    fn matches_generic_path_on_random_shapes() {
        let mut rng = Rng(42);
        let fns = [BinFn::Add, BinFn::Sub, BinFn::Mul, BinFn::Div];
        for case in 0..600 {
            let rank = rng.below(5);
            let out: Vec<usize> = (0..rank).map(|_| 1 + rng.below(if case % 50 == 0 { 70 } else { 6 })).collect();
            let pick = |rng: &mut Rng| -> Vec<usize> {
                let r = rng.below(rank as u64 + 1);
                out[rank - r..].iter().map(|&d| if rng.below(3) == 0 { 1 } else { d }).collect()
            };
            let (sa, sb) = (pick(&mut rng), pick(&mut rng));
            let (a, b) = (random_tensor(&mut rng, sa.clone()), random_tensor(&mut rng, sb.clone()));
            let f = fns[case % 4];
            let got = binary_f32(f, &a, &b).unwrap().unwrap();
            let want = binary_map::<f32, f32>(&a, &b, |x, y| {
                let (x, y) = (x as f64, y as f64);
                (match f {
                    BinFn::Add => x + y,
                    BinFn::Sub => x - y,
                    BinFn::Mul => x * y,
                    _ => x / y,
                }) as f32
            })
            .unwrap();
            assert_eq!(got.shape(), want.shape(), "{sa:?} {sb:?}");
            let (g, w) = (got.as_slice::<f32>().unwrap(), want.as_slice::<f32>().unwrap());
            assert!(g.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits()), "{f:?} {sa:?} {sb:?}");
        }
    }

    #[test]
    fn large_outputs_split_over_threads_agree() {
        let mut rng = Rng(7);
        let pool = crate::threads::pool(3).unwrap();
        for (sa, sb) in [
            (vec![2, 64, 40, 40], vec![64, 1, 1]),
            (vec![300, 768], vec![768]),
            (vec![200_000], vec![1]),
            (vec![1, 70_000], vec![1, 70_000]),
        ] {
            let (a, b) = (random_tensor(&mut rng, sa), random_tensor(&mut rng, sb));
            let serial = binary_f32(BinFn::Mul, &a, &b).unwrap().unwrap();
            let par = crate::threads::run_in(Some(&pool), || binary_f32(BinFn::Mul, &a, &b)).unwrap().unwrap();
            let want = binary_map::<f32, f32>(&a, &b, |x, y| x * y).unwrap();
            assert_eq!(serial.as_slice::<f32>().unwrap(), want.as_slice::<f32>().unwrap());
            assert_eq!(par.as_slice::<f32>().unwrap(), want.as_slice::<f32>().unwrap());
        }
    }

    #[test]
    fn collapse_common_patterns() {
        // Bias rows: one outer axis, inner row contiguous in both.
        assert_eq!(
            collapse(&[4, 32, 768], &[768], &[4, 32, 768]),
            vec![Axis { len: 128, sa: 768, sb: 0 }, Axis { len: 768, sa: 1, sb: 1 }]
        );
        // Per-channel NCHW.
        assert_eq!(
            collapse(&[2, 8, 5, 5], &[8, 1, 1], &[2, 8, 5, 5]),
            vec![Axis { len: 2, sa: 200, sb: 0 }, Axis { len: 8, sa: 25, sb: 1 }, Axis { len: 25, sa: 1, sb: 0 }]
        );
        // Same shape: one axis.
        assert_eq!(collapse(&[3, 4], &[3, 4], &[3, 4]), vec![Axis { len: 12, sa: 1, sb: 1 }]);
    }
}
