//! Gemm: `Y = alpha · op(A) · op(B) + beta · C`, with `op` an optional transpose and C
//! (optional since opset 11) unidirectionally broadcast to `(M, N)`.
//! The opset < 7 `broadcast` attribute is accepted (C is broadcast either way).

use super::common::{tensor_from_f64, tensor_from_i64, GemmElem, MatView};
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Operand, PackedMat, Strided};
use crate::ops::util::broadcast_index_map;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Gemm {
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Gemm::parse(cx)?))
}

impl Gemm {
    /// Parses Gemm's attributes (shared with `com.zenrt.FusedGemm`).
    pub fn parse(cx: &BuildCtx) -> Result<Gemm> {
        Ok(Gemm {
            trans_a: cx.int("transA", 0)? != 0,
            trans_b: cx.int("transB", 0)? != 0,
            alpha: cx.float("alpha", 1.0)?,
            beta: cx.float("beta", 1.0)?,
        })
    }

    /// (M, K, N) and the views of A and B.
    fn dims(&self, a: &Tensor, b: &Tensor) -> Result<(usize, usize, usize, MatView, MatView)> {
        if a.rank() != 2 || b.rank() != 2 {
            return Err(Error::Shape(format!("Gemm: A and B must be 2-D, got {:?} and {:?}", a.shape(), b.shape())));
        }
        let (ar, ac) = (a.shape()[0], a.shape()[1]);
        let (br, bc) = (b.shape()[0], b.shape()[1]);
        let (m, k, av) =
            if self.trans_a { (ac, ar, MatView::transposed(0, ac)) } else { (ar, ac, MatView::row_major(0, ac)) };
        let (kb, n, bv) =
            if self.trans_b { (bc, br, MatView::transposed(0, bc)) } else { (br, bc, MatView::row_major(0, bc)) };
        if k != kb {
            return Err(Error::Shape(format!(
                "Gemm: inner dimensions differ (A {:?} transA={}, B {:?} transB={})",
                a.shape(),
                self.trans_a,
                b.shape(),
                self.trans_b
            )));
        }
        Ok((m, k, n, av, bv))
    }
}

impl Gemm {
    /// f32 `act(alpha·op(A)·op(B) + beta·C)` on the fast GEMM, C folded into the epilogue
    /// (a row vector becomes a per-column bias); `packed` holds B pre-packed when B is constant.
    pub fn run_f32(
        &self,
        a: &Tensor,
        b: &Tensor,
        packed: Option<&PackedGemmB>,
        c: Option<&Tensor>,
        act: Activation,
    ) -> Result<Tensor> {
        let (m, k, n, av, bv) = self.dims(a, b)?;
        let total = checked_numel(&[m, n], DType::F32, "Gemm output")?;
        let cmap = c_map(c, m, n)?;
        let sa = Strided::new(a.as_slice::<f32>()?, k, m, av.cs, av.rs)?;
        let sb;
        let (kern, bop) = match packed.filter(|p| p.shape == b.shape()) {
            Some(p) => (p.kern, Operand::Packed(&p.mat)),
            None => {
                sb = Strided::new(b.as_slice::<f32>()?, k, n, bv.rs, bv.cs)?;
                (kernels::best(), Operand::Src(&sb))
            }
        };
        let mut o = crate::memory::alloc_for_overwrite::<f32>(total);
        let mut gemm_beta = 0.0;
        let scaled: Vec<f32>;
        let mut bias = Bias::None;
        if let (Some(c), Some(map)) = (c, &cmap) {
            if self.beta != 0.0 {
                let cv = c.as_slice::<f32>()?;
                let row_vec = c.len() == n && c.shape().iter().rev().skip(1).all(|&d| d == 1);
                if row_vec && self.beta == 1.0 {
                    bias = Bias::PerCol(cv);
                } else if row_vec {
                    scaled = cv.iter().map(|&v| v * self.beta).collect();
                    bias = Bias::PerCol(&scaled);
                } else {
                    o.iter_mut().zip(map).for_each(|(x, &i)| *x = cv[i] * self.beta);
                    gemm_beta = 1.0;
                }
            }
        }
        sgemm(
            kern,
            self.alpha,
            Operand::Src(&sa),
            bop,
            gemm_beta,
            &mut o,
            n,
            1,
            &Epilogue { bias, act, residual: None },
        )?;
        Tensor::from_vec(vec![m, n], o)
    }
}

/// Gemm's B packed at plan time (a constant f32 weight).
#[derive(Debug)]
pub struct PackedGemmB {
    pub shape: Vec<usize>,
    kern: &'static crate::ops::gemm::Kernel,
    mat: PackedMat,
}

impl PackedGemmB {
    /// Packs a constant 2-D f32 B as the kernel's right operand (`None` if B does not qualify).
    pub fn new(b: Option<&Tensor>, trans_b: bool) -> Result<Option<PackedGemmB>> {
        let Some(b) = b.filter(|b| b.dtype() == DType::F32 && b.rank() == 2) else { return Ok(None) };
        let (br, bc) = (b.shape()[0], b.shape()[1]);
        let s = if trans_b {
            Strided::new(b.as_slice::<f32>()?, bc, br, 1, bc)?
        } else {
            Strided::new(b.as_slice::<f32>()?, br, bc, bc, 1)?
        };
        let kern = kernels::best();
        Ok(Some(PackedGemmB { shape: b.shape().to_vec(), kern, mat: PackedMat::new(&s, kern, false)? }))
    }
}

/// Gemm or FusedGemm with B packed at plan time; other dtypes run the plain path.
#[derive(Debug)]
pub struct PackedGemm {
    pub gemm: Gemm,
    pub act: Activation,
    pub b: PackedGemmB,
}

impl PackedGemm {
    /// The packed replacement of a Gemm whose B (input 1) is a constant f32 matrix.
    pub fn prepare(gemm: &Gemm, act: Activation, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        let Some(b) = PackedGemmB::new(consts.get(1).copied().flatten(), gemm.trans_b)? else { return Ok(None) };
        Ok(Some(Arc::new(PackedGemm { gemm: gemm.clone(), act, b })))
    }
}

impl Op for PackedGemm {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "Gemm")?;
        let b = input(inputs, 1, "Gemm")?;
        let c = opt_input(inputs, 2);
        if a.dtype() == DType::F32 && b.dtype() == DType::F32 && c.is_none_or(|c| c.dtype() == DType::F32) {
            return Ok(vec![self.gemm.run_f32(a, b, Some(&self.b), c, self.act)?]);
        }
        let y =
            self.gemm.run(ctx, inputs)?.into_iter().next().ok_or_else(|| Error::Invalid("Gemm: no output".into()))?;
        Ok(vec![self.act.apply(y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        self.gemm.infer(inputs)
    }
}

/// Index map of C (broadcast to (m, n)), or None when C is absent.
fn c_map(c: Option<&Tensor>, m: usize, n: usize) -> Result<Option<Vec<usize>>> {
    let Some(c) = c else { return Ok(None) };
    if c.rank() > 2 {
        return Err(Error::Shape(format!("Gemm: C must have rank <= 2, got {:?}", c.shape())));
    }
    let out = [m, n];
    let off = 2 - c.rank();
    for (i, &d) in c.shape().iter().enumerate() {
        if d != 1 && d != out[i + off] {
            return Err(Error::Shape(format!("Gemm: C of shape {:?} cannot broadcast to [{m}, {n}]", c.shape())));
        }
    }
    Ok(Some(broadcast_index_map(c.shape(), &out)))
}

impl Op for Gemm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "Gemm")?;
        let b = input(inputs, 1, "Gemm")?;
        let c = opt_input(inputs, 2);
        let dt = a.dtype();
        if b.dtype() != dt || c.is_some_and(|c| c.dtype() != dt) {
            bail!("Gemm: input dtypes differ");
        }
        let (m, k, n, av, bv) = self.dims(a, b)?;
        let total = checked_numel(&[m, n], dt, "Gemm output")?;
        let cmap = c_map(c, m, n)?;
        let (alpha, beta) = (self.alpha, self.beta);
        match dt {
            DType::F32 => Ok(vec![self.run_f32(a, b, None, c, Activation::None)?]),
            DType::F64 | DType::F16 | DType::BF16 => {
                let (af, bf) = (a.to_f64_vec(), b.to_f64_vec());
                let mut o = vec![0f64; total];
                f64::gemm(m, n, k, &af, av, &bf, bv, &mut o)?;
                o.iter_mut().for_each(|x| *x *= alpha as f64);
                if let (Some(c), Some(map)) = (c, &cmap) {
                    if beta != 0.0 {
                        let cv = c.to_f64_vec();
                        o.iter_mut().zip(map).for_each(|(x, &i)| *x += cv[i] * beta as f64);
                    }
                }
                Ok(vec![tensor_from_f64(dt, vec![m, n], o)?])
            }
            DType::Bool => Err(Error::UnsupportedDType { op: "Gemm".into(), dtype: dt }),
            _ => {
                let (ai, bi) = (a.to_i64_vec(), b.to_i64_vec());
                let mut o = vec![0i64; total];
                i64::gemm(m, n, k, &ai, av, &bi, bv, &mut o)?;
                let cv = c.map(|c| c.to_i64_vec());
                if alpha == 1.0 && (beta == 1.0 || cv.is_none()) {
                    if let (Some(cv), Some(map)) = (&cv, &cmap) {
                        o.iter_mut().zip(map).for_each(|(x, &i)| *x = x.wrapping_add(cv[i]));
                    }
                    return Ok(vec![tensor_from_i64(dt, vec![m, n], o)?]);
                }
                let mut of: Vec<f64> = o.iter().map(|&x| x as f64 * alpha as f64).collect();
                if let (Some(cv), Some(map)) = (&cv, &cmap) {
                    if beta != 0.0 {
                        of.iter_mut().zip(map).for_each(|(x, &i)| *x += cv[i] as f64 * beta as f64);
                    }
                }
                Ok(vec![tensor_from_f64(dt, vec![m, n], of)?])
            }
        }
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(a), Some(b)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        let dim = |s: &Option<Vec<Dim>>, i: usize| -> Option<Dim> {
            s.as_ref().filter(|s| s.len() == 2).map(|s| s[i].clone())
        };
        let m = dim(&a.shape, if self.trans_a { 1 } else { 0 });
        let n = dim(&b.shape, if self.trans_b { 0 } else { 1 });
        let shape = Some(vec![m.unwrap_or(Dim::Unknown), n.unwrap_or(Dim::Unknown)]);
        Ok(vec![ValueInfo::new("", a.dtype.or(b.dtype), shape)])
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedGemm::prepare(self, Activation::None, consts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::linalg::matmul::MatMul;
    use crate::ops::nn::conv::tests::Lcg;
    use crate::{Graph, Value};

    struct NoCtx;
    impl ExecCtx for NoCtx {
        fn run_subgraph_values(&self, _: &Arc<Graph>, _: Vec<Value>) -> Result<Vec<Value>> {
            Err(Error::Invalid("no subgraphs".into()))
        }
    }

    fn rand_t(rng: &mut Lcg, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec(shape.to_vec(), (0..n).map(|_| rng.float() as f32).collect::<Vec<f32>>()).unwrap()
    }

    fn close(got: &Tensor, want: &[f64], what: &str) {
        let g = got.to_f64_vec();
        assert_eq!(g.len(), want.len(), "{what}");
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}: {a} vs {b}");
        }
    }

    #[test]
    fn gemm_op_plain_and_packed_match_f64() {
        let mut rng = Lcg(21);
        for case in 0..60 {
            let (m, k, n) = (1 + rng.below(40), rng.below(40), 1 + rng.below(40));
            let g = Gemm {
                trans_a: rng.below(2) == 1,
                trans_b: rng.below(2) == 1,
                alpha: [1.0, 0.5][rng.below(2)],
                beta: [1.0, 0.0, -2.0][rng.below(3)],
            };
            let a = rand_t(&mut rng, &if g.trans_a { [k, m] } else { [m, k] });
            let b = rand_t(&mut rng, &if g.trans_b { [n, k] } else { [k, n] });
            let cshape: Vec<usize> = [vec![n], vec![1, n], vec![m, 1], vec![m, n], vec![]][rng.below(5)].clone();
            let c = rand_t(&mut rng, &cshape);
            let (af, bf, cf) = (a.to_f64_vec(), b.to_f64_vec(), c.to_f64_vec());
            let map = c_map(Some(&c), m, n).unwrap().unwrap();
            let mut want = vec![0f64; m * n];
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for p in 0..k {
                        let av = if g.trans_a { af[p * m + i] } else { af[i * k + p] };
                        let bv = if g.trans_b { bf[j * k + p] } else { bf[p * n + j] };
                        s += av * bv;
                    }
                    want[i * n + j] = g.alpha as f64 * s + g.beta as f64 * cf[map[i * n + j]];
                }
            }
            let inputs = [Some(&a), Some(&b), Some(&c)];
            close(&g.run(&NoCtx, &inputs).unwrap()[0], &want, &format!("plain case {case}"));
            let packed = g.prepare(&[None, Some(&b), None]).unwrap().expect("f32 B is packed");
            close(&packed.run(&NoCtx, &inputs).unwrap()[0], &want, &format!("packed case {case}"));
            let relu: Vec<f64> = want.iter().map(|v| v.max(0.0)).collect();
            let fused = PackedGemm::prepare(&g, Activation::Relu, &[None, Some(&b)]).unwrap().unwrap();
            close(&fused.run(&NoCtx, &inputs).unwrap()[0], &relu, &format!("fused case {case}"));
        }
    }

    #[test]
    fn matmul_3d_by_2d_packed_matches_f64() {
        let mut rng = Lcg(4);
        for case in 0..30 {
            let (bt, m, k, n) = (1 + rng.below(3), 1 + rng.below(20), 1 + rng.below(30), 1 + rng.below(40));
            let a = rand_t(&mut rng, &[bt, m, k]);
            let b = rand_t(&mut rng, &[k, n]);
            let (af, bf) = (a.to_f64_vec(), b.to_f64_vec());
            let mut want = vec![0f64; bt * m * n];
            for r in 0..bt * m {
                for j in 0..n {
                    want[r * n + j] = (0..k).map(|p| af[r * k + p] * bf[p * n + j]).sum();
                }
            }
            let inputs = [Some(&a), Some(&b)];
            let y = MatMul.run(&NoCtx, &inputs).unwrap().remove(0);
            assert_eq!(y.shape(), &[bt, m, n]);
            close(&y, &want, &format!("plain case {case}"));
            let p = MatMul.prepare(&[None, Some(&b)]).unwrap().expect("packed");
            close(&p.run(&NoCtx, &inputs).unwrap()[0], &want, &format!("packed case {case}"));
        }
    }
}
