//! NonMaxSuppression: greedy per (batch, class) selection of boxes by descending score,
//! dropping boxes whose IoU with an already selected box exceeds `iou_threshold`.
//! Boxes are `[y1, x1, y2, x2]` (any corner order) or, with `center_point_box = 1`,
//! `[x_center, y_center, width, height]`. Optional inputs: max_output_boxes_per_class
//! (absent = 0, i.e. nothing selected), iou_threshold (absent = 0), score_threshold (absent =
//! no score filtering; boxes must score strictly above it). Ties in score go to the lower index.

use super::common::{scalar_f64, scalar_i64};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, DType, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct NonMaxSuppression {
    center_point_box: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let c = cx.int("center_point_box", 0)?;
    if c != 0 && c != 1 {
        bail!("NonMaxSuppression: center_point_box must be 0 or 1, got {c}");
    }
    Ok(Arc::new(NonMaxSuppression { center_point_box: c == 1 }))
}

/// Box as (x_min, y_min, x_max, y_max).
fn corners(b: &[f64], center: bool) -> [f64; 4] {
    if center {
        let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
        [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
    } else {
        [b[1].min(b[3]), b[0].min(b[2]), b[1].max(b[3]), b[0].max(b[2])]
    }
}

/// True when the IoU of `a` and `b` exceeds `threshold`.
fn suppress(a: &[f64; 4], b: &[f64; 4], threshold: f64) -> bool {
    let ix0 = a[0].max(b[0]);
    let ix1 = a[2].min(b[2]);
    if ix1 <= ix0 {
        return false;
    }
    let iy0 = a[1].max(b[1]);
    let iy1 = a[3].min(b[3]);
    if iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    let union = area_a + area_b - inter;
    if inter <= 0.0 || area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > threshold
}

/// Returns the selected (batch, class, box) triples in output order.
pub fn nms(
    boxes: &[f64],
    scores: &[f64],
    (batches, classes, n): (usize, usize, usize),
    max_per_class: usize,
    iou_threshold: f64,
    score_threshold: Option<f64>,
    center: bool,
) -> Vec<[i64; 3]> {
    let mut out = vec![];
    for b in 0..batches {
        let bx: Vec<[f64; 4]> = (0..n).map(|i| corners(&boxes[(b * n + i) * 4..(b * n + i) * 4 + 4], center)).collect();
        for c in 0..classes {
            let sc = &scores[(b * classes + c) * n..(b * classes + c + 1) * n];
            let mut cand: Vec<usize> = (0..n).filter(|&i| score_threshold.is_none_or(|t| sc[i] > t)).collect();
            // Descending score, ties to the lower index (stable sort keeps index order).
            cand.sort_by(|&i, &j| sc[j].partial_cmp(&sc[i]).unwrap_or(std::cmp::Ordering::Equal));
            let mut selected: Vec<usize> = vec![];
            for i in cand {
                if selected.len() >= max_per_class {
                    break;
                }
                if selected.iter().all(|&s| !suppress(&bx[i], &bx[s], iou_threshold)) {
                    selected.push(i);
                    out.push([b as i64, c as i64, i as i64]);
                }
            }
        }
    }
    out
}

impl Op for NonMaxSuppression {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let boxes = input(inputs, 0, "NonMaxSuppression")?;
        let scores = input(inputs, 1, "NonMaxSuppression")?;
        let (bs, ss) = (boxes.shape(), scores.shape());
        if bs.len() != 3 || bs[2] != 4 {
            bail!("NonMaxSuppression: boxes must have shape [batches, boxes, 4], got {bs:?}");
        }
        if ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
            bail!("NonMaxSuppression: scores shape {ss:?} does not match boxes shape {bs:?}");
        }
        let present = |i: usize| opt_input(inputs, i).filter(|t| !t.is_empty());
        let max_per_class = match present(2) {
            Some(t) => scalar_i64(t, "max_output_boxes_per_class")?.max(0) as usize,
            None => 0,
        };
        let iou = match present(3) {
            Some(t) => scalar_f64(t, "iou_threshold")?,
            None => 0.0,
        };
        let score_threshold = present(4).map(|t| scalar_f64(t, "score_threshold")).transpose()?;
        let sel = nms(
            &boxes.to_f64_vec(),
            &scores.to_f64_vec(),
            (bs[0], ss[1], bs[1]),
            max_per_class,
            iou,
            score_threshold,
            self.center_point_box,
        );
        let n = sel.len();
        Ok(vec![Tensor::from_vec(vec![n, 3], sel.into_iter().flatten().collect::<Vec<i64>>())?])
    }

    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(vec![ValueInfo::new("", Some(DType::I64), Some(vec![Dim::Unknown, Dim::Known(3)]))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_overlaps() {
        // Two heavily overlapping boxes and one apart; one batch, one class.
        let boxes = [0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 10.0, 1.0, 11.0];
        let scores = [0.9, 0.95, 0.5];
        let sel = nms(&boxes, &scores, (1, 1, 3), 3, 0.5, None, false);
        assert_eq!(sel, vec![[0, 0, 1], [0, 0, 2]]);
        let sel = nms(&boxes, &scores, (1, 1, 3), 3, 0.5, Some(0.6), false);
        assert_eq!(sel, vec![[0, 0, 1]]);
        let sel = nms(&boxes, &scores, (1, 1, 3), 1, 0.5, None, false);
        assert_eq!(sel, vec![[0, 0, 1]]);
    }
}
