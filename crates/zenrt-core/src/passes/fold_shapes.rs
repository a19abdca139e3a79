//! Shape-computation folding: a shape-arithmetic value (Shape, Gather, Slice, Concat,
//! (Un)Squeeze, Cast, small integer Mul/Add/Sub/Equal/Where, ConstantOfShape) whose every entry
//! is statically known (see [`crate::infer::static_int_values`]) becomes a constant, even when
//! it reads a non-constant tensor, e.g. `Shape(x)` of an `x` whose shape is fixed, or
//! `Gather(Shape(x), 2)` where only dim 2 of `x` is known. Constant folding then folds what
//! depends on it. Graph inputs are checked against their declared shapes at run time, so the
//! static shapes this relies on hold for every run.

use super::rewrite::Index;
use super::Pass;
use crate::{Graph, Result, Tensor};
use std::sync::Arc;

/// Operators whose integer-vector output [`crate::infer::static_int_values`] tracks.
const SHAPE_OPS: &[&str] = &[
    "Shape",
    "Gather",
    "Slice",
    "Concat",
    "Squeeze",
    "Unsqueeze",
    "Cast",
    "Identity",
    "Mul",
    "Add",
    "Sub",
    "Equal",
    "Where",
    "ConstantOfShape",
];

pub struct FoldShapes;

impl Pass for FoldShapes {
    fn name(&self) -> &'static str {
        "fold_shapes"
    }

    fn run(&self, g: &mut Graph) -> Result<usize> {
        let values = crate::infer::static_int_values(g);
        let idx = Index::new(g);
        let mut folded = 0;
        let nodes = std::mem::take(&mut g.nodes);
        for n in nodes {
            let value = match (n.domain.is_empty() && SHAPE_OPS.contains(&n.op_type.as_str()), n.outputs.as_slice()) {
                (true, [o]) if !idx.is_pinned(o) => values.get(o),
                _ => None,
            };
            let tensor = value.and_then(|(ints, info)| {
                let shape = info.concrete_shape()?;
                let dtype = info.dtype?;
                if shape.iter().product::<usize>() != ints.len()
                    || !(dtype.is_int() || dtype.is_float() || dtype == crate::DType::Bool)
                {
                    return None;
                }
                Tensor::from_vec(shape, ints.clone()).and_then(|t| t.cast(dtype)).ok()
            });
            match tensor {
                Some(t) => {
                    g.initializers.insert(n.outputs[0].clone(), Arc::new(t));
                    folded += 1;
                }
                None => g.nodes.push(n),
            }
        }
        Ok(folded)
    }
}
