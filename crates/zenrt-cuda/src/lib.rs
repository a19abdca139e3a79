//! zenrt's CUDA backend.
//!
//! - [`detect`]: finds the driver, cuBLAS and NVRTC without panicking (dynamic loading), so one
//!   binary runs on machines with and without a GPU; absence is a [`DeviceUnavailable`] error.
//! - [`gpu`]: context, stream, cuBLAS handle, the NVRTC-compiled kernels (`kernels.cu`, compiled
//!   once per process) and a caching device allocator.
//! - [`exec`]: [`CudaPlan`], the executor over the optimized graph (the CPU plan's order), with
//!   values freed after their last reader; weights are uploaded once at compile time.
//! - [`cudnn`]: cuDNN forward convolution (algorithm found once per shape), with the im2col
//!   path kept for machines without libcudnn.
//! - `ops`: one GPU kernel builder per ONNX operator.
//!
//! See docs/cuda.md for the design, the supported operators and measurements.

pub mod cudnn;
pub mod detect;
pub mod exec;
pub mod gpu;
pub mod graph;
mod ops;

pub use cudnn::conv_path;
pub use detect::{available, probe, DeviceInfo, DeviceUnavailable};
pub use exec::{placements, CudaPlan, NodePlacement, Placement};
pub use gpu::{Gpu, Precision};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The process-wide [`Gpu`] for `(ordinal, precision)`, opened on first use and shared by every
/// session (one context, stream, cuBLAS handle and allocator per device and precision).
pub fn device(ordinal: usize, precision: Precision) -> Result<Arc<Gpu>, DeviceUnavailable> {
    type Table = Mutex<HashMap<(usize, Precision), Arc<Gpu>>>;
    static DEVICES: OnceLock<Table> = OnceLock::new();
    let map = DEVICES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().map_err(|_| DeviceUnavailable::Init("device table poisoned".into()))?;
    if let Some(g) = map.get(&(ordinal, precision)) {
        return Ok(g.clone());
    }
    let g = Arc::new(Gpu::open(ordinal, precision)?);
    map.insert((ordinal, precision), g.clone());
    Ok(g)
}
