//! ReduceSum, ReduceMean, GlobalAveragePool: the gradient is broadcast back over the reduced
//! axes (re-inserted with Unsqueeze when `keepdims=0`), divided by the count for means.

use super::{attr_int, attr_ints, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{DType, Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// `dy` broadcast back to the shape of the reduced input.
fn unreduce(b: &mut Builder, n: &Node, dy: &str) -> Result<String> {
    let x = inp(n, 0);
    let keep = attr_int(n, "keepdims", 1) != 0;
    let axes = if !inp(n, 1).is_empty() {
        Some(inp(n, 1).to_string())
    } else {
        attr_ints(n, "axes").map(|a| b.ints(&a)).transpose()?
    };
    let dy = match (keep, axes) {
        (false, Some(a)) => b.node("Unsqueeze", &[dy, &a], vec![])?,
        _ => dy.to_string(), // keepdims, or every axis reduced to a scalar
    };
    b.expand_like(&dy, x)
}

/// `numel(small) / numel(big)` as a scalar of `big`'s dtype.
fn count_ratio(b: &mut Builder, small: &str, big: &str) -> Result<String> {
    let dt: DType = b.dtype_of(big);
    let s = b.node("Size", &[small], vec![])?;
    let s = b.cast(&s, dt)?;
    let l = b.node("Size", &[big], vec![])?;
    let l = b.cast(&l, dt)?;
    b.div(&s, &l)
}

pub fn reduce_sum(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(unreduce(b, n, &dy)?), None])
}

pub fn reduce_mean(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let e = unreduce(b, n, &dy)?;
    let r = count_ratio(b, &n.outputs[0], inp(n, 0))?;
    Ok(vec![Some(b.mul(&e, &r)?), None])
}

pub fn global_average_pool(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let e = b.expand_like(&dy, x)?;
    let r = count_ratio(b, &n.outputs[0], x)?;
    Ok(vec![Some(b.mul(&e, &r)?)])
}

/// ReduceMax/ReduceMin/GlobalMaxPool: the gradient goes to the elements equal to the result
/// (every one of them on exact ties).
fn select_extreme(b: &mut Builder, n: &Node, dy: &str, global: bool) -> Result<String> {
    let x = inp(n, 0);
    let y = &n.outputs[0];
    let (ye, de) =
        if global { (b.expand_like(y, x)?, b.expand_like(dy, x)?) } else { (unreduce(b, n, y)?, unreduce(b, n, dy)?) };
    let hit = b.node("Equal", &[x, &ye], vec![])?;
    let zero = b.scalar_like(0.0, x)?;
    b.node("Where", &[&hit, &de, &zero], vec![])
}

pub fn reduce_extreme(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(select_extreme(b, n, &dy, false)?), None])
}

pub fn global_max_pool(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(select_extreme(b, n, &dy, true)?)])
}
