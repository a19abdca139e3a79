//! CUDA graph capture and replay, pinned host staging buffers, and event timing.
//!
//! A capture records one whole run on the GPU's stream (the input copies from pinned staging
//! buffers, every kernel, cuBLAS/cuDNN call and the output copies into pinned staging buffers)
//! into a graph that is replayed with one `cuGraphLaunch`. Replay uses the same device
//! addresses, so the graph *owns* every pool buffer the captured run touched (see
//! [`Gpu::end_capture`]): no other work can be handed those buffers while the graph lives.

use crate::gpu::{cu_err, DevBuf, GTensor, Gpu};
use cudarc::driver::sys as drv_sys;
use cudarc::driver::CudaContext;
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::Arc;
use zenrt_core::{DType, Error, Result, Tensor, TensorData};

/// Page-locked host memory (`cuMemAllocHost`): copies from and to it run asynchronously and
/// can be recorded in a graph.
pub(crate) struct Pinned {
    ptr: *mut u8,
    bytes: usize,
}

// SAFETY: plain host memory owned by this value; access goes through &/&mut self.
unsafe impl Send for Pinned {}
unsafe impl Sync for Pinned {}

impl Pinned {
    pub(crate) fn new(bytes: usize) -> Result<Pinned> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: out-pointer; the context is current on this thread (callers bind it).
        unsafe { drv_sys::cuMemAllocHost_v2(&mut p, bytes.max(1)) }
            .result()
            .map_err(|e| cu_err("cuMemAllocHost", e))?;
        Ok(Pinned { ptr: p as *mut u8, bytes })
    }
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `bytes` bytes were allocated at `ptr` and live as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.bytes) }
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, exclusive through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.bytes) }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: allocated by cuMemAllocHost; nothing refers to it any more.
        unsafe {
            let _ = drv_sys::cuMemFreeHost(self.ptr as *mut c_void);
        }
    }
}

/// The raw bytes of a host tensor (the dtypes the GPU moves).
pub(crate) fn host_bytes(t: &Tensor) -> Result<&[u8]> {
    fn raw<T>(v: &[T]) -> &[u8] {
        // SAFETY: plain-old-data element types; the byte view covers exactly the slice.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
    }
    Ok(match t.data() {
        TensorData::F32(v) => raw(v),
        TensorData::F64(v) => raw(v),
        TensorData::I64(v) => raw(v),
        TensorData::I32(v) => raw(v),
        TensorData::Bool(v) => raw(v),
        TensorData::U8(v) => raw(v),
        TensorData::I8(v) => raw(v),
        TensorData::F16(v) => raw(v),
        _ => return Err(Error::Unsupported(format!("CUDA: moving {} tensors", t.dtype()))),
    })
}

/// A host tensor of `dtype`/`shape` filled by `fill` (which writes exactly the tensor's bytes).
pub(crate) fn host_tensor(
    dtype: DType,
    shape: Vec<usize>,
    fill: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    macro_rules! make {
        ($t:ty) => {{
            let mut v: Vec<$t> = vec![<$t>::default(); n];
            // SAFETY: plain-old-data element types (bool bytes come from a bool tensor's copy).
            let bytes =
                unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(&v[..])) };
            fill(bytes)?;
            Tensor::from_vec(shape, v)?
        }};
    }
    Ok(match dtype {
        DType::F32 => make!(f32),
        DType::F64 => make!(f64),
        DType::I64 => make!(i64),
        DType::I32 => make!(i32),
        DType::Bool => make!(bool),
        DType::U8 => make!(u8),
        DType::I8 => make!(i8),
        DType::F16 => make!(half::f16),
        d => return Err(Error::Unsupported(format!("CUDA: moving {d} tensors"))),
    })
}

/// An instantiated graph with the device buffers and pinned staging buffers it uses.
pub struct Graph {
    exec: drv_sys::CUgraphExec,
    ctx: Arc<CudaContext>,
    _bufs: Vec<Arc<DevBuf>>,
    pinned: Vec<Pinned>,
    /// Bytes of device memory the graph holds.
    pub bytes: usize,
}

// SAFETY: the executable graph is launched only with the GPU's run lock held.
unsafe impl Send for Graph {}
unsafe impl Sync for Graph {}

impl Graph {
    pub(crate) fn pinned(&self, i: usize) -> Result<&Pinned> {
        self.pinned.get(i).ok_or_else(|| Error::Invalid(format!("CUDA graph: no staging buffer {i}")))
    }
    pub(crate) fn pinned_mut(&mut self, i: usize) -> Result<&mut Pinned> {
        self.pinned.get_mut(i).ok_or_else(|| Error::Invalid(format!("CUDA graph: no staging buffer {i}")))
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        // SAFETY: instantiated in end_capture; no launch of it is pending once the run that
        // launched it synchronised (every run ends with a stream synchronisation).
        unsafe {
            let _ = drv_sys::cuGraphExecDestroy(self.exec);
        }
    }
}

/// What a capture in progress collects besides the stream work.
#[derive(Default)]
pub(crate) struct Staging {
    pinned: Vec<Pinned>,
}

impl Gpu {
    /// True while a run is being captured (no synchronisation or synchronous copies allowed).
    pub(crate) fn capturing(&self) -> bool {
        self.staging.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Starts capturing the stream's work (relaxed mode: allocating memory stays allowed).
    pub(crate) fn begin_capture(&self) -> Result<()> {
        let mut st = self.staging.lock().map_err(|_| Error::Invalid("CUDA staging poisoned".into()))?;
        let mut pool = self.pool.lock().map_err(|_| Error::Invalid("CUDA pool poisoned".into()))?;
        // SAFETY: our own stream, not capturing now (the run lock is held).
        unsafe {
            drv_sys::cuStreamBeginCapture_v2(self.stream, drv_sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
        }
        .result()
        .map_err(|e| cu_err("cuStreamBeginCapture", e))?;
        pool.record = Some(Vec::new());
        *st = Some(Staging::default());
        Ok(())
    }

    /// Uploads `t` through a new pinned staging buffer (captured as an async copy); returns the
    /// device tensor and the staging buffer's index in the graph.
    pub(crate) fn stage_in(&self, t: &Tensor) -> Result<(GTensor, usize)> {
        let g = self.empty(t.dtype(), t.shape().to_vec())?;
        let src = host_bytes(t)?;
        let mut p = Pinned::new(src.len())?;
        p.as_mut_slice().copy_from_slice(src);
        if !src.is_empty() {
            // SAFETY: both ranges hold src.len() bytes; the pinned buffer lives with the graph.
            unsafe { drv_sys::cuMemcpyHtoDAsync_v2(g.ptr(), p.ptr as *const c_void, src.len(), self.stream) }
                .result()
                .map_err(|e| cu_err("cuMemcpyHtoDAsync", e))?;
        }
        Ok((g, self.push_staging(p)?))
    }

    /// Queues a copy of `bytes` at device address `src` into a new pinned staging buffer;
    /// returns its index in the graph.
    pub(crate) fn stage_out(&self, src: u64, bytes: usize) -> Result<usize> {
        let p = Pinned::new(bytes)?;
        if bytes > 0 {
            // SAFETY: the device range holds `bytes`; the pinned buffer lives with the graph.
            unsafe { drv_sys::cuMemcpyDtoHAsync_v2(p.ptr as *mut c_void, src, bytes, self.stream) }
                .result()
                .map_err(|e| cu_err("cuMemcpyDtoHAsync", e))?;
        }
        self.push_staging(p)
    }

    fn push_staging(&self, p: Pinned) -> Result<usize> {
        let mut st = self.staging.lock().map_err(|_| Error::Invalid("CUDA staging poisoned".into()))?;
        let s = st.as_mut().ok_or_else(|| Error::Invalid("CUDA: staging outside a capture".into()))?;
        s.pinned.push(p);
        Ok(s.pinned.len() - 1)
    }

    /// Ends the capture. With `ok` (the captured run succeeded) the graph is instantiated and
    /// takes ownership of every pool buffer allocated during the capture: each must be back in
    /// the pool's free lists (all values of the run dropped), else the capture is refused.
    pub(crate) fn end_capture(&self, ok: bool) -> Result<Graph> {
        let mut graph: drv_sys::CUgraph = std::ptr::null_mut();
        // SAFETY: ends the capture begun on our stream.
        let ended = unsafe { drv_sys::cuStreamEndCapture(self.stream, &mut graph) }.result();
        let staging = self.staging.lock().ok().and_then(|mut s| s.take());
        let record = self.pool.lock().ok().and_then(|mut p| p.record.take());
        let destroy = |g: drv_sys::CUgraph| {
            if !g.is_null() {
                // SAFETY: created by the capture, not used elsewhere.
                unsafe {
                    let _ = drv_sys::cuGraphDestroy(g);
                }
            }
        };
        if !ok {
            destroy(graph);
            return Err(Error::Invalid("CUDA graph capture: the captured run failed".into()));
        }
        if let Err(e) = ended {
            destroy(graph);
            return Err(cu_err("cuStreamEndCapture", e));
        }
        let (Some(staging), Some(record)) = (staging, record) else {
            destroy(graph);
            return Err(Error::Invalid("CUDA graph capture: state lost".into()));
        };
        let mut exec: drv_sys::CUgraphExec = std::ptr::null_mut();
        // SAFETY: `graph` is a complete captured graph.
        let inst = unsafe { drv_sys::cuGraphInstantiateWithFlags(&mut exec, graph, 0) }.result();
        destroy(graph);
        inst.map_err(|e| cu_err("cuGraphInstantiate", e))?;
        let bufs = match self.claim(&record) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: instantiated above, never launched.
                unsafe {
                    let _ = drv_sys::cuGraphExecDestroy(exec);
                }
                return Err(e);
            }
        };
        let bytes = bufs.iter().map(|b| b.bytes).sum();
        Ok(Graph { exec, ctx: self.ctx.clone(), _bufs: bufs, pinned: staging.pinned, bytes })
    }

    /// Takes the recorded buffers out of the pool's free lists as graph-owned handles.
    fn claim(&self, record: &[(u64, usize)]) -> Result<Vec<Arc<DevBuf>>> {
        let mut p = self.pool.lock().map_err(|_| Error::Invalid("CUDA pool poisoned".into()))?;
        let mut seen = HashSet::new();
        let mut taken: Vec<(u64, usize)> = Vec::new();
        for &(ptr, class) in record {
            if !seen.insert(ptr) {
                continue;
            }
            let pos = p.free.get(&class).and_then(|v| v.iter().position(|&q| q == ptr));
            match pos {
                Some(i) => {
                    if let Some(v) = p.free.get_mut(&class) {
                        v.swap_remove(i);
                    }
                    taken.push((ptr, class));
                }
                None => {
                    for (q, c) in taken {
                        p.free.entry(c).or_default().push(q);
                    }
                    return Err(Error::Invalid("CUDA graph capture: a buffer of the run is still in use".into()));
                }
            }
        }
        let n: usize = taken.iter().map(|t| t.1).sum();
        p.in_use += n;
        p.peak = p.peak.max(p.in_use);
        drop(p);
        Ok(taken.into_iter().map(|(ptr, bytes)| Arc::new(DevBuf { ptr, bytes, pool: self.pool.clone() })).collect())
    }

    /// Queues a replay of `g` on the stream.
    pub(crate) fn launch_graph(&self, g: &Graph) -> Result<()> {
        // SAFETY: the graph was captured on this context; its buffers are owned by it.
        unsafe { drv_sys::cuGraphLaunch(g.exec, self.stream) }.result().map_err(|e| cu_err("cuGraphLaunch", e))
    }

    /// Device milliseconds per call of `f` (run once to warm up, then `reps` times between two
    /// events). Synchronises; not allowed during a capture.
    pub(crate) fn time_ms(&self, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f32> {
        f()?;
        let mut ev = [std::ptr::null_mut(); 2];
        // SAFETY: events created and destroyed here, recorded on our stream.
        unsafe {
            for e in ev.iter_mut() {
                drv_sys::cuEventCreate(e, drv_sys::CUevent_flags_enum::CU_EVENT_DEFAULT as u32)
                    .result()
                    .map_err(|e| cu_err("cuEventCreate", e))?;
            }
            let r = (|| {
                drv_sys::cuEventRecord(ev[0], self.stream).result().map_err(|e| cu_err("cuEventRecord", e))?;
                for _ in 0..reps.max(1) {
                    f()?;
                }
                drv_sys::cuEventRecord(ev[1], self.stream).result().map_err(|e| cu_err("cuEventRecord", e))?;
                drv_sys::cuEventSynchronize(ev[1]).result().map_err(|e| cu_err("cuEventSynchronize", e))?;
                let mut ms = 0f32;
                drv_sys::cuEventElapsedTime_v2(&mut ms, ev[0], ev[1])
                    .result()
                    .map_err(|e| cu_err("cuEventElapsedTime", e))?;
                Ok(ms / reps.max(1) as f32)
            })();
            for e in ev {
                let _ = drv_sys::cuEventDestroy_v2(e);
            }
            r
        }
    }
}
