//! Elementwise operators: broadcasting arithmetic (gradients summed back to each operand's
//! shape with `SumToShape`), activations and other unary math, Cast/Clip/Where.

use super::{attr_float, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// `Some(f())` when input `i` needs a gradient.
fn when(needs: &[bool], i: usize, f: impl FnOnce() -> Result<String>) -> Result<Option<String>> {
    if needs.get(i).copied().unwrap_or(false) {
        f().map(Some)
    } else {
        Ok(None)
    }
}

pub fn add(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let ga = when(needs, 0, || b.sum_to(&dy, inp(n, 0), y))?;
    let gb = when(needs, 1, || b.sum_to(&dy, inp(n, 1), y))?;
    Ok(vec![ga, gb])
}

pub fn sub(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let ga = when(needs, 0, || b.sum_to(&dy, inp(n, 0), y))?;
    let gb = when(needs, 1, || {
        let m = b.neg(&dy)?;
        b.sum_to(&m, inp(n, 1), y)
    })?;
    Ok(vec![ga, gb])
}

pub fn mul(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x0, x1, y) = (inp(n, 0), inp(n, 1), &n.outputs[0]);
    let ga = when(needs, 0, || {
        let m = b.mul(&dy, x1)?;
        b.sum_to(&m, x0, y)
    })?;
    let gb = when(needs, 1, || {
        let m = b.mul(&dy, x0)?;
        b.sum_to(&m, x1, y)
    })?;
    Ok(vec![ga, gb])
}

pub fn div(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x0, x1, y) = (inp(n, 0), inp(n, 1), &n.outputs[0]);
    let ga = when(needs, 0, || {
        let m = b.div(&dy, x1)?;
        b.sum_to(&m, x0, y)
    })?;
    // d(a/b)/db = -a/b² = -y/b
    let gb = when(needs, 1, || {
        let m = b.mul(&dy, y)?;
        let m = b.div(&m, x1)?;
        let m = b.neg(&m)?;
        b.sum_to(&m, x1, y)
    })?;
    Ok(vec![ga, gb])
}

pub fn sum(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    (0..n.inputs.len()).map(|i| when(needs, i, || b.sum_to(&dy, inp(n, i), y))).collect()
}

pub fn neg(b: &mut Builder, _: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.neg(&dy)?)])
}

pub fn abs(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let s = b.node("Sign", &[inp(n, 0)], vec![])?;
    Ok(vec![Some(b.mul(&dy, &s)?)])
}

/// `Where(x > 0, a, b)`.
fn positive_select(b: &mut Builder, x: &str, a: &str, other: &str) -> Result<String> {
    let zero = b.scalar_like(0.0, x)?;
    let c = b.node("Greater", &[x, &zero], vec![])?;
    b.node("Where", &[&c, a, other], vec![])
}

pub fn relu(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let zero = b.scalar_like(0.0, x)?;
    Ok(vec![Some(positive_select(b, x, &dy, &zero)?)])
}

pub fn leaky_relu(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let alpha = b.scalar_like(attr_float(n, "alpha", 0.01) as f64, x)?;
    let scaled = b.mul(&dy, &alpha)?;
    Ok(vec![Some(positive_select(b, x, &dy, &scaled)?)])
}

pub fn sigmoid(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let one = b.scalar_like(1.0, y)?;
    let t = b.sub(&one, y)?;
    let t = b.mul(y, &t)?;
    Ok(vec![Some(b.mul(&dy, &t)?)])
}

pub fn tanh(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let one = b.scalar_like(1.0, y)?;
    let t = b.mul(y, y)?;
    let t = b.sub(&one, &t)?;
    Ok(vec![Some(b.mul(&dy, &t)?)])
}

pub fn exp(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.mul(&dy, &n.outputs[0])?)])
}

pub fn log(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.div(&dy, inp(n, 0))?)])
}

pub fn sqrt(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let half = b.scalar_like(0.5, y)?;
    let t = b.mul(&dy, &half)?;
    Ok(vec![Some(b.div(&t, y)?)])
}

pub fn reciprocal(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let t = b.mul(y, y)?;
    let t = b.mul(&dy, &t)?;
    Ok(vec![Some(b.neg(&t)?)])
}

/// `y = x^p`: `dx = dy·p·x^(p-1)`, `dp = dy·y·ln x` (summed to p's shape).
pub fn pow(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, p, y) = (inp(n, 0), inp(n, 1), &n.outputs[0]);
    let xdt = b.dtype_of(x);
    let pf = if b.dtype_of(p) == xdt { p.to_string() } else { b.cast(p, xdt)? };
    let gx = when(needs, 0, || {
        let one = b.scalar(1.0, xdt)?;
        let pm1 = b.sub(&pf, &one)?;
        let t = b.node("Pow", &[x, &pm1], vec![])?;
        let t = b.mul(&t, &pf)?;
        let t = b.mul(&dy, &t)?;
        b.sum_to(&t, x, y)
    })?;
    let gp = when(needs, 1, || {
        let l = b.node("Log", &[x], vec![])?;
        let t = b.mul(y, &l)?;
        let t = b.mul(&dy, &t)?;
        b.sum_to(&t, p, y)
    })?;
    Ok(vec![gx, gp])
}

/// `d erf(x)/dx = 2/√π · exp(-x²)`.
pub fn erf(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let c = b.scalar_like(2.0 / std::f64::consts::PI.sqrt(), x)?;
    let t = b.mul(x, x)?;
    let t = b.neg(&t)?;
    let t = b.node("Exp", &[&t], vec![])?;
    let t = b.mul(&t, &c)?;
    Ok(vec![Some(b.mul(&dy, &t)?)])
}

/// `d softplus(x)/dx = sigmoid(x)`.
pub fn softplus(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let s = b.node("Sigmoid", &[inp(n, 0)], vec![])?;
    Ok(vec![Some(b.mul(&dy, &s)?)])
}

/// Identity.
pub fn identity(_: &mut Builder, _: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(dy)])
}

/// Dropout in inference mode is the identity. In training mode its mask is random and not an
/// output we can rely on, so it is refused: training-time dropout is a Mul by a mask input.
pub fn dropout(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let mode = inp(n, 2);
    let off = mode.is_empty() || b.g.initializers.get(mode).is_some_and(|t| t.to_f64_vec().iter().all(|&v| v == 0.0));
    if !off {
        return Err(zenrt_core::Error::Unsupported(
            "Dropout with training_mode: write training dropout as a Mul by a mask input".into(),
        ));
    }
    identity(b, n, dys, needs)
}

/// Cast between float types: the gradient is cast back to the input's dtype.
pub fn cast(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let dt = b.dtype_of(x);
    if !dt.is_float() || !b.dtype_of(&n.outputs[0]).is_float() {
        return Ok(vec![None]);
    }
    Ok(vec![Some(b.cast(&dy, dt)?)])
}

/// Clip passes the gradient where `min <= x <= max` (bounds not differentiated).
pub fn clip(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let mut bound = |k: usize, attr: &str, default: f32| -> Result<Option<String>> {
        if !inp(n, k).is_empty() {
            return Ok(Some(inp(n, k).to_string()));
        }
        match n.attrs.get(attr) {
            Some(_) => Ok(Some(b.scalar_like(attr_float(n, attr, default) as f64, x)?)),
            None => Ok(None),
        }
    };
    let (lo, hi) = (bound(1, "min", f32::MIN)?, bound(2, "max", f32::MAX)?);
    let c1 = lo.map(|l| b.node("GreaterOrEqual", &[x, &l], vec![])).transpose()?;
    let c2 = hi.map(|h| b.node("LessOrEqual", &[x, &h], vec![])).transpose()?;
    let cond = match (c1, c2) {
        (Some(a), Some(c)) => b.node("And", &[&a, &c], vec![])?,
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Ok(vec![Some(dy)]),
    };
    let zero = b.scalar_like(0.0, x)?;
    Ok(vec![Some(b.node("Where", &[&cond, &dy, &zero], vec![])?)])
}

/// `Where(c, a, b)`: the gradient goes to `a` where `c`, to `b` elsewhere.
pub fn where_(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (c, x1, x2, y) = (inp(n, 0), inp(n, 1), inp(n, 2), &n.outputs[0]);
    let zero = b.scalar_like(0.0, y)?;
    let ga = when(needs, 1, || {
        let t = b.node("Where", &[c, &dy, &zero], vec![])?;
        b.sum_to(&t, x1, y)
    })?;
    let gb = when(needs, 2, || {
        let t = b.node("Where", &[c, &zero, &dy], vec![])?;
        b.sum_to(&t, x2, y)
    })?;
    Ok(vec![None, ga, gb])
}
