//! Reverse-mode automatic differentiation over the graph IR.
//!
//! [`backward`] takes a forward [`Graph`] whose trainable parameters are graph *inputs*, the
//! name of a scalar loss value and the parameters to differentiate, and returns a new graph
//! that computes the loss and one gradient per parameter. The backward part is made of
//! ordinary nodes (forward ONNX operators where they fit, `com.zenrt` gradient operators from
//! `zenrt_core::ops::grad` where not), so it goes through the same passes, planner and
//! backends as inference.
//!
//! How it works (see `docs/autodiff.md`):
//! 1. ONNX LSTM/GRU nodes are first rewritten into primitives ([`rnn::decompose`]).
//! 2. Nodes are ordered topologically; a node takes part if one of its inputs depends on a
//!    parameter and the loss depends on one of its outputs.
//! 3. The loss gradient is seeded with ones; nodes are visited in reverse order and the rule
//!    of each op type ([`rules::rule_for`]) turns output gradients into input gradients.
//!    Several contributions to one value are summed.
//! 4. Gradients are exposed as outputs named [`grad_of`]`(param)`.

pub mod builder;
pub mod rnn;
pub mod rules;

use builder::Builder;
use std::collections::{HashMap, HashSet};
use zenrt_core::{Error, Graph, Node, Result, ValueInfo};

/// Operators whose outputs never carry a gradient (they depend on shapes or compare values).
const NO_GRADIENT: &[&str] = &[
    "Shape",
    "Size",
    "ArgMax",
    "ArgMin",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Not",
    "And",
    "Or",
    "Xor",
    "IsNaN",
    "IsInf",
    "NonZero",
    "Sign",
    "Floor",
    "Ceil",
    "Round",
    "RandomNormalLike",
    "RandomUniformLike",
    "EyeLike",
    "ConstantOfShape",
];

/// The output name of the gradient of `name`.
pub fn grad_of(name: &str) -> String {
    format!("{name}_grad")
}

/// Node indices in a topological order (stable with respect to file order).
pub fn topo_order(g: &Graph) -> Result<Vec<usize>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            producer.insert(o, i);
        }
    }
    let mut state = vec![0u8; g.nodes.len()]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::with_capacity(g.nodes.len());
    for start in 0..g.nodes.len() {
        // Iterative DFS so deep graphs do not overflow the stack.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some((i, k)) = stack.pop() {
            if k == 0 {
                if state[i] == 2 {
                    continue;
                }
                if state[i] == 1 {
                    return Err(Error::Cycle(vec![g.nodes[i].name.clone()]));
                }
                state[i] = 1;
            }
            let ins = &g.nodes[i].inputs;
            if k < ins.len() {
                stack.push((i, k + 1));
                if let Some(&p) = producer.get(ins[k].as_str()) {
                    if state[p] == 1 {
                        return Err(Error::Cycle(vec![g.nodes[p].name.clone()]));
                    }
                    if state[p] == 0 {
                        stack.push((p, 0));
                    }
                }
            } else {
                state[i] = 2;
                order.push(i);
            }
        }
    }
    Ok(order)
}

/// Builds the training graph: the forward graph plus nodes computing `d loss / d w` for each
/// `w` in `wrt`. Outputs: the loss, then `grad_of(w)` for each `w` in order, then the forward
/// graph's other outputs. Each `w` must be a graph input of float type; initializers are
/// constants and are not differentiated. An operator without a gradient rule on the path from
/// a parameter to the loss is an `Error::Unsupported` naming the node and the op.
pub fn backward(forward: &Graph, loss: &str, wrt: &[String]) -> Result<Graph> {
    let mut g = rnn::decompose(forward)?;
    let produced: HashSet<&str> = g.nodes.iter().flat_map(|n| n.outputs.iter().map(|s| s.as_str())).collect();
    let is_input = |n: &str| g.inputs.iter().any(|i| i.name == n);
    if !produced.contains(loss) && !is_input(loss) {
        return Err(Error::Invalid(format!("backward: loss value '{loss}' is not produced by the graph")));
    }
    for w in wrt {
        if !is_input(w) {
            let why = if g.initializers.contains_key(w) { " (it is an initializer: a constant)" } else { "" };
            return Err(Error::BadInput {
                name: w.clone(),
                msg: format!("parameters to differentiate must be graph inputs{why}"),
            });
        }
    }
    let order = topo_order(&g)?;
    let nodes: Vec<Node> = g.nodes.clone();

    // Values that depend on a parameter through a differentiable path: integer/bool values
    // (shapes, indices, masks) and outputs of shape queries carry no gradient.
    let infos = zenrt_core::infer::infer_graph(&g);
    let float_or_unknown = |v: &str| infos.get(v).and_then(|i| i.dtype).is_none_or(|d| d.is_float());
    let mut active: HashSet<String> = wrt.iter().cloned().collect();
    for &i in &order {
        let n = &nodes[i];
        if NO_GRADIENT.contains(&n.op_type.as_str()) {
            continue;
        }
        if n.inputs.iter().any(|x| active.contains(x)) {
            active.extend(n.outputs.iter().filter(|o| !o.is_empty() && float_or_unknown(o)).cloned());
        }
    }
    // Values the loss depends on.
    let mut needed: HashSet<String> = HashSet::from([loss.to_string()]);
    for &i in order.iter().rev() {
        let n = &nodes[i];
        if n.outputs.iter().any(|o| needed.contains(o)) {
            needed.extend(n.inputs.iter().filter(|x| !x.is_empty()).cloned());
        }
    }

    let fwd_outputs = g.outputs.clone();
    let mut b = Builder::new(&mut g, "grad");
    let mut contribs: HashMap<String, Vec<String>> = HashMap::new();
    let seed = b.full_like(1.0, loss)?;
    contribs.insert(loss.to_string(), vec![seed]);

    for &i in order.iter().rev() {
        let n = &nodes[i];
        if !n.outputs.iter().any(|o| active.contains(o) && needed.contains(o)) {
            continue;
        }
        let mut dys = Vec::with_capacity(n.outputs.len());
        for o in &n.outputs {
            dys.push(total(&mut b, &mut contribs, o)?);
        }
        if dys.iter().all(|d| d.is_none()) {
            continue;
        }
        let needs: Vec<bool> = n.inputs.iter().map(|x| !x.is_empty() && active.contains(x)).collect();
        if !needs.iter().any(|&x| x) {
            continue;
        }
        let rule = rules::rule_for(&n.domain, &n.op_type).ok_or_else(|| {
            Error::Unsupported(format!("no gradient rule for operator {} (node '{}')", n.op_type, n.name))
        })?;
        let dxs = rule(&mut b, n, &dys, &needs)
            .map_err(|e| e.context(format!("gradient of node '{}' ({})", n.name, n.op_type)))?;
        for (k, dx) in dxs.into_iter().enumerate() {
            if let (Some(dx), Some(true)) = (dx, needs.get(k)) {
                contribs.entry(n.inputs[k].clone()).or_default().push(dx);
            }
        }
    }

    let mut outputs = vec![b.info(loss).cloned().unwrap_or_else(|| ValueInfo::new(loss, None, None))];
    outputs[0].name = loss.to_string();
    for w in wrt {
        let gname = grad_of(w);
        let src = match total(&mut b, &mut contribs, w)? {
            Some(s) => s,
            None => b.full_like(0.0, w)?, // the loss does not depend on w
        };
        // Name the gradient output with an Identity (cheap; removed by the identity pass).
        let out = b.node("Identity", &[&src], vec![])?;
        rename_output(b.g, &out, &gname);
        let mut vi = b.info(w).cloned().unwrap_or_else(|| ValueInfo::new(w.clone(), None, None));
        vi.name = gname;
        outputs.push(vi);
    }
    for o in fwd_outputs {
        if o.name != loss {
            outputs.push(o);
        }
    }
    g.outputs = outputs;
    Ok(g)
}

/// The summed gradient of `v` (None if nothing flows into it).
fn total(b: &mut Builder, contribs: &mut HashMap<String, Vec<String>>, v: &str) -> Result<Option<String>> {
    let Some(list) = contribs.get(v) else { return Ok(None) };
    let s = match list.len() {
        0 => return Ok(None),
        1 => list[0].clone(),
        _ => {
            let refs: Vec<&str> = list.iter().map(|s| s.as_str()).collect();
            b.node("Sum", &refs, vec![])?
        }
    };
    contribs.insert(v.to_string(), vec![s.clone()]);
    Ok(Some(s))
}

fn rename_output(g: &mut Graph, from: &str, to: &str) {
    for n in g.nodes.iter_mut().rev() {
        for o in n.outputs.iter_mut() {
            if o == from {
                *o = to.to_string();
                return;
            }
        }
    }
}
