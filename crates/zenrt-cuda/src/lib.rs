//! zenrt's CUDA backend.
//!
//! - [`detect`]: finds the driver, cuBLAS and NVRTC without panicking (dynamic loading), so one
//!   binary runs on machines with and without a GPU; absence is a [`DeviceUnavailable`] error.
//! - [`gpu`]: a lane of a device (compute and copy streams, cuBLAS and cuDNN handles, a caching
//!   device allocator) and the NVRTC-compiled kernels (`kernels.cu`, compiled once per process).
//! - [`exec`]: [`CudaPlan`], the executor over the optimized graph (the CPU plan's order), with
//!   values freed after their last reader; weights are uploaded once at compile time.
//! - [`cudnn`]: cuDNN forward convolution (algorithm found once per shape), with the im2col
//!   path kept for machines without libcudnn; [`find_cache`] keeps the choices on disk.
//! - `ops`: one GPU kernel builder per ONNX operator.
//!
//! See docs/cuda.md for the design, the supported operators and measurements.

pub mod cudnn;
pub mod detect;
pub mod exec;
pub mod find_cache;
pub mod gpu;
pub mod graph;
mod ops;
mod pipeline;

pub use cudnn::conv_path;
pub use detect::{available, probe, DeviceInfo, DeviceUnavailable};
pub use exec::{placements, CudaPlan, Nhwc, NodePlacement, Placement};
pub use gpu::{Gpu, Precision};
pub use pipeline::RunSplit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A process-wide [`Gpu`] lane for `(ordinal, precision)`, opened on first use and shared by
/// every caller (sessions take their own lanes with [`lane`]).
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

type Idle = Mutex<Vec<Arc<Gpu>>>;
static IDLE: OnceLock<Idle> = OnceLock::new();

/// A lane of device `ordinal` for one session: its own compute and copy streams, cuBLAS and cuDNN
/// handles and allocator, so sessions on one GPU run side by side instead of queueing on one
/// stream. Lanes share the device's context, the compiled kernels and the cuDNN algorithm
/// choices. An idle lane (its session dropped, see [`retire`]) is reused before a new one opens.
pub fn lane(ordinal: usize, precision: Precision) -> Result<Arc<Gpu>, DeviceUnavailable> {
    if let Ok(mut idle) = IDLE.get_or_init(|| Mutex::new(Vec::new())).lock() {
        let free =
            idle.iter().position(|g| g.ordinal == ordinal && g.precision == precision && Arc::strong_count(g) == 1);
        if let Some(i) = free {
            return Ok(idle.swap_remove(i));
        }
    }
    Ok(Arc::new(Gpu::open(ordinal, precision)?))
}

/// Keeps `gpu` for [`lane`] to hand out again once its last other holder has dropped it.
pub(crate) fn retire(gpu: Arc<Gpu>) {
    if let Ok(mut idle) = IDLE.get_or_init(|| Mutex::new(Vec::new())).lock() {
        if !idle.iter().any(|g| Arc::ptr_eq(g, &gpu)) {
            idle.push(gpu);
        }
    }
}

/// Closes every idle lane (those of dropped sessions), giving their cached device memory back to
/// the driver; returns how many were closed. New sessions then open fresh lanes. Call it only while
/// no other session of the process works on the device: closing a lane (its cuBLAS and cuDNN
/// handles, its streams) while other lanes run crashed the driver (docs/cuda.md, session 8).
pub fn release_idle_lanes() -> usize {
    let Ok(mut idle) = IDLE.get_or_init(|| Mutex::new(Vec::new())).lock() else { return 0 };
    let before = idle.len();
    idle.retain(|g| Arc::strong_count(g) > 1);
    before - idle.len()
}
