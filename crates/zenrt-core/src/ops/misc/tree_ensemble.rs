//! TreeEnsemble (ai.onnx.ml opset 5): evaluates decision trees on the rows of `X` `[N, F]` and
//! aggregates their leaf weights per target into `[N, n_targets]`. Node comparisons (nodes_modes):
//! 0 <=, 1 <, 2 >=, 3 >, 4 ==, 5 !=, 6 member of a set (from `membership_values`, sets listed in
//! node order and separated by NaN). A NaN feature goes to the true branch when
//! `nodes_missing_value_tracks_true` is set. Aggregation: 0 average, 1 sum, 2 min, 3 max.
//! post_transform: 0 none, 1 softmax, 2 logistic, 3 softmax_zero; probit is unsupported.

use super::common::{from_f64, require_float};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
struct Node {
    mode: u8,
    feature: usize,
    split: f64,
    set: Vec<f64>,
    missing_true: bool,
    /// (is_leaf, index) of the true and false branches.
    t: (bool, usize),
    f: (bool, usize),
}

#[derive(Debug)]
pub struct TreeEnsemble {
    nodes: Vec<Node>,
    /// Trees as (is_leaf, index) of their root.
    roots: Vec<(bool, usize)>,
    leaf_weights: Vec<f64>,
    leaf_targets: Vec<usize>,
    n_targets: usize,
    aggregate: i64,
    post: i64,
}

fn req_ints(cx: &BuildCtx, name: &str) -> Result<Vec<i64>> {
    cx.ints_opt(name)?.ok_or_else(|| Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

fn req_tensor<'a>(cx: &BuildCtx<'a>, name: &str) -> Result<&'a Tensor> {
    cx.tensor_opt(name)?.ok_or_else(|| Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

fn idx(v: i64, len: usize, what: &str) -> Result<usize> {
    if v < 0 || v as u64 >= len as u64 {
        bail!("TreeEnsemble: {what} {v} is out of range (0..{len})");
    }
    Ok(v as usize)
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let modes = req_tensor(cx, "nodes_modes")?.to_i64_vec();
    let splits = req_tensor(cx, "nodes_splits")?.to_f64_vec();
    let features = req_ints(cx, "nodes_featureids")?;
    let tids = req_ints(cx, "nodes_truenodeids")?;
    let fids = req_ints(cx, "nodes_falsenodeids")?;
    let tleaf = req_ints(cx, "nodes_trueleafs")?;
    let fleaf = req_ints(cx, "nodes_falseleafs")?;
    let missing = cx.ints_opt("nodes_missing_value_tracks_true")?;
    let leaf_weights = req_tensor(cx, "leaf_weights")?.to_f64_vec();
    let leaf_targets = req_ints(cx, "leaf_targetids")?;
    let roots = req_ints(cx, "tree_roots")?;
    let n_targets = cx.req_int("n_targets")?;
    let aggregate = cx.int("aggregate_function", 1)?;
    let post = cx.int("post_transform", 0)?;
    if !(0..=3).contains(&aggregate) {
        bail!("TreeEnsemble: unknown aggregate_function {aggregate}");
    }
    match post {
        0..=3 => {}
        4 => return Err(Error::Unsupported("TreeEnsemble post_transform PROBIT".into())),
        p => bail!("TreeEnsemble: unknown post_transform {p}"),
    }
    if n_targets < 1 {
        bail!("TreeEnsemble: n_targets must be positive");
    }
    let n_targets = n_targets as usize;
    let nn = modes.len();
    for (name, len) in [
        ("nodes_splits", splits.len()),
        ("nodes_featureids", features.len()),
        ("nodes_truenodeids", tids.len()),
        ("nodes_falsenodeids", fids.len()),
        ("nodes_trueleafs", tleaf.len()),
        ("nodes_falseleafs", fleaf.len()),
    ] {
        if len != nn {
            bail!("TreeEnsemble: {name} has {len} values for {nn} nodes");
        }
    }
    if missing.as_ref().is_some_and(|m| m.len() != nn) {
        bail!("TreeEnsemble: nodes_missing_value_tracks_true must have {nn} values");
    }
    if leaf_weights.len() != leaf_targets.len() {
        bail!("TreeEnsemble: leaf_weights and leaf_targetids differ in length");
    }
    let nl = leaf_weights.len();
    let leaf_targets: Vec<usize> =
        leaf_targets.iter().map(|&t| idx(t, n_targets, "leaf target id")).collect::<Result<_>>()?;
    let mut members = match cx.tensor_opt("membership_values")? {
        Some(t) => t.to_f64_vec(),
        None => vec![],
    }
    .into_iter();
    let branch = |leaf: i64, id: i64| -> Result<(bool, usize)> {
        Ok(if leaf != 0 { (true, idx(id, nl, "leaf index")?) } else { (false, idx(id, nn, "node index")?) })
    };
    let mut nodes = Vec::with_capacity(nn);
    for i in 0..nn {
        let mode = modes[i];
        if !(0..=6).contains(&mode) {
            bail!("TreeEnsemble: unknown node mode {mode}");
        }
        let mut set = vec![];
        if mode == 6 {
            for v in members.by_ref() {
                if v.is_nan() {
                    break;
                }
                set.push(v);
            }
        }
        nodes.push(Node {
            mode: mode as u8,
            feature: usize::try_from(features[i])
                .map_err(|_| Error::Invalid("TreeEnsemble: negative feature id".into()))?,
            split: splits[i],
            set,
            missing_true: missing.as_ref().is_some_and(|m| m[i] != 0),
            t: branch(tleaf[i], tids[i])?,
            f: branch(fleaf[i], fids[i])?,
        });
    }
    let roots = roots
        .iter()
        .map(|&r| {
            let ri = idx(r, nn.max(nl), "tree root")?;
            // A root whose both branches are the same leaf is a single-leaf tree (as in the
            // onnx reference, the root index then names the leaf).
            if ri < nn && tleaf[ri] != 0 && fleaf[ri] != 0 && tids[ri] == fids[ri] {
                Ok((true, idx(r, nl, "leaf index")?))
            } else {
                Ok((false, idx(r, nn, "tree root")?))
            }
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(TreeEnsemble { nodes, roots, leaf_weights, leaf_targets, n_targets, aggregate, post }))
}

impl TreeEnsemble {
    /// The leaf reached by `row` from `root`.
    fn leaf(&self, row: &[f64], root: (bool, usize)) -> Result<usize> {
        let mut cur = root;
        for _ in 0..=self.nodes.len() {
            if cur.0 {
                return Ok(cur.1);
            }
            let n = &self.nodes[cur.1];
            let Some(&x) = row.get(n.feature) else {
                bail!("TreeEnsemble: feature {} is out of range for {} features", n.feature, row.len());
            };
            let go = (n.missing_true && x.is_nan())
                || match n.mode {
                    0 => x <= n.split,
                    1 => x < n.split,
                    2 => x >= n.split,
                    3 => x > n.split,
                    4 => x == n.split,
                    5 => x != n.split,
                    _ => n.set.contains(&x),
                };
            cur = if go { n.t } else { n.f };
        }
        bail!("TreeEnsemble: the tree has a cycle")
    }
}

impl Op for TreeEnsemble {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "TreeEnsemble")?;
        require_float(x, "TreeEnsemble")?;
        let (n, f) = match x.shape() {
            [n, f] => (*n, *f),
            [f] => (1, *f),
            s => bail!("TreeEnsemble: X must be 2-D, got {s:?}"),
        };
        let xv = x.to_f64_vec();
        let nt = self.n_targets;
        let (lo, hi) = match x.dtype() {
            DType::F64 => (f64::MIN, f64::MAX),
            DType::F16 => (-65504.0, 65504.0),
            DType::BF16 => (f32::MIN as f64, f32::MAX as f64),
            _ => (f32::MIN as f64, f32::MAX as f64),
        };
        let init = match self.aggregate {
            2 => hi,
            3 => lo,
            _ => 0.0,
        };
        let mut out = vec![init; n * nt];
        let trees = self.roots.len() as f64;
        for r in 0..n {
            let row = &xv[r * f..(r + 1) * f];
            let o = &mut out[r * nt..(r + 1) * nt];
            for &root in &self.roots {
                let l = self.leaf(row, root)?;
                let (w, t) = (self.leaf_weights[l], self.leaf_targets[l]);
                match self.aggregate {
                    0 => o[t] += w / trees,
                    1 => o[t] += w,
                    2 => o[t] = o[t].min(w),
                    _ => o[t] = o[t].max(w),
                }
            }
            match self.post {
                1 | 3 => {
                    let zero_aware = self.post == 3;
                    let m = o.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> =
                        o.iter().map(|&v| if zero_aware && v == 0.0 { 0.0 } else { (v - m).exp() }).collect();
                    let s: f64 = e.iter().sum();
                    for (v, ev) in o.iter_mut().zip(e) {
                        *v = if s > 0.0 { ev / s } else { 0.0 };
                    }
                }
                2 => o.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                _ => {}
            }
        }
        Ok(vec![from_f64(vec![n, nt], out, x.dtype())?])
    }
}
