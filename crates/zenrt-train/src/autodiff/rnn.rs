//! Rewriting ONNX LSTM and GRU nodes into primitives before differentiation, so their
//! gradients come from the primitive rules (MatMul, Add, Sigmoid, Tanh, Mul, Split, Slice,
//! Concat, ...): back-propagation through time falls out of the unrolled graph.
//!
//! Supported: forward/reverse/bidirectional, `layout = 0`, default activations, optional
//! initial states, GRU `linear_before_reset` 0 or 1, and a sequence length known statically
//! (the first axis of X in the graph's shape information). Not supported (an
//! `Error::Unsupported` naming the node): `sequence_lens`, peepholes, `clip`, `input_forget`,
//! custom activations, `layout = 1`.

use super::builder::Builder;
use zenrt_core::infer::infer_graph;
use zenrt_core::{Attr, Dim, Error, Graph, Node, Result, Tensor};

fn is_rnn(n: &Node) -> bool {
    n.domain.is_empty() && (n.op_type == "LSTM" || n.op_type == "GRU")
}

/// The graph with every LSTM/GRU node replaced by an unrolled primitive subgraph producing
/// the same output names.
pub fn decompose(g: &Graph) -> Result<Graph> {
    if !g.nodes.iter().any(is_rnn) {
        return Ok(g.clone());
    }
    let infos = infer_graph(g);
    let mut out = g.clone();
    let rnns: Vec<Node> = out.nodes.iter().filter(|n| is_rnn(n)).cloned().collect();
    out.nodes.retain(|n| !is_rnn(n));
    let mut b = Builder::new(&mut out, "rnn");
    for n in &rnns {
        let x = n.inputs.first().cloned().unwrap_or_default();
        let info = infos.get(&x).or_else(|| g.inputs.iter().find(|i| i.name == x));
        let seq = match info.and_then(|i| i.shape.as_ref()).and_then(|s| s.first()) {
            Some(Dim::Known(s)) => *s,
            _ => {
                return Err(Error::Unsupported(format!(
                    "{} node '{}': the sequence length (first axis of '{x}') must be known statically to unroll it",
                    n.op_type, n.name
                )))
            }
        };
        let dt = info.and_then(|i| i.dtype).unwrap_or(b.default_dtype);
        unroll(&mut b, n, seq, dt).map_err(|e| e.in_node(&n.name, &n.op_type))?;
    }
    Ok(out)
}

fn unsupported(n: &Node, what: &str) -> Error {
    Error::Unsupported(format!("{} node '{}': {what} cannot be differentiated yet", n.op_type, n.name))
}

fn attr_str(n: &Node, k: &str) -> Option<String> {
    match n.attrs.get(k) {
        Some(Attr::String(s)) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

fn attr_i(n: &Node, k: &str, d: i64) -> i64 {
    match n.attrs.get(k) {
        Some(Attr::Int(v)) => *v,
        _ => d,
    }
}

/// `t[start:end]` along `axis`.
fn slice(b: &mut Builder, t: &str, start: i64, end: i64, axis: i64) -> Result<String> {
    let (s, e, a) = (b.ints(&[start])?, b.ints(&[end])?, b.ints(&[axis])?);
    b.node("Slice", &[t, &s, &e, &a], vec![])
}

/// `t[i]` along axis 0 (the axis removed).
fn index0(b: &mut Builder, t: &str, i: usize) -> Result<String> {
    let s = slice(b, t, i as i64, i as i64 + 1, 0)?;
    let a = b.ints(&[0])?;
    b.node("Squeeze", &[&s, &a], vec![])
}

fn unsqueeze0(b: &mut Builder, t: &str) -> Result<String> {
    let a = b.ints(&[0])?;
    b.node("Unsqueeze", &[t, &a], vec![])
}

/// `Transpose(m[d])`: per-direction weights as `[in, gates·H]`.
fn weight_t(b: &mut Builder, w: &str, d: usize) -> Result<String> {
    let wd = index0(b, w, d)?;
    b.node("Transpose", &[&wd], vec![("perm", Attr::Ints(vec![1, 0]))])
}

/// Splits `t` into `k` equal parts of size `h` along axis `axis`.
fn split(b: &mut Builder, t: &str, k: usize, h: usize, axis: i64) -> Result<Vec<String>> {
    let sizes = b.ints(&vec![h as i64; k])?;
    b.node_n("", "Split", &[t, &sizes], vec![("axis", Attr::Int(axis))], k)
}

/// Makes `src` available under the name `dst` (an Identity node).
fn alias(b: &mut Builder, src: &str, dst: &str) -> Result<()> {
    if dst.is_empty() {
        return Ok(());
    }
    b.node("Identity", &[src], vec![])?;
    if let Some(last) = b.g.nodes.last_mut() {
        last.outputs[0] = dst.to_string();
    }
    Ok(())
}

fn unroll(b: &mut Builder, n: &Node, seq: usize, dt: zenrt_core::DType) -> Result<()> {
    let lstm = n.op_type == "LSTM";
    let inp = |i: usize| n.inputs.get(i).cloned().unwrap_or_default();
    if attr_i(n, "layout", 0) != 0 {
        return Err(unsupported(n, "layout=1"));
    }
    if n.attrs.contains_key("clip") {
        return Err(unsupported(n, "clip"));
    }
    if attr_i(n, "input_forget", 0) != 0 {
        return Err(unsupported(n, "input_forget"));
    }
    if !inp(4).is_empty() {
        return Err(unsupported(n, "sequence_lens"));
    }
    if lstm && !inp(7).is_empty() {
        return Err(unsupported(n, "peepholes (P)"));
    }
    if let Some(Attr::Strings(acts)) = n.attrs.get("activations") {
        let want: &[&str] = if lstm { &["Sigmoid", "Tanh", "Tanh"] } else { &["Sigmoid", "Tanh"] };
        if acts.iter().enumerate().any(|(i, a)| a.as_slice() != want[i % want.len()].as_bytes()) {
            return Err(unsupported(n, "custom activations"));
        }
    }
    let hs = match n.attrs.get("hidden_size") {
        Some(Attr::Int(h)) if *h > 0 => *h as usize,
        _ => return Err(unsupported(n, "a missing hidden_size")),
    };
    let dirs: Vec<bool> = match attr_str(n, "direction").as_deref().unwrap_or("forward") {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => return Err(Error::Attr { attr: "direction".into(), msg: format!("unknown direction '{other}'") }),
    };
    let gates = if lstm { 4 } else { 3 };
    let lbr = attr_i(n, "linear_before_reset", 0) != 0;
    let (x, w, r, bias) = (inp(0), inp(1), inp(2), inp(3));
    // Zero state [batch, H] when no initial state is given.
    let zeros = {
        let batch = b.node("Shape", &[&x], vec![("start", Attr::Int(1)), ("end", Attr::Int(2))])?;
        let hsz = b.ints(&[hs as i64])?;
        let shape = b.node("Concat", &[&batch, &hsz], vec![("axis", Attr::Int(0))])?;
        b.node("ConstantOfShape", &[&shape], vec![("value", Attr::Tensor(Tensor::full(dt, vec![1], 0.0)?))])?
    };
    let (mut ys, mut yhs, mut ycs) = (vec![], vec![], vec![]);
    for (d, &rev) in dirs.iter().enumerate() {
        let wt = weight_t(b, &w, d)?; // [in, G·H]
        let rt = weight_t(b, &r, d)?; // [H, G·H]
                                      // Input projection for all steps at once: [seq, batch, G·H].
        let mut xw = b.node("MatMul", &[&x, &wt], vec![])?;
        let mut rb_all = None;
        if !bias.is_empty() {
            let bd = index0(b, &bias, d)?; // [2·G·H]
            let gh = (gates * hs) as i64;
            let wb = slice(b, &bd, 0, gh, 0)?;
            let rb = slice(b, &bd, gh, 2 * gh, 0)?;
            if lstm {
                let s = b.add(&wb, &rb)?;
                xw = b.add(&xw, &s)?;
            } else {
                xw = b.add(&xw, &wb)?;
                rb_all = Some(rb);
            }
        }
        let state = |b: &mut Builder, k: usize| -> Result<String> {
            let s = inp(k);
            if s.is_empty() {
                Ok(zeros.clone())
            } else {
                index0(b, &s, d)
            }
        };
        let mut h = state(b, 5)?;
        let mut c = if lstm { state(b, 6)? } else { String::new() };
        // GRU: recurrent weights split into the z,r part and the h part.
        let (rt_zr, rt_h, rb_zr, rb_h) = if !lstm {
            let zr = slice(b, &rt, 0, 2 * hs as i64, 1)?;
            let hh = slice(b, &rt, 2 * hs as i64, 3 * hs as i64, 1)?;
            let (bzr, bh) = match &rb_all {
                Some(rb) => {
                    (Some(slice(b, rb, 0, 2 * hs as i64, 0)?), Some(slice(b, rb, 2 * hs as i64, 3 * hs as i64, 0)?))
                }
                None => (None, None),
            };
            (zr, hh, bzr, bh)
        } else {
            Default::default()
        };
        let mut outs = vec![String::new(); seq];
        let order: Vec<usize> = if rev { (0..seq).rev().collect() } else { (0..seq).collect() };
        for &t in &order {
            let xt = index0(b, &xw, t)?; // [batch, G·H]
            if lstm {
                let hr = b.node("MatMul", &[&h, &rt], vec![])?;
                let g = b.add(&xt, &hr)?;
                let p = split(b, &g, 4, hs, 1)?; // i, o, f, c
                let i = b.node("Sigmoid", &[&p[0]], vec![])?;
                let o = b.node("Sigmoid", &[&p[1]], vec![])?;
                let f = b.node("Sigmoid", &[&p[2]], vec![])?;
                let ct = b.node("Tanh", &[&p[3]], vec![])?;
                let fc = b.mul(&f, &c)?;
                let ic = b.mul(&i, &ct)?;
                c = b.add(&fc, &ic)?;
                let tc = b.node("Tanh", &[&c], vec![])?;
                h = b.mul(&o, &tc)?;
            } else {
                let px = split(b, &xt, 3, hs, 1)?; // z, r, h
                let mut hzr = b.node("MatMul", &[&h, &rt_zr], vec![])?;
                if let Some(bzr) = &rb_zr {
                    hzr = b.add(&hzr, bzr)?;
                }
                let ph = split(b, &hzr, 2, hs, 1)?;
                let zs = b.add(&px[0], &ph[0])?;
                let z = b.node("Sigmoid", &[&zs], vec![])?;
                let rs = b.add(&px[1], &ph[1])?;
                let rg = b.node("Sigmoid", &[&rs], vec![])?;
                let hh = if lbr {
                    let mut m = b.node("MatMul", &[&h, &rt_h], vec![])?;
                    if let Some(bh) = &rb_h {
                        m = b.add(&m, bh)?;
                    }
                    b.mul(&rg, &m)?
                } else {
                    let rh = b.mul(&rg, &h)?;
                    let mut m = b.node("MatMul", &[&rh, &rt_h], vec![])?;
                    if let Some(bh) = &rb_h {
                        m = b.add(&m, bh)?;
                    }
                    m
                };
                let pre = b.add(&px[2], &hh)?;
                let ht = b.node("Tanh", &[&pre], vec![])?;
                // h = (1 − z)·ĥ + z·h = ĥ + z·(h − ĥ)
                let diff = b.sub(&h, &ht)?;
                let zd = b.mul(&z, &diff)?;
                h = b.add(&ht, &zd)?;
            }
            outs[t] = unsqueeze0(b, &h)?;
        }
        let refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
        let yd = b.node("Concat", &refs, vec![("axis", Attr::Int(0))])?; // [seq, batch, H]
        let a1 = b.ints(&[1])?;
        ys.push(b.node("Unsqueeze", &[&yd, &a1], vec![])?);
        yhs.push(unsqueeze0(b, &h)?);
        if lstm {
            ycs.push(unsqueeze0(b, &c)?);
        }
    }
    let cat = |b: &mut Builder, v: &[String], axis: i64| -> Result<String> {
        let refs: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
        b.node("Concat", &refs, vec![("axis", Attr::Int(axis))])
    };
    let y = cat(b, &ys, 1)?;
    alias(b, &y, n.outputs.first().map(|s| s.as_str()).unwrap_or(""))?;
    let yh = cat(b, &yhs, 0)?;
    alias(b, &yh, n.outputs.get(1).map(|s| s.as_str()).unwrap_or(""))?;
    if lstm {
        let yc = cat(b, &ycs, 0)?;
        alias(b, &yc, n.outputs.get(2).map(|s| s.as_str()).unwrap_or(""))?;
    }
    Ok(())
}
