//! Einsum: explicit (`->`) and implicit output, ellipsis broadcasting, repeated indices
//! (diagonals) and reductions.
//!
//! Method: every operand first takes its diagonals (repeated labels) and sums out labels used
//! by no other operand and not by the output; operands are then contracted left to right, each
//! pairwise contraction being a batched matrix product (`[batch, a_only, shared] ·
//! [batch, shared, b_only]`); the result is finally permuted to the output order.
//! Floats compute in f64 (through `matrixmultiply`) and round to the input type; integers
//! are exact (wrapping).

use super::common::{permute, tensor_from_f64, tensor_from_i64, GemmElem, MatView};
use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, strides_of, DType, Error, Result, Tensor};
use std::sync::Arc;

/// A label: letters are 0..52, ellipsis dimensions are 1000 + position.
type Label = usize;
const ELL: Label = 1000;

#[derive(Debug)]
pub struct Einsum {
    pub equation: String,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let equation = cx
        .string_opt("equation")?
        .ok_or_else(|| Error::Attr { attr: "equation".into(), msg: "required attribute is missing".into() })?;
    Ok(Arc::new(Einsum { equation }))
}

/// One parsed term: letters in order and the position of the ellipsis (if any) among them.
#[derive(Debug, Clone)]
struct Term {
    letters: Vec<Label>,
    ellipsis_at: Option<usize>,
}

fn letter(c: char) -> Result<Label> {
    match c {
        'a'..='z' => Ok(c as usize - 'a' as usize),
        'A'..='Z' => Ok(26 + c as usize - 'A' as usize),
        _ => bail!("Einsum: invalid character '{c}' in equation"),
    }
}

fn parse_term(s: &str) -> Result<Term> {
    let mut letters = vec![];
    let mut ellipsis_at = None;
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            if ellipsis_at.is_some() {
                bail!("Einsum: more than one ellipsis in term '{s}'");
            }
            ellipsis_at = Some(letters.len());
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            letters.push(letter(c)?);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(Term { letters, ellipsis_at })
}

/// The per-operand label lists and the output labels for operands of the given ranks.
fn plan(equation: &str, ranks: &[usize]) -> Result<(Vec<Vec<Label>>, Vec<Label>)> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<Term> = lhs.split(',').map(parse_term).collect::<Result<_>>()?;
    if terms.len() != ranks.len() {
        bail!("Einsum: equation has {} operand terms but {} inputs were given", terms.len(), ranks.len());
    }
    // Ellipsis ranks.
    let mut ell_rank = 0usize;
    let mut ell_of = vec![0usize; terms.len()];
    for (i, (t, &r)) in terms.iter().zip(ranks).enumerate() {
        let e = match t.ellipsis_at {
            Some(_) => r
                .checked_sub(t.letters.len())
                .ok_or_else(|| Error::Shape(format!("Einsum: operand {i} has rank {r}, fewer than its labels")))?,
            None if r == t.letters.len() => 0,
            None => {
                return Err(Error::Shape(format!(
                    "Einsum: operand {i} has rank {r} but term has {} labels",
                    t.letters.len()
                )))
            }
        };
        ell_of[i] = e;
        ell_rank = ell_rank.max(e);
    }
    let labels: Vec<Vec<Label>> = terms
        .iter()
        .zip(&ell_of)
        .map(|(t, &e)| {
            let mut v = t.letters.clone();
            if let Some(p) = t.ellipsis_at {
                let ell: Vec<Label> = (ell_rank - e..ell_rank).map(|j| ELL + j).collect();
                v.splice(p..p, ell);
            }
            v
        })
        .collect();
    let out = match rhs {
        Some(r) => {
            let t = parse_term(&r)?;
            let mut v = t.letters.clone();
            for (i, l) in v.iter().enumerate() {
                if v[..i].contains(l) {
                    bail!("Einsum: output label repeated in '{r}'");
                }
                if !labels.iter().any(|ls| ls.contains(l)) {
                    bail!("Einsum: output label in '{r}' does not appear in any input");
                }
            }
            if let Some(p) = t.ellipsis_at {
                v.splice(p..p, (0..ell_rank).map(|j| ELL + j));
            }
            v
        }
        None => {
            let mut v: Vec<Label> = (0..ell_rank).map(|j| ELL + j).collect();
            let mut once: Vec<Label> = (0..52)
                .filter(|l| labels.iter().map(|ls| ls.iter().filter(|x| *x == l).count()).sum::<usize>() == 1)
                .collect();
            // ASCII order: uppercase (26..52) before lowercase (0..26).
            once.sort_by_key(|&l| if l >= 26 { l - 26 } else { l + 26 });
            v.extend(once);
            v
        }
    };
    Ok((labels, out))
}

/// Numeric types Einsum computes in.
trait EinElem: GemmElem + PartialEq {
    fn add(self, o: Self) -> Self;
    fn zero() -> Self;
}
impl EinElem for f64 {
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn zero() -> f64 {
        0.0
    }
}
impl EinElem for i64 {
    fn add(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
    fn zero() -> i64 {
        0
    }
}

/// A labelled operand: unique labels, their sizes, and row-major data.
#[derive(Debug, Clone)]
struct Operand<T> {
    labels: Vec<Label>,
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T: EinElem> Operand<T> {
    /// Collapses repeated labels to their diagonal.
    fn diagonal(labels: &[Label], shape: &[usize], data: Vec<T>) -> Result<Operand<T>> {
        let mut uniq: Vec<Label> = vec![];
        let mut ushape: Vec<usize> = vec![];
        let mut pos = vec![0usize; labels.len()];
        for (i, &l) in labels.iter().enumerate() {
            if let Some(p) = uniq.iter().position(|&u| u == l) {
                if ushape[p] != shape[i] {
                    return Err(Error::Shape(format!(
                        "Einsum: repeated label with sizes {} and {}",
                        ushape[p], shape[i]
                    )));
                }
                pos[i] = p;
            } else {
                pos[i] = uniq.len();
                uniq.push(l);
                ushape.push(shape[i]);
            }
        }
        if uniq.len() == labels.len() {
            return Ok(Operand { labels: uniq, shape: ushape, data });
        }
        let strides = strides_of(shape);
        let mut eff = vec![0usize; uniq.len()];
        for (i, &p) in pos.iter().enumerate() {
            eff[p] += strides[i];
        }
        let n: usize = ushape.iter().product();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; uniq.len()];
        let mut cur = 0usize;
        for _ in 0..n {
            out.push(data[cur]);
            for ax in (0..uniq.len()).rev() {
                idx[ax] += 1;
                cur += eff[ax];
                if idx[ax] < ushape[ax] {
                    break;
                }
                cur -= eff[ax] * idx[ax];
                idx[ax] = 0;
            }
        }
        Ok(Operand { labels: uniq, shape: ushape, data: out })
    }

    /// Sums out axis `ax`.
    fn sum_axis(&mut self, ax: usize) {
        let (outer, len, inner) = super::common::split_at_axis(&self.shape, ax);
        let mut out = vec![T::zero(); outer * inner];
        for o in 0..outer {
            for l in 0..len {
                let src = &self.data[(o * len + l) * inner..(o * len + l + 1) * inner];
                for (d, &s) in out[o * inner..(o + 1) * inner].iter_mut().zip(src) {
                    *d = d.add(s);
                }
            }
        }
        self.data = out;
        self.shape.remove(ax);
        self.labels.remove(ax);
    }

    /// Sums out every label not in `keep`.
    fn sum_except(&mut self, keep: &[Label]) {
        while let Some(ax) = self.labels.iter().position(|l| !keep.contains(l)) {
            self.sum_axis(ax);
        }
    }

    /// Repeats a size-1 axis to size `n` (broadcasting).
    fn expand(&mut self, ax: usize, n: usize) {
        let (outer, _, inner) = super::common::split_at_axis(&self.shape, ax);
        let mut out = Vec::with_capacity(outer * n * inner);
        for o in 0..outer {
            let src = &self.data[o * inner..(o + 1) * inner];
            for _ in 0..n {
                out.extend_from_slice(src);
            }
        }
        self.data = out;
        self.shape[ax] = n;
    }

    /// Permutes to the label order `order` (a permutation of `self.labels`).
    fn reorder(&mut self, order: &[Label]) {
        let perm: Vec<usize> = order.iter().map(|l| self.labels.iter().position(|x| x == l).unwrap_or(0)).collect();
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return;
        }
        let (s, d) = permute(&self.data, &self.shape, &perm);
        self.shape = s;
        self.data = d;
        self.labels = order.to_vec();
    }

    fn size_of(&self, l: Label) -> usize {
        self.labels.iter().position(|&x| x == l).map(|p| self.shape[p]).unwrap_or(1)
    }
}

/// Contracts `a` and `b`, keeping the labels in `keep` (labels of neither in `keep` are summed).
fn contract<T: EinElem>(mut a: Operand<T>, mut b: Operand<T>, keep: &[Label]) -> Result<Operand<T>> {
    let shared: Vec<Label> = a.labels.iter().copied().filter(|l| b.labels.contains(l)).collect();
    // Labels only in one operand and not kept can be summed right away.
    let a_keep: Vec<Label> = a.labels.iter().copied().filter(|l| keep.contains(l) || shared.contains(l)).collect();
    a.sum_except(&a_keep);
    let b_keep: Vec<Label> = b.labels.iter().copied().filter(|l| keep.contains(l) || shared.contains(l)).collect();
    b.sum_except(&b_keep);
    // Broadcast size-1 shared dims.
    for &l in &shared {
        let (sa, sb) = (a.size_of(l), b.size_of(l));
        if sa != sb {
            if sa == 1 {
                let ax = a.labels.iter().position(|&x| x == l).unwrap_or(0);
                a.expand(ax, sb);
            } else if sb == 1 {
                let ax = b.labels.iter().position(|&x| x == l).unwrap_or(0);
                b.expand(ax, sa);
            } else {
                return Err(Error::Shape(format!("Einsum: label sizes {sa} and {sb} cannot be broadcast")));
            }
        }
    }
    let batch: Vec<Label> = shared.iter().copied().filter(|l| keep.contains(l)).collect();
    let summed: Vec<Label> = shared.iter().copied().filter(|l| !keep.contains(l)).collect();
    let a_only: Vec<Label> = a.labels.iter().copied().filter(|l| !shared.contains(l)).collect();
    let b_only: Vec<Label> = b.labels.iter().copied().filter(|l| !shared.contains(l)).collect();
    a.reorder(&[batch.clone(), a_only.clone(), summed.clone()].concat());
    b.reorder(&[batch.clone(), summed.clone(), b_only.clone()].concat());
    let prod = |o: &Operand<T>, ls: &[Label]| ls.iter().map(|&l| o.size_of(l)).product::<usize>();
    let nb = prod(&a, &batch);
    let (m, k, n) = (prod(&a, &a_only), prod(&a, &summed), prod(&b, &b_only));
    let mut shape: Vec<usize> = batch.iter().map(|&l| a.size_of(l)).collect();
    shape.extend(a_only.iter().map(|&l| a.size_of(l)));
    shape.extend(b_only.iter().map(|&l| b.size_of(l)));
    let total = checked_numel(&shape, DType::F64, "Einsum intermediate")?;
    let mut data = vec![T::zero(); total];
    if total > 0 {
        for (bi, chunk) in data.chunks_mut(m * n).enumerate() {
            T::gemm(
                m,
                n,
                k,
                &a.data,
                MatView::row_major(bi * m * k, k),
                &b.data,
                MatView::row_major(bi * k * n, n),
                chunk,
            )?;
        }
    }
    debug_assert_eq!(data.len(), nb * m * n);
    Ok(Operand { labels: [batch, a_only, b_only].concat(), shape, data })
}

fn einsum_typed<T: EinElem>(
    labels: &[Vec<Label>],
    out: &[Label],
    ops: Vec<(Vec<usize>, Vec<T>)>,
) -> Result<(Vec<usize>, Vec<T>)> {
    let mut operands = vec![];
    for (i, (shape, data)) in ops.into_iter().enumerate() {
        let mut o = Operand::diagonal(&labels[i], &shape, data)?;
        let elsewhere: Vec<Label> = labels
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, ls)| ls.iter().copied())
            .chain(out.iter().copied())
            .collect();
        o.sum_except(&elsewhere);
        operands.push(o);
    }
    let mut it = operands.into_iter();
    let Some(mut acc) = it.next() else { bail!("Einsum: no inputs") };
    let rest: Vec<Operand<T>> = it.collect();
    for (i, op) in rest.iter().enumerate() {
        let keep: Vec<Label> =
            out.iter().copied().chain(rest[i + 1..].iter().flat_map(|o| o.labels.iter().copied())).collect();
        acc = contract(acc, op.clone(), &keep)?;
    }
    acc.sum_except(out);
    acc.reorder(out);
    Ok((acc.shape, acc.data))
}

/// Evaluates `equation` on `inputs` (all of the same dtype).
pub fn einsum(equation: &str, inputs: &[&Tensor]) -> Result<Tensor> {
    let Some(first) = inputs.first() else { bail!("Einsum: no inputs") };
    let dt = first.dtype();
    if inputs.iter().any(|t| t.dtype() != dt) {
        bail!("Einsum: inputs have different dtypes");
    }
    let ranks: Vec<usize> = inputs.iter().map(|t| t.rank()).collect();
    let (labels, out) = plan(equation, &ranks)?;
    if dt.is_float() {
        let ops = inputs.iter().map(|t| (t.shape().to_vec(), t.to_f64_vec())).collect();
        let (s, d) = einsum_typed::<f64>(&labels, &out, ops)?;
        tensor_from_f64(dt, s, d)
    } else if dt.is_int() {
        let ops = inputs.iter().map(|t| (t.shape().to_vec(), t.to_i64_vec())).collect();
        let (s, d) = einsum_typed::<i64>(&labels, &out, ops)?;
        tensor_from_i64(dt, s, d)
    } else {
        Err(Error::UnsupportedDType { op: "Einsum".into(), dtype: dt })
    }
}

impl Op for Einsum {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ts: Vec<&Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.ok_or_else(|| Error::Invalid(format!("Einsum: input #{i} is missing"))))
            .collect::<Result<_>>()?;
        Ok(vec![einsum(&self.equation, &ts)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f64]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn basics() {
        let a = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = t(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
        // matmul
        let r = einsum("ij,jk->ik", &[&a, &b]).unwrap();
        assert_eq!(r.shape(), &[2, 2]);
        assert_eq!(r.to_f64_vec(), vec![4., 5., 10., 11.]);
        // implicit: transpose
        let r = einsum("ji", &[&a]).unwrap();
        assert_eq!(r.shape(), &[3, 2]);
        assert_eq!(r.to_f64_vec(), vec![1., 4., 2., 5., 3., 6.]);
        // trace / diagonal
        let m = t(&[2, 2], &[1., 2., 3., 4.]);
        assert_eq!(einsum("ii", &[&m]).unwrap().to_f64_vec(), vec![5.]);
        assert_eq!(einsum("ii->i", &[&m]).unwrap().to_f64_vec(), vec![1., 4.]);
        // sum
        assert_eq!(einsum("ij->", &[&a]).unwrap().to_f64_vec(), vec![21.]);
        // ellipsis batch matmul with broadcasting
        let x = t(&[2, 1, 2], &[1., 2., 3., 4.]);
        let y = t(&[2, 1], &[1., 1.]);
        let r = einsum("...ij,...jk->...ik", &[&x, &y]).unwrap();
        assert_eq!(r.shape(), &[2, 1, 1]);
        assert_eq!(r.to_f64_vec(), vec![3., 7.]);
        // outer product and 3 operands
        let v = t(&[2], &[1., 2.]);
        let r = einsum("i,j,i->j", &[&v, &v, &v]).unwrap();
        assert_eq!(r.to_f64_vec(), vec![5., 10.]);
    }
}
