//! Unique: unique elements (or slices along `axis`), sorted ascending (`sorted`=1, default) or in
//! order of first occurrence; outputs Y, first-occurrence indices, inverse indices and counts.
//! NaNs sort last and compare equal to each other.

use super::common::{axis_of, is_nan, prod, take, transpose_as};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{dispatch_all, Elem, Result, Tensor};
use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Debug)]
pub struct Unique {
    pub axis: Option<i64>,
    pub sorted: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Unique { axis: cx.int_opt("axis")?, sorted: cx.int("sorted", 1)? != 0 }))
}

fn cmp_elem<T: Elem>(a: T, b: T) -> Ordering {
    let (an, bn) = (is_nan(a), is_nan(b));
    match (an, bn) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Groups `n` items of length `len` (contiguous in `data`): returns (item position of each
/// group's first occurrence, group of each item, count per group), groups in output order.
fn group<T: Elem>(data: &[T], n: usize, len: usize, sorted: bool) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let item = |i: usize| &data[i * len..(i + 1) * len];
    let cmp = |a: usize, b: usize| {
        item(a)
            .iter()
            .zip(item(b))
            .map(|(&x, &y)| cmp_elem(x, y))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b)); // stable: first occurrence first within a group
    let mut firsts = Vec::new();
    let mut counts = Vec::new();
    let mut gid = vec![0usize; n];
    for (k, &i) in order.iter().enumerate() {
        if k == 0 || cmp(order[k - 1], i) != Ordering::Equal {
            firsts.push(i);
            counts.push(0);
        }
        gid[i] = firsts.len() - 1;
        *counts.last_mut().expect("a group exists") += 1;
    }
    if !sorted {
        // Renumber groups by first occurrence.
        let mut by_first: Vec<usize> = (0..firsts.len()).collect();
        by_first.sort_by_key(|&g| firsts[g]);
        let mut rank = vec![0usize; firsts.len()];
        for (new, &g) in by_first.iter().enumerate() {
            rank[g] = new;
        }
        firsts = by_first.iter().map(|&g| firsts[g]).collect();
        counts = by_first.iter().map(|&g| counts[g]).collect();
        for g in gid.iter_mut() {
            *g = rank[*g];
        }
    }
    (firsts, gid, counts)
}

fn i64_vec(v: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(vec![v.len()], v.iter().map(|&x| x as i64).collect::<Vec<i64>>())
}

impl Op for Unique {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Unique")?;
        let (firsts, gid, counts, y) = match self.axis {
            None => {
                let (f, g, c) = dispatch_all!(x.dtype(), T => Ok::<_, crate::Error>(group(x.as_slice::<T>()?, x.len(), 1, self.sorted)))?;
                let y = take(x, &f, vec![f.len()], None)?;
                (f, g, c, y)
            }
            Some(a) => {
                let a = axis_of(a, x.rank())?;
                let mut perm: Vec<usize> = vec![a];
                perm.extend((0..x.rank()).filter(|&i| i != a));
                let front = transpose_as(x, x.shape(), &perm)?;
                let n = x.shape()[a];
                let len = prod(x.shape()) / n.max(1);
                let (f, g, c) = dispatch_all!(x.dtype(), T => Ok::<_, crate::Error>(group(front.as_slice::<T>()?, n, len, self.sorted)))?;
                // Y: gather the chosen slices along the axis.
                let outer = prod(&x.shape()[..a]);
                let inner = prod(&x.shape()[a + 1..]);
                let mut idx = Vec::with_capacity(outer * f.len() * inner);
                for o in 0..outer {
                    for &j in &f {
                        let base = (o * n + j) * inner;
                        idx.extend(base..base + inner);
                    }
                }
                let mut shape = x.shape().to_vec();
                shape[a] = f.len();
                let y = take(x, &idx, shape, None)?;
                (f, g, c, y)
            }
        };
        Ok(vec![y, i64_vec(&firsts)?, i64_vec(&gid)?, i64_vec(&counts)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_examples() {
        let (f, g, c) = group(&[2i32, 1, 1, 3, 4, 3], 6, 1, false);
        assert_eq!((f, g, c), (vec![0, 1, 3, 4], vec![0, 1, 1, 2, 3, 2], vec![1, 2, 2, 1]));
        let (f, g, c) = group(&[1i32, 3, 2, 3], 4, 1, true);
        assert_eq!((f, g, c), (vec![0, 2, 1], vec![0, 2, 1, 2], vec![1, 1, 2]));
        let (f, _, c) = group(&[f32::NAN, 1.0, f32::NAN], 3, 1, true);
        assert_eq!((f, c), (vec![1, 0], vec![1, 2]));
    }
}
