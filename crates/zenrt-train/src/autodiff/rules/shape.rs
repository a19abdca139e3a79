//! Data-movement operators: Reshape/Flatten/Squeeze/Unsqueeze, Transpose, Concat, Split,
//! Slice, Gather (embedding rows: a scatter-add), Expand.

use super::{attr_int, attr_ints, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{Attr, Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// Ops that only change the shape: `dx = Reshape(dy, Shape(x))`.
pub fn reshape_like_input(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.reshape_like(&dy, inp(n, 0))?)])
}

/// Transpose by the inverse permutation (the default reversal is its own inverse).
pub fn transpose(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let attrs = match attr_ints(n, "perm") {
        None => vec![],
        Some(perm) => {
            let mut inv = vec![0i64; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                if let Some(slot) = usize::try_from(p).ok().and_then(|p| inv.get_mut(p)) {
                    *slot = i as i64;
                }
            }
            vec![("perm", Attr::Ints(inv))]
        }
    };
    Ok(vec![Some(b.node("Transpose", &[&dy], attrs)?)])
}

/// The length of axis `axis` of `x`, as a 1-element int64 tensor.
fn axis_len(b: &mut Builder, x: &str, axis: i64) -> Result<String> {
    b.node("Shape", &[x], vec![("start", Attr::Int(axis)), ("end", Attr::Int(axis + 1))])
}

/// Concat: the gradient is split back along the axis into the inputs' lengths.
pub fn concat(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let mut axis = attr_int(n, "axis", 0);
    if axis < 0 {
        axis +=
            b.rank_of(&n.outputs[0], "Concat gradient").or_else(|_| b.rank_of(inp(n, 0), "Concat gradient"))? as i64;
    }
    let mut lens = Vec::new();
    for x in &n.inputs {
        lens.push(axis_len(b, x, axis)?);
    }
    let refs: Vec<&str> = lens.iter().map(|s| s.as_str()).collect();
    let split = b.node("Concat", &refs, vec![("axis", Attr::Int(0))])?;
    let outs = b.node_n("", "Split", &[&dy, &split], vec![("axis", Attr::Int(axis))], n.inputs.len())?;
    Ok(outs.into_iter().map(Some).collect())
}

/// Split: output gradients (zeros for outputs without one) concatenated along the axis.
pub fn split(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let axis = attr_int(n, "axis", 0);
    let mut parts = Vec::new();
    for (k, o) in n.outputs.iter().enumerate() {
        parts.push(match dys.get(k).cloned().flatten() {
            Some(d) => d,
            None => b.full_like(0.0, o)?,
        });
    }
    let refs: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
    Ok(vec![Some(b.node("Concat", &refs, vec![("axis", Attr::Int(axis))])?)])
}

/// Slice: `dy` written back at the sliced positions of zeros (`com.zenrt.SliceGrad`).
pub fn slice(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let mut ins: Vec<&str> = vec![&dy, inp(n, 0)];
    if n.inputs.len() < 3 {
        return Err(zenrt_core::Error::Unsupported("Slice gradient for the opset < 10 form (attributes)".into()));
    }
    ins.extend(n.inputs[1..].iter().map(|s| s.as_str()));
    Ok(vec![Some(b.zenrt("SliceGrad", &ins, vec![])?)])
}

/// Gather: rows of `dy` scatter-added at the indices (`com.zenrt.GatherGrad`); the indices
/// get no gradient.
pub fn gather(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let axis = attr_int(n, "axis", 0);
    let g = b.zenrt("GatherGrad", &[&dy, inp(n, 1), inp(n, 0)], vec![("axis", Attr::Int(axis))])?;
    Ok(vec![Some(g), None])
}

/// Expand: the adjoint of broadcasting.
pub fn expand(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.zenrt("SumToShape", &[&dy, inp(n, 0)], vec![])?), None])
}

/// Pad (constant mode, non-negative pads given as an input): the gradient is the interior of
/// `dy`, `Slice(dy, pads_begin, shape(dy) − pads_end)`.
pub fn pad(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let mode = match n.attrs.get("mode") {
        Some(Attr::String(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => "constant".into(),
    };
    if mode != "constant" {
        return Err(zenrt_core::Error::Unsupported(format!("Pad gradient for mode '{mode}'")));
    }
    let pads = inp(n, 1);
    if pads.is_empty() || !inp(n, 3).is_empty() {
        return Err(zenrt_core::Error::Unsupported("Pad gradient needs the pads input and no axes input".into()));
    }
    // Split pads into begins and ends at runtime: half = Size(pads) / 2.
    let size = b.node("Shape", &[pads], vec![])?;
    let two = b.ints(&[2])?;
    let half = b.node("Div", &[&size, &two], vec![])?;
    let zero = b.ints(&[0])?;
    let big = b.ints(&[i64::MAX])?;
    let begins = b.node("Slice", &[pads, &zero, &half], vec![])?;
    let ends_pad = b.node("Slice", &[pads, &half, &big], vec![])?;
    let shape = b.shape(&dy)?;
    let ends = b.node("Sub", &[&shape, &ends_pad], vec![])?;
    Ok(vec![Some(b.node("Slice", &[&dy, &begins, &ends], vec![])?), None, None])
}
