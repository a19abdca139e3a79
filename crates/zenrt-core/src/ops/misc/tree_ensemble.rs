//! Tree ensembles (ai.onnx.ml): `TreeEnsemble` (opset 5) and the classic `TreeEnsembleRegressor`
//! / `TreeEnsembleClassifier` (opsets 1 and 3, `*_as_tensor` doubles) share one [`Forest`]: nodes
//! with a comparison, leaves with (target, weight) pairs, and the per-target aggregation.
//!
//! Node comparisons: 0 <=, 1 <, 2 >=, 3 >, 4 ==, 5 !=, 6 member of a set (opset 5 only, from
//! `membership_values`, sets listed in node order and separated by NaN); the true branch is taken
//! when the comparison holds, or for a NaN feature when `nodes_missing_value_tracks_true` is set.
//! Aggregation: average, sum, min, max; the classic ops add `base_values` after it and finish
//! scores and labels with ONNX Runtime's rules (binary classifiers with one weighted class get a
//! second score column, see [`super::ml_common::finish_row`]).

use super::common::{from_f64, require_float};
use super::ml_common::{f32_matrix, finish_row, reals, reals_opt, req_ints, rows, values_only, Labels, Post, Second};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, DType, Error, Result, Tensor, Value};
use std::collections::HashMap;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Average,
    Sum,
    Min,
    Max,
}

/// Decision trees whose leaves hold (target, weight) pairs.
#[derive(Debug)]
pub struct Forest {
    nodes: Vec<Node>,
    /// Trees as (is_leaf, index) of their root.
    roots: Vec<(bool, usize)>,
    /// Leaf `i` holds `pairs[leaf_start[i]..leaf_start[i + 1]]`.
    leaf_start: Vec<usize>,
    pairs: Vec<(usize, f64)>,
    n_targets: usize,
}

fn idx(v: i64, len: usize, what: &str) -> Result<usize> {
    if v < 0 || v as u64 >= len as u64 {
        bail!("tree ensemble: {what} {v} is out of range (0..{len})");
    }
    Ok(v as usize)
}

fn feature_id(v: i64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::Invalid(format!("tree ensemble: negative feature id {v}")))
}

fn req_tensor<'a>(cx: &BuildCtx<'a>, name: &str) -> Result<&'a Tensor> {
    cx.tensor_opt(name)?.ok_or_else(|| Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

fn check_lens(op: &str, n: usize, lens: &[(&str, usize)]) -> Result<()> {
    for (name, len) in lens {
        if *len != n {
            bail!("{op}: {name} has {len} values for {n} nodes");
        }
    }
    Ok(())
}

impl Forest {
    /// The leaf reached by `row` from `root`.
    fn leaf(&self, row: &[f64], root: (bool, usize)) -> Result<usize> {
        let mut cur = root;
        for _ in 0..=self.nodes.len() {
            if cur.0 {
                return Ok(cur.1);
            }
            let n = &self.nodes[cur.1];
            let Some(&x) = row.get(n.feature) else {
                bail!("tree ensemble: feature {} is out of range for {} features", n.feature, row.len());
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
        bail!("tree ensemble: a tree has a cycle")
    }

    /// Aggregates the leaves `row` reaches into `out` (one score per target) and `hit` (whether
    /// any leaf gave that target a weight). Average is left as a sum: see [`Forest::trees`].
    fn eval(&self, row: &[f64], agg: Agg, out: &mut [f64], hit: &mut [bool]) -> Result<()> {
        out.fill(0.0);
        hit.fill(false);
        for &root in &self.roots {
            let l = self.leaf(row, root)?;
            for &(t, w) in &self.pairs[self.leaf_start[l]..self.leaf_start[l + 1]] {
                out[t] = match agg {
                    _ if !hit[t] => w,
                    Agg::Average | Agg::Sum => out[t] + w,
                    Agg::Min => out[t].min(w),
                    Agg::Max => out[t].max(w),
                };
                hit[t] = true;
            }
        }
        Ok(())
    }

    fn trees(&self) -> f64 {
        self.roots.len() as f64
    }

    /// From the opset-5 attributes (one (target, weight) per leaf).
    fn from_v5(cx: &BuildCtx) -> Result<Forest> {
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
        if n_targets < 1 {
            bail!("TreeEnsemble: n_targets must be positive");
        }
        let n_targets = n_targets as usize;
        let nn = modes.len();
        check_lens(
            "TreeEnsemble",
            nn,
            &[
                ("nodes_splits", splits.len()),
                ("nodes_featureids", features.len()),
                ("nodes_truenodeids", tids.len()),
                ("nodes_falsenodeids", fids.len()),
                ("nodes_trueleafs", tleaf.len()),
                ("nodes_falseleafs", fleaf.len()),
                ("nodes_missing_value_tracks_true", missing.as_ref().map_or(nn, Vec::len)),
            ],
        )?;
        if leaf_weights.len() != leaf_targets.len() {
            bail!("TreeEnsemble: leaf_weights and leaf_targetids differ in length");
        }
        let nl = leaf_weights.len();
        let mut pairs = Vec::with_capacity(nl);
        for (&t, &w) in leaf_targets.iter().zip(&leaf_weights) {
            pairs.push((idx(t, n_targets, "leaf target id")?, w));
        }
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
                feature: feature_id(features[i])?,
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
        Ok(Forest { nodes, roots, leaf_start: (0..=nl).collect(), pairs, n_targets })
    }

    /// From the classic attributes: nodes named by (tree id, node id), `LEAF` nodes carrying the
    /// `<prefix>_{treeids,nodeids,ids,weights}` entries (prefix `target` or `class`).
    fn from_classic(cx: &BuildCtx, prefix: &str, n_targets: usize) -> Result<Forest> {
        let op = cx.op_type;
        let trees = req_ints(cx, "nodes_treeids")?;
        let ids = req_ints(cx, "nodes_nodeids")?;
        let features = req_ints(cx, "nodes_featureids")?;
        let modes = cx.strings_opt("nodes_modes")?.unwrap_or_default();
        let values = reals_opt(cx, "nodes_values")?.unwrap_or_else(|| vec![0.0; trees.len()]);
        let tids = req_ints(cx, "nodes_truenodeids")?;
        let fids = req_ints(cx, "nodes_falsenodeids")?;
        let missing = cx.ints_opt("nodes_missing_value_tracks_true")?;
        let nn = trees.len();
        check_lens(
            op,
            nn,
            &[
                ("nodes_nodeids", ids.len()),
                ("nodes_featureids", features.len()),
                ("nodes_modes", modes.len()),
                ("nodes_values", values.len()),
                ("nodes_truenodeids", tids.len()),
                ("nodes_falsenodeids", fids.len()),
                ("nodes_missing_value_tracks_true", missing.as_ref().map_or(nn, Vec::len)),
            ],
        )?;
        let mut at = HashMap::with_capacity(nn);
        for (i, key) in trees.iter().zip(&ids).enumerate() {
            if at.insert(key, i).is_some() {
                bail!("{op}: node {} of tree {} is listed twice", key.1, key.0);
            }
        }
        let is_leaf: Vec<bool> = modes.iter().map(|m| m == "LEAF").collect();
        let find = |tree: i64, id: i64| -> Result<(bool, usize)> {
            match at.get(&(&tree, &id)) {
                Some(&i) => Ok((is_leaf[i], i)),
                None => bail!("{op}: tree {tree} has no node {id}"),
            }
        };
        let mut nodes = Vec::with_capacity(nn);
        let mut child = vec![false; nn];
        for i in 0..nn {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => 0,
                "BRANCH_LT" => 1,
                "BRANCH_GTE" => 2,
                "BRANCH_GT" => 3,
                "BRANCH_EQ" => 4,
                "BRANCH_NEQ" => 5,
                "LEAF" => 7,
                m => bail!("{op}: unknown node mode '{m}'"),
            };
            let (t, f) =
                if mode == 7 { ((true, i), (true, i)) } else { (find(trees[i], tids[i])?, find(trees[i], fids[i])?) };
            if mode != 7 {
                child[t.1] = true;
                child[f.1] = true;
            }
            nodes.push(Node {
                mode,
                feature: feature_id(features[i])?,
                split: values[i],
                set: vec![],
                missing_true: missing.as_ref().is_some_and(|m| m[i] != 0),
                t,
                f,
            });
        }
        // One root per tree, in order of appearance: the node no branch points to.
        let mut roots = Vec::new();
        let mut rooted = HashMap::new();
        for i in 0..nn {
            if !child[i] {
                if rooted.insert(trees[i], ()).is_some() {
                    bail!("{op}: tree {} has more than one root", trees[i]);
                }
                roots.push((is_leaf[i], i));
            }
        }
        if let Some(t) = trees.iter().find(|t| !rooted.contains_key(t)) {
            bail!("{op}: tree {t} has no root (every node is some node's branch: a cycle)");
        }
        let t_trees = req_ints(cx, &format!("{prefix}_treeids"))?;
        let t_nodes = req_ints(cx, &format!("{prefix}_nodeids"))?;
        let t_ids = req_ints(cx, &format!("{prefix}_ids"))?;
        let t_w = reals(cx, &format!("{prefix}_weights"))?;
        if t_nodes.len() != t_trees.len() || t_ids.len() != t_trees.len() || t_w.len() != t_trees.len() {
            bail!("{op}: the {prefix}_* attributes differ in length");
        }
        let mut per_leaf: Vec<Vec<(usize, f64)>> = vec![vec![]; nn];
        for k in 0..t_trees.len() {
            let (_, i) = find(t_trees[k], t_nodes[k])?;
            per_leaf[i].push((idx(t_ids[k], n_targets, &format!("{prefix} id"))?, t_w[k]));
        }
        let mut leaf_start = Vec::with_capacity(nn + 1);
        let mut pairs = Vec::with_capacity(t_trees.len());
        for p in per_leaf {
            leaf_start.push(pairs.len());
            pairs.extend(p);
        }
        leaf_start.push(pairs.len());
        Ok(Forest { nodes, roots, leaf_start, pairs, n_targets })
    }
}

/// `TreeEnsemble` (opset 5): aggregate codes 0 average, 1 sum, 2 min, 3 max; post_transform
/// codes 0 none, 1 softmax, 2 logistic, 3 softmax_zero (probit is unsupported). Output in X's dtype.
#[derive(Debug)]
pub struct TreeEnsemble {
    forest: Forest,
    agg: Agg,
    post: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let agg = match cx.int("aggregate_function", 1)? {
        0 => Agg::Average,
        1 => Agg::Sum,
        2 => Agg::Min,
        3 => Agg::Max,
        a => bail!("TreeEnsemble: unknown aggregate_function {a}"),
    };
    let post = cx.int("post_transform", 0)?;
    match post {
        0..=3 => {}
        4 => return Err(Error::Unsupported("TreeEnsemble post_transform PROBIT".into())),
        p => bail!("TreeEnsemble: unknown post_transform {p}"),
    }
    Ok(Arc::new(TreeEnsemble { forest: Forest::from_v5(cx)?, agg, post }))
}

impl Op for TreeEnsemble {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "TreeEnsemble")?;
        require_float(x, "TreeEnsemble")?;
        let (n, f, xv) = rows(x, "TreeEnsemble")?;
        let nt = self.forest.n_targets;
        // A target no leaf reached keeps the aggregate's identity (the onnx reference's).
        let (lo, hi) = match x.dtype() {
            DType::F64 => (f64::MIN, f64::MAX),
            DType::F16 => (-65504.0, 65504.0),
            _ => (f32::MIN as f64, f32::MAX as f64),
        };
        let mut out = vec![0.0; n * nt];
        let mut hit = vec![false; nt];
        for (r, o) in out.chunks_mut(nt).enumerate() {
            self.forest.eval(&xv[r * f..(r + 1) * f], self.agg, o, &mut hit)?;
            for (v, h) in o.iter_mut().zip(&hit) {
                match self.agg {
                    Agg::Average => *v /= self.forest.trees(),
                    Agg::Min if !h => *v = hi,
                    Agg::Max if !h => *v = lo,
                    _ => {}
                }
            }
            match self.post {
                1 => Post::Softmax.apply(o),
                3 => {
                    // The opset-5 reference: zeros stay zero and do not count.
                    let m = o.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = o.iter().map(|&v| if v == 0.0 { 0.0 } else { (v - m).exp() }).collect();
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

/// The classic ops' shared settings.
#[derive(Debug)]
struct Classic {
    forest: Forest,
    agg: Agg,
    base: Vec<f64>,
    post: Post,
}

impl Classic {
    fn parse(cx: &BuildCtx, prefix: &str, n_targets: usize) -> Result<Classic> {
        let agg = match cx.string("aggregate_function", "SUM")?.as_str() {
            "AVERAGE" => Agg::Average,
            "SUM" => Agg::Sum,
            "MIN" => Agg::Min,
            "MAX" => Agg::Max,
            a => bail!("{}: unknown aggregate_function '{a}'", cx.op_type),
        };
        let base = reals_opt(cx, "base_values")?.unwrap_or_default();
        if !base.is_empty() && base.len() != n_targets {
            bail!("{}: {} base_values for {n_targets} targets", cx.op_type, base.len());
        }
        Ok(Classic { forest: Forest::from_classic(cx, prefix, n_targets)?, agg, base, post: Post::parse(cx)? })
    }

    /// Aggregated scores per row (base values not added yet) and which targets were hit.
    fn scores(&self, x: &Tensor, op: &str) -> Result<(usize, Vec<f64>, Vec<bool>)> {
        let (n, f, xv) = rows(x, op)?;
        let nt = self.forest.n_targets;
        let mut out = vec![0.0; n * nt];
        let mut hit = vec![false; n * nt];
        for ((o, h), r) in out.chunks_mut(nt).zip(hit.chunks_mut(nt)).zip(0..n) {
            self.forest.eval(&xv[r * f..(r + 1) * f], self.agg, o, h)?;
            if self.agg == Agg::Average {
                o.iter_mut().for_each(|v| *v /= self.forest.trees());
            }
        }
        Ok((n, out, hit))
    }
}

#[derive(Debug)]
pub struct TreeEnsembleRegressor(Classic);

pub fn build_regressor(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let n = cx.int("n_targets", 1)?;
    if n < 1 {
        bail!("TreeEnsembleRegressor: n_targets must be positive");
    }
    Ok(Arc::new(TreeEnsembleRegressor(Classic::parse(cx, "target", n as usize)?)))
}

impl Op for TreeEnsembleRegressor {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let c = &self.0;
        let (n, mut s, _) = c.scores(input(inputs, 0, "TreeEnsembleRegressor")?, "TreeEnsembleRegressor")?;
        let nt = c.forest.n_targets;
        for row in s.chunks_mut(nt) {
            row.iter_mut().zip(&c.base).for_each(|(v, b)| *v += b);
            c.post.apply(row);
        }
        Ok(vec![f32_matrix(n, nt, s)?])
    }
}

#[derive(Debug)]
pub struct TreeEnsembleClassifier {
    c: Classic,
    labels: Labels,
    /// Two labels and every weight on one class (ONNX Runtime's binary case).
    binary: bool,
    all_positive: bool,
}

pub fn build_classifier(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let Some(labels) = Labels::parse(cx, "classlabels")? else {
        bail!("TreeEnsembleClassifier: classlabels_int64s or classlabels_strings is required");
    };
    if labels.is_empty() {
        bail!("TreeEnsembleClassifier: no class labels");
    }
    let c = Classic::parse(cx, "class", labels.len())?;
    let first = c.forest.pairs.first().map(|p| p.0);
    let binary = labels.len() == 2 && c.forest.pairs.iter().all(|p| Some(p.0) == first);
    let all_positive = c.forest.pairs.iter().all(|p| p.1 >= 0.0);
    Ok(Arc::new(TreeEnsembleClassifier { c, labels, binary, all_positive }))
}

impl TreeEnsembleClassifier {
    /// Finishes one row: base values, label index, transformed scores (ONNX Runtime's rules).
    fn finish(&self, s: &mut Vec<f64>, hit: &mut [bool]) -> usize {
        let base = &self.c.base;
        if s.len() != 2 {
            for k in 0..base.len() {
                s[k] = if hit[k] { s[k] + base[k] } else { base[k] };
                hit[k] = true;
            }
            let mut best: Option<usize> = None;
            for k in 0..s.len() {
                if hit[k] && best.is_none_or(|b| s[k] > s[b]) {
                    best = Some(k);
                }
            }
            self.c.post.apply(s);
            return best.unwrap_or(0);
        }
        let mut second = None;
        match base.len() {
            2 if hit[1] => {
                // As ONNX Runtime: base_values[0] is not used.
                s[1] = base[1] + s[0];
                s[0] = -s[1];
            }
            2 => {
                s[0] += base[0];
                s[1] += base[1];
            }
            1 => s[0] += base[0],
            _ => second = Some(Second::Negate),
        }
        if base.len() < 2 && !hit[1] {
            s.pop();
        }
        let pos = if s.len() == 2 && hit[1] {
            s[1]
        } else if hit[0] {
            s[0]
        } else {
            0.0
        };
        let pick = if self.binary {
            let (win, how) =
                if self.all_positive { (pos > 0.5, Second::Complement) } else { (pos > 0.0, Second::Negate) };
            second = Some(how);
            usize::from(win)
        } else {
            usize::from(pos > 0.0)
        };
        finish_row(s, self.c.post, second);
        s.resize(2, 0.0);
        pick
    }
}

impl Op for TreeEnsembleClassifier {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("TreeEnsembleClassifier"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = super::ml_common::tensor_input(inputs, "TreeEnsembleClassifier")?;
        let (n, s, mut hit) = self.c.scores(x, "TreeEnsembleClassifier")?;
        let nc = self.labels.len();
        let mut picks = Vec::with_capacity(n);
        let mut out = Vec::with_capacity(n * nc);
        for (row, h) in s.chunks(nc).zip(hit.chunks_mut(nc)) {
            let mut r = row.to_vec();
            picks.push(self.finish(&mut r, h));
            out.extend(r);
        }
        Ok(vec![self.labels.output(&picks)?, Value::from(f32_matrix(n, nc, out)?)])
    }
}
