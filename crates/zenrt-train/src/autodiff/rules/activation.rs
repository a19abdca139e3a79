//! Further activations (Gelu exact and tanh-approximated, Elu, Selu, HardSigmoid, Softsign,
//! Swish) and two-input Max/Min (the gradient goes to the selected operand; ties to the first).

use super::{attr_float, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{Attr, Error, Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// `Where(x > 0, a, b)`.
fn select_positive(b: &mut Builder, x: &str, a: &str, other: &str) -> Result<String> {
    let zero = b.scalar_like(0.0, x)?;
    let c = b.node("Greater", &[x, &zero], vec![])?;
    b.node("Where", &[&c, a, other], vec![])
}

/// Gelu: exact `Φ(x) + x·φ(x)`; tanh form `½(1+t) + ½x(1−t²)·√(2/π)(1 + 3·0.044715x²)`.
pub fn gelu(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let approx = match n.attrs.get("approximate") {
        Some(Attr::String(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => "none".into(),
    };
    let half = b.scalar_like(0.5, x)?;
    let one = b.scalar_like(1.0, x)?;
    let d = match approx.as_str() {
        "none" => {
            let r2 = b.scalar_like(std::f64::consts::FRAC_1_SQRT_2, x)?;
            let u = b.mul(x, &r2)?;
            let e = b.node("Erf", &[&u], vec![])?;
            let e1 = b.add(&e, &one)?;
            let cdf = b.mul(&e1, &half)?;
            let x2 = b.mul(x, x)?;
            let mh = b.scalar_like(-0.5, x)?;
            let ex = b.mul(&x2, &mh)?;
            let ex = b.node("Exp", &[&ex], vec![])?;
            let k = b.scalar_like(1.0 / (2.0 * std::f64::consts::PI).sqrt(), x)?;
            let pdf = b.mul(&ex, &k)?;
            let xp = b.mul(x, &pdf)?;
            b.add(&cdf, &xp)?
        }
        "tanh" => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let x2 = b.mul(x, x)?;
            let x3 = b.mul(&x2, x)?;
            let k1 = b.scalar_like(0.044715, x)?;
            let t = b.mul(&x3, &k1)?;
            let t = b.add(x, &t)?;
            let kc = b.scalar_like(c, x)?;
            let u = b.mul(&t, &kc)?;
            let th = b.node("Tanh", &[&u], vec![])?;
            let a = b.add(&th, &one)?;
            let a = b.mul(&a, &half)?; // ½(1+t)
            let t2 = b.mul(&th, &th)?;
            let s = b.sub(&one, &t2)?; // 1−t²
            let k3 = b.scalar_like(3.0 * 0.044715, x)?;
            let du = b.mul(&x2, &k3)?;
            let du = b.add(&du, &one)?;
            let du = b.mul(&du, &kc)?; // du/dx
            let r = b.mul(&s, &du)?;
            let r = b.mul(&r, x)?;
            let r = b.mul(&r, &half)?;
            b.add(&a, &r)?
        }
        other => return Err(Error::Unsupported(format!("Gelu gradient for approximate='{other}'"))),
    };
    Ok(vec![Some(b.mul(&dy, &d)?)])
}

/// Elu: `1` for x > 0, else `y + α`.
pub fn elu(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, y) = (inp(n, 0), &n.outputs[0]);
    let alpha = b.scalar_like(attr_float(n, "alpha", 1.0) as f64, x)?;
    let d = b.add(y, &alpha)?;
    let neg = b.mul(&dy, &d)?;
    Ok(vec![Some(select_positive(b, x, &dy, &neg)?)])
}

/// Selu: `γ` for x > 0, else `y + γα`.
pub fn selu(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, y) = (inp(n, 0), &n.outputs[0]);
    let alpha = attr_float(n, "alpha", 1.673_263_2) as f64;
    let gamma = attr_float(n, "gamma", 1.050_701) as f64;
    let g = b.scalar_like(gamma, x)?;
    let ga = b.scalar_like(gamma * alpha, x)?;
    let pos = b.mul(&dy, &g)?;
    let d = b.add(y, &ga)?;
    let neg = b.mul(&dy, &d)?;
    Ok(vec![Some(select_positive(b, x, &pos, &neg)?)])
}

/// HardSigmoid: `α` where `0 < αx+β < 1`, else 0.
pub fn hard_sigmoid(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, y) = (inp(n, 0), &n.outputs[0]);
    let alpha = b.scalar_like(attr_float(n, "alpha", 0.2) as f64, x)?;
    let (zero, one) = (b.scalar_like(0.0, x)?, b.scalar_like(1.0, x)?);
    let c1 = b.node("Greater", &[y, &zero], vec![])?;
    let c2 = b.node("Less", &[y, &one], vec![])?;
    let c = b.node("And", &[&c1, &c2], vec![])?;
    let s = b.mul(&dy, &alpha)?;
    Ok(vec![Some(b.node("Where", &[&c, &s, &zero], vec![])?)])
}

/// Softsign: `1/(1+|x|)²`.
pub fn softsign(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let one = b.scalar_like(1.0, x)?;
    let a = b.node("Abs", &[x], vec![])?;
    let d = b.add(&a, &one)?;
    let d2 = b.mul(&d, &d)?;
    Ok(vec![Some(b.div(&dy, &d2)?)])
}

/// Swish `x·σ(αx)`: `σ + αx·σ(1−σ)`.
pub fn swish(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let alpha = b.scalar_like(attr_float(n, "alpha", 1.0) as f64, x)?;
    let one = b.scalar_like(1.0, x)?;
    let ax = b.mul(x, &alpha)?;
    let s = b.node("Sigmoid", &[&ax], vec![])?;
    let oms = b.sub(&one, &s)?;
    let t = b.mul(&ax, &oms)?;
    let t = b.add(&t, &one)?;
    let d = b.mul(&s, &t)?;
    Ok(vec![Some(b.mul(&dy, &d)?)])
}

fn select2(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool], cmp: &str) -> Grads {
    let dy = dy0!(dys);
    if n.inputs.len() == 1 {
        return Ok(vec![Some(dy)]);
    }
    if n.inputs.len() != 2 {
        return Err(Error::Unsupported(format!("{} gradient with {} inputs (2 supported)", n.op_type, n.inputs.len())));
    }
    let (a, c, y) = (inp(n, 0), inp(n, 1), &n.outputs[0]);
    let first = b.node(cmp, &[a, c], vec![])?;
    let zero = b.scalar_like(0.0, y)?;
    let mut out = vec![None, None];
    if needs[0] {
        let t = b.node("Where", &[&first, &dy, &zero], vec![])?;
        out[0] = Some(b.sum_to(&t, a, y)?);
    }
    if needs[1] {
        let t = b.node("Where", &[&first, &zero, &dy], vec![])?;
        out[1] = Some(b.sum_to(&t, c, y)?);
    }
    Ok(out)
}

pub fn max(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    select2(b, n, dys, needs, "GreaterOrEqual")
}

pub fn min(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    select2(b, n, dys, needs, "LessOrEqual")
}

/// PRelu `y = x (x > 0), slope·x` otherwise: `dx = Where(x>0, dy, dy·slope)`,
/// `dslope = Σ Where(x>0, 0, dy·x)` over the axes the slope was broadcast along.
pub fn prelu(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, slope, y) = (inp(n, 0), inp(n, 1), &n.outputs[0]);
    let zero = b.scalar_like(0.0, x)?;
    let c = b.node("Greater", &[x, &zero], vec![])?;
    let mut out = vec![None, None];
    if needs[0] {
        let s = b.mul(&dy, slope)?;
        out[0] = Some(b.node("Where", &[&c, &dy, &s], vec![])?);
    }
    if needs.get(1).copied().unwrap_or(false) {
        let dx = b.mul(&dy, x)?;
        let t = b.node("Where", &[&c, &zero, &dx], vec![])?;
        out[1] = Some(b.sum_to(&t, slope, y)?);
    }
    Ok(out)
}

/// HardSwish `x·clamp(x/6 + ½, 0, 1)`: 0 below −3, 1 above 3, `x/3 + ½` between.
pub fn hard_swish(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let x = inp(n, 0);
    let (lo, hi) = (b.scalar_like(-3.0, x)?, b.scalar_like(3.0, x)?);
    let (third, half) = (b.scalar_like(1.0 / 3.0, x)?, b.scalar_like(0.5, x)?);
    let (zero, one) = (b.scalar_like(0.0, x)?, b.scalar_like(1.0, x)?);
    let mid = b.mul(x, &third)?;
    let mid = b.add(&mid, &half)?;
    let above = b.node("Greater", &[x, &hi], vec![])?;
    let below = b.node("Less", &[x, &lo], vec![])?;
    let d = b.node("Where", &[&above, &one, &mid], vec![])?;
    let d = b.node("Where", &[&below, &zero, &d], vec![])?;
    Ok(vec![Some(b.mul(&dy, &d)?)])
}

/// Mean (variadic): each input gets `dy / count`, summed to its shape.
pub fn mean(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let y = &n.outputs[0];
    let k = b.scalar_like(1.0 / n.inputs.len() as f64, y)?;
    let s = b.mul(&dy, &k)?;
    (0..n.inputs.len())
        .map(|i| if needs.get(i).copied().unwrap_or(false) { b.sum_to(&s, inp(n, i), y).map(Some) } else { Ok(None) })
        .collect()
}
