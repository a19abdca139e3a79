//! Fused f32 cell updates of one LSTM / GRU step with the default activations (sigmoid and
//! tanh): for every active batch row, the gate pre-activations (`H·Rᵀ` of the step plus the
//! row's input projection) go through clip, the activations and the state update in one vector
//! pass (8 lanes under AVX2, the tail of a hidden size that is not a multiple of 8 through the
//! one-lane path of the same code), with one dispatch per step instead of one call per gate,
//! row and step.

use crate::simd::math::{sigmoid, tanh};
use crate::simd::vector::{F32x, Scalar};
use crate::simd::Level;
use crate::{ensure, Result};

/// One active row of a step: its local row in the slice's gate/state buffers, where its input
/// projection row starts in `xw` and where its output row starts in `y`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub local: usize,
    pub xw: usize,
    pub y: usize,
}

/// Which fused cell and its options.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Gates `[i, o, f, c]`; peepholes `[p_i, p_o, p_f]` (`3 * hidden`); `input_forget`
    /// couples `f = 1 - i`.
    Lstm { peep: Option<&'a [f32]>, input_forget: bool },
    /// Gates `[z, r, h]` with `linear_before_reset`: `n = tanh(x_h + r ⊙ (H·R_hᵀ + Rb_h))`;
    /// `rbh` is Rb_h (`hidden`).
    GruLbr { rbh: &'a [f32] },
}

impl Cell<'_> {
    fn gates(&self) -> usize {
        match self {
            Cell::Lstm { .. } => 4,
            Cell::GruLbr { .. } => 3,
        }
    }
}

/// The buffers of one step of one slice: `gates` is `[rows, G·hidden]` (`H·Rᵀ`), `xw` the
/// input projection (`G·hidden` per row, biases included), `c` (LSTM only) and `h` the
/// `[rows, hidden]` states, updated in place; `y` receives each active row's new `h`.
pub struct StepBufs<'a> {
    pub gates: &'a [f32],
    pub xw: &'a [f32],
    pub c: &'a mut [f32],
    pub h: &'a mut [f32],
    pub y: &'a mut [f32],
}

/// Runs one fused step over `rows`; `clip` bounds every gate pre-activation.
pub fn step(cell: Cell, hs: usize, clip: Option<f32>, rows: &[Row], b: StepBufs) -> Result<()> {
    let g = cell.gates() * hs;
    let lstm = matches!(cell, Cell::Lstm { .. });
    match cell {
        Cell::Lstm { peep: Some(p), .. } => ensure!(p.len() == 3 * hs, "LSTM: peepholes of length {}", p.len()),
        Cell::GruLbr { rbh } => ensure!(rbh.len() == hs, "GRU: recurrent bias of length {}", rbh.len()),
        _ => {}
    }
    for r in rows {
        ensure!(
            (r.local + 1) * g <= b.gates.len()
                && r.xw + g <= b.xw.len()
                && (r.local + 1) * hs <= b.h.len()
                && (!lstm || (r.local + 1) * hs <= b.c.len())
                && r.y + hs <= b.y.len(),
            "RNN cell: row {:?} outside its buffers",
            r
        );
    }
    // SAFETY: every row's ranges were checked above; `h`, `c` and `y` are distinct slices.
    unsafe {
        let args = (cell, hs, clip, rows, b);
        match crate::simd::level() {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => step_avx512(args),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => step_avx2(args),
            _ => step_rows::<Scalar>(args),
        }
    }
    Ok(())
}

type Args<'a> = (Cell<'a>, usize, Option<f32>, &'a [Row], StepBufs<'a>);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_avx2(args: Args) {
    step_rows::<crate::simd::vector::Avx2>(args)
}

/// 16 hidden units per vector, then one 8-lane vector, then the one-lane tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn step_avx512((cell, hs, clip, rows, mut b): Args) {
    use crate::simd::vector::{Avx2, Avx512};
    let g = cell.gates() * hs;
    let (f16, f8) = (hs / 16 * 16, hs / 8 * 8);
    for r in rows {
        let p = row_ptrs(hs, r, &mut b, g);
        lanes::<Avx512>(cell, hs, clip, &p, 0, f16);
        lanes::<Avx2>(cell, hs, clip, &p, f16, f8);
        lanes::<Scalar>(cell, hs, clip, &p, f8, hs);
    }
}

/// The pointers of row `r` in the step's buffers (`g` gate values per row).
#[inline(always)]
unsafe fn row_ptrs(hs: usize, r: &Row, b: &mut StepBufs, g: usize) -> Ptrs {
    Ptrs {
        g: b.gates.as_ptr().add(r.local * g),
        x: b.xw.as_ptr().add(r.xw),
        c: b.c.as_mut_ptr().add(if b.c.is_empty() { 0 } else { r.local * hs }),
        h: b.h.as_mut_ptr().add(r.local * hs),
        y: b.y.as_mut_ptr().add(r.y),
    }
}

#[inline(always)]
unsafe fn step_rows<V: F32x>((cell, hs, clip, rows, b): Args) {
    let g = cell.gates() * hs;
    let full = hs / V::N * V::N;
    for r in rows {
        let p = Ptrs {
            g: b.gates.as_ptr().add(r.local * g),
            x: b.xw.as_ptr().add(r.xw),
            c: b.c.as_mut_ptr().add(if b.c.is_empty() { 0 } else { r.local * hs }),
            h: b.h.as_mut_ptr().add(r.local * hs),
            y: b.y.as_mut_ptr().add(r.y),
        };
        lanes::<V>(cell, hs, clip, &p, 0, full);
        lanes::<Scalar>(cell, hs, clip, &p, full, hs);
    }
}

struct Ptrs {
    g: *const f32,
    x: *const f32,
    c: *mut f32,
    h: *mut f32,
    y: *mut f32,
}

/// Hidden units `j0..j1` (a multiple of `V::N` long) of one row.
#[inline(always)]
unsafe fn lanes<V: F32x>(cell: Cell, hs: usize, clip: Option<f32>, p: &Ptrs, j0: usize, j1: usize) {
    let cl = |v: V| match clip {
        Some(c) => v.max(V::splat(-c)).min(V::splat(c)),
        None => v,
    };
    // Pre-activation of gate `k` at unit `j`: H·Rᵀ plus the input projection.
    let pre = |k: usize, j: usize| V::load(p.g.add(k * hs + j)).add(V::load(p.x.add(k * hs + j)));
    let mut j = j0;
    while j < j1 {
        let hn = match cell {
            Cell::Lstm { peep, input_forget } => {
                let (mut gi, mut go, mut gf) = (pre(0, j), pre(1, j), pre(2, j));
                let cp = V::load(p.c.add(j));
                let peep = peep.map(|s| s.as_ptr());
                if let Some(pp) = peep {
                    gi = V::load(pp.add(j)).fma(cp, gi);
                    gf = V::load(pp.add(2 * hs + j)).fma(cp, gf);
                }
                let i = sigmoid(cl(gi));
                let f = if input_forget { V::splat(1.0).sub(i) } else { sigmoid(cl(gf)) };
                let cn = f.fma(cp, i.mul(tanh(cl(pre(3, j)))));
                if let Some(pp) = peep {
                    go = V::load(pp.add(hs + j)).fma(cn, go);
                }
                cn.store(p.c.add(j));
                sigmoid(cl(go)).mul(tanh(cn))
            }
            Cell::GruLbr { rbh } => {
                let z = sigmoid(cl(pre(0, j)));
                let r = sigmoid(cl(pre(1, j)));
                let hh = V::load(p.g.add(2 * hs + j)).add(V::load(rbh.as_ptr().add(j)));
                let n = tanh(cl(r.fma(hh, V::load(p.x.add(2 * hs + j)))));
                // (1 - z) n + z h = n + z (h - n)
                z.fma(V::load(p.h.add(j)).sub(n), n)
            }
        };
        hn.store(p.h.add(j));
        hn.store(p.y.add(j));
        j += V::N;
    }
}
