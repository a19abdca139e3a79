//! Operator family: reduce (Reduce*, ArgMax/ArgMin, TopK, CumSum/CumProd, losses).

use crate::ops::Registry;

pub mod argminmax;
pub mod common;
pub mod cumulative;
pub mod loss;
#[allow(clippy::module_inception)]
pub mod reduce;
pub mod topk;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("ReduceSum", 1, reduce::build_sum);
    r.add("ReduceMean", 1, reduce::build_mean);
    r.add("ReduceMax", 1, reduce::build_max);
    r.add("ReduceMin", 1, reduce::build_min);
    r.add("ReduceProd", 1, reduce::build_prod);
    r.add("ReduceL1", 1, reduce::build_l1);
    r.add("ReduceL2", 1, reduce::build_l2);
    r.add("ReduceLogSum", 1, reduce::build_log_sum);
    r.add("ReduceLogSumExp", 1, reduce::build_log_sum_exp);
    r.add("ReduceSumSquare", 1, reduce::build_sum_square);
    r.add("ArgMax", 1, argminmax::build_argmax);
    r.add("ArgMin", 1, argminmax::build_argmin);
    r.add("TopK", 1, topk::build);
    r.add("CumSum", 11, cumulative::build_cumsum);
    r.add("CumProd", 26, cumulative::build_cumprod);
    r.add("NegativeLogLikelihoodLoss", 12, loss::build_nll);
    r.add("SoftmaxCrossEntropyLoss", 12, loss::build_sce);
}
