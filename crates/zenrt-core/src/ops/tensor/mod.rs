//! Operator family: tensor shape and data movement (reshape, gather, slice, pad, ...).

use crate::ops::Registry;

pub mod common;

pub mod center_crop_pad;
pub mod compress;
pub mod concat;
pub mod constant;
pub mod constant_of_shape;
pub mod depth_to_space;
pub mod dropout;
pub mod expand;
pub mod eye_like;
pub mod flatten;
pub mod gather;
pub mod gather_elements;
pub mod gather_nd;
pub mod identity;
pub mod non_zero;
pub mod one_hot;
pub mod pad;
pub mod range;
pub mod reshape;
pub mod reverse_sequence;
pub mod scatter_elements;
pub mod scatter_nd;
pub mod shape;
pub mod size;
pub mod slice;
pub mod space_to_depth;
pub mod split;
pub mod squeeze;
pub mod tensor_scatter;
pub mod tile;
pub mod transpose;
pub mod trilu;
pub mod unique;
pub mod unsqueeze;

/// Registers this family's operators.
pub fn register(r: &mut Registry) {
    r.add("Identity", 1, identity::build);
    r.add("Constant", 1, constant::build);
    r.add("Reshape", 1, reshape::build);
    r.add("Transpose", 1, transpose::build);
    r.add("Concat", 1, concat::build);
    r.add("Split", 1, split::build);
    r.add("Slice", 1, slice::build);
    r.add("Gather", 1, gather::build);
    r.add("GatherElements", 11, gather_elements::build);
    r.add("GatherND", 11, gather_nd::build);
    r.add("ScatterND", 11, scatter_nd::build);
    r.add("ScatterElements", 11, scatter_elements::build);
    r.add("Scatter", 9, scatter_elements::build);
    r.add("TensorScatter", 24, tensor_scatter::build);
    r.add("Expand", 8, expand::build);
    r.add("Tile", 1, tile::build);
    r.add("Pad", 1, pad::build);
    r.add("Squeeze", 1, squeeze::build);
    r.add("Unsqueeze", 1, unsqueeze::build);
    r.add("Flatten", 1, flatten::build);
    r.add("Shape", 1, shape::build);
    r.add("Size", 1, size::build);
    r.add("Range", 11, range::build);
    r.add("ConstantOfShape", 9, constant_of_shape::build);
    r.add("OneHot", 9, one_hot::build);
    r.add("NonZero", 9, non_zero::build);
    r.add("Compress", 9, compress::build);
    r.add("DepthToSpace", 1, depth_to_space::build);
    r.add("SpaceToDepth", 1, space_to_depth::build);
    r.add("Trilu", 14, trilu::build);
    r.add("EyeLike", 9, eye_like::build);
    r.add("ReverseSequence", 10, reverse_sequence::build);
    r.add("Unique", 11, unique::build);
    r.add("CenterCropPad", 18, center_crop_pad::build);
    r.add("Dropout", 1, dropout::build);
}
