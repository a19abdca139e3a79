//! Conv, MaxPool, AveragePool (through `com.zenrt` gradient kernels), LayerNormalization
//! (closed-form gradient in primitives) and BatchNormalization in inference form.
//! Training-mode batch normalization is written by the model builder as primitives
//! (ReduceMean/Sub/Mul/...), whose rules apply.

use super::{attr_float, attr_int, dy0, inp};
use crate::autodiff::builder::Builder;
use zenrt_core::{Attr, Error, Node, Result};

type Grads = Result<Vec<Option<String>>>;

/// The node's attributes among `keys` (to copy onto its gradient node).
fn copy_attrs<'a>(n: &Node, keys: &[&'a str]) -> Vec<(&'a str, Attr)> {
    keys.iter().filter_map(|k| n.attrs.get(*k).map(|a| (*k, a.clone()))).collect()
}

const WINDOW: &[&str] = &["kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"];

/// All axes but the channel axis 1 of a rank-`r` value.
fn non_channel_axes(r: usize) -> Vec<i64> {
    (0..r as i64).filter(|&a| a != 1).collect()
}

pub fn conv(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, w) = (inp(n, 0), inp(n, 1));
    let mut out = vec![None, None, None];
    if needs[0] {
        out[0] = Some(b.zenrt("ConvGradInput", &[&dy, w, x], copy_attrs(n, WINDOW))?);
    }
    if needs.get(1).copied().unwrap_or(false) {
        out[1] = Some(b.zenrt("ConvGradWeight", &[&dy, x, w], copy_attrs(n, WINDOW))?);
    }
    if needs.get(2).copied().unwrap_or(false) {
        let r = b.rank_of(x, "Conv bias gradient")?;
        out[2] = Some(b.reduce_sum(&dy, &non_channel_axes(r), false)?);
    }
    Ok(out)
}

const POOL: &[&str] = &["kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode"];

pub fn max_pool(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    Ok(vec![Some(b.zenrt("MaxPoolGrad", &[&dy, inp(n, 0)], copy_attrs(n, POOL))?)])
}

pub fn average_pool(b: &mut Builder, n: &Node, dys: &[Option<String>], _: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let mut attrs = copy_attrs(n, POOL);
    attrs.extend(copy_attrs(n, &["count_include_pad"]));
    Ok(vec![Some(b.zenrt("AveragePoolGrad", &[&dy, inp(n, 0)], attrs)?)])
}

/// LayerNormalization over axes `axis..rank`: with `x̂ = (x−μ)·r`, `r = 1/√(σ²+ε)`, `g = dy·γ`:
/// `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dγ = Σ dy·x̂`, `dβ = Σ dy` (sums over leading axes).
pub fn layer_norm(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    let dy = dy0!(dys);
    let (x, scale, bias) = (inp(n, 0), inp(n, 1), inp(n, 2));
    let axis = attr_int(n, "axis", -1);
    let axes: Vec<i64> = if axis < 0 {
        (axis..0).collect()
    } else {
        (axis..b.rank_of(x, "LayerNormalization gradient")? as i64).collect()
    };
    let eps = b.scalar_like(attr_float(n, "epsilon", 1e-5) as f64, x)?;
    let mu = b.reduce_mean(x, &axes, true)?;
    let xc = b.sub(x, &mu)?;
    let sq = b.mul(&xc, &xc)?;
    let var = b.reduce_mean(&sq, &axes, true)?;
    let ve = b.add(&var, &eps)?;
    let sd = b.node("Sqrt", &[&ve], vec![])?;
    let r = b.node("Reciprocal", &[&sd], vec![])?;
    let xhat = b.mul(&xc, &r)?;
    let mut out = vec![None, None, None];
    if needs[0] {
        let g = b.mul(&dy, scale)?;
        let mg = b.reduce_mean(&g, &axes, true)?;
        let gx = b.mul(&g, &xhat)?;
        let mgx = b.reduce_mean(&gx, &axes, true)?;
        let t = b.mul(&xhat, &mgx)?;
        let t2 = b.sub(&g, &mg)?;
        let t = b.sub(&t2, &t)?;
        out[0] = Some(b.mul(&r, &t)?);
    }
    if needs.get(1).copied().unwrap_or(false) {
        let t = b.mul(&dy, &xhat)?;
        out[1] = Some(b.zenrt("SumToShape", &[&t, scale], vec![])?);
    }
    if needs.get(2).copied().unwrap_or(false) && !bias.is_empty() {
        out[2] = Some(b.zenrt("SumToShape", &[&dy, bias], vec![])?);
    }
    Ok(out)
}

/// BatchNormalization with running statistics (inference form): `y = γ·(x−μ)/√(σ²+ε) + β`
/// per channel. Gradients for x, γ, β; the statistics are not trained.
pub fn batch_norm_inference(b: &mut Builder, n: &Node, dys: &[Option<String>], needs: &[bool]) -> Grads {
    if attr_int(n, "training_mode", 0) != 0 {
        return Err(Error::Unsupported(
            "BatchNormalization with training_mode=1 (write training batch norm as primitives)".into(),
        ));
    }
    let dy = dy0!(dys);
    let (x, scale, mean, var) = (inp(n, 0), inp(n, 1), inp(n, 3), inp(n, 4));
    let rank = b.rank_of(x, "BatchNormalization gradient")?;
    let per_channel = |b: &mut Builder, v: &str| -> Result<String> {
        if rank <= 2 {
            return Ok(v.to_string());
        }
        let axes = b.ints(&(1..rank as i64 - 1).collect::<Vec<_>>())?;
        b.node("Unsqueeze", &[v, &axes], vec![])
    };
    let eps = b.scalar_like(attr_float(n, "epsilon", 1e-5) as f64, x)?;
    let ve = b.add(var, &eps)?;
    let sd = b.node("Sqrt", &[&ve], vec![])?;
    let r = b.node("Reciprocal", &[&sd], vec![])?;
    let r_c = per_channel(b, &r)?;
    let axes = non_channel_axes(rank);
    let mut out = vec![None, None, None, None, None];
    if needs[0] {
        let s_c = per_channel(b, scale)?;
        let t = b.mul(&s_c, &r_c)?;
        out[0] = Some(b.mul(&dy, &t)?);
    }
    if needs.get(1).copied().unwrap_or(false) {
        let m_c = per_channel(b, mean)?;
        let xc = b.sub(x, &m_c)?;
        let xhat = b.mul(&xc, &r_c)?;
        let t = b.mul(&dy, &xhat)?;
        out[1] = Some(b.reduce_sum(&t, &axes, false)?);
    }
    if needs.get(2).copied().unwrap_or(false) {
        out[2] = Some(b.reduce_sum(&dy, &axes, false)?);
    }
    Ok(out)
}
