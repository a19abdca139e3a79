//! CUDA graph capture and replay, pinned host staging buffers, and event timing.
//!
//! A capture records one whole run on the lane's compute stream (every kernel and cuBLAS/cuDNN
//! call; the graph inputs are read from fixed device buffers, and the outputs stay at fixed
//! addresses of the graph's arena) into a graph that is replayed with one `cuGraphLaunch`; the
//! copies to and from the host are queued around it (`pipeline.rs`). Replay uses the same
//! device addresses, so the graph *owns* its arena (see [`Gpu::end_capture`]): no other work
//! can be handed that memory while the graph lives.

use crate::gpu::{cu_err, DevBuf, GTensor, Gpu};
use cudarc::driver::sys as drv_sys;
use cudarc::driver::CudaContext;
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
    /// The host address (for async copies).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
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
        crate::gpu::device_sync(|| unsafe { drv_sys::cuMemFreeHost(self.ptr as *mut c_void) });
    }
}

/// A CUDA event without timing (orders work between streams and with the host).
pub(crate) struct Event(pub(crate) drv_sys::CUevent);

// SAFETY: an event handle may be used from any thread that binds its context.
unsafe impl Send for Event {}
unsafe impl Sync for Event {}

impl Event {
    pub(crate) fn new() -> Result<Event> {
        Event::with_flags(drv_sys::CUevent_flags_enum::CU_EVENT_DISABLE_TIMING)
    }
    /// An event that can be timed ([`Event::ms_since`]).
    pub(crate) fn timed() -> Result<Event> {
        Event::with_flags(drv_sys::CUevent_flags_enum::CU_EVENT_DEFAULT)
    }
    fn with_flags(flags: drv_sys::CUevent_flags_enum) -> Result<Event> {
        let mut e = std::ptr::null_mut();
        // SAFETY: out-pointer; the context is current on this thread (callers bind it).
        unsafe { drv_sys::cuEventCreate(&mut e, flags as u32) }.result().map_err(|e| cu_err("cuEventCreate", e))?;
        Ok(Event(e))
    }
    /// Device milliseconds from `start`'s last recorded point to this one's (both timed and
    /// reached).
    pub(crate) fn ms_since(&self, start: &Event) -> Result<f64> {
        let mut ms = 0f32;
        // SAFETY: two live events of the same context.
        unsafe { drv_sys::cuEventElapsedTime_v2(&mut ms, start.0, self.0) }
            .result()
            .map_err(|e| cu_err("cuEventElapsedTime", e))?;
        Ok(ms as f64)
    }
    /// Marks the point `stream` has reached.
    pub(crate) fn record(&self, stream: drv_sys::CUstream) -> Result<()> {
        // SAFETY: a live event and stream of the same context.
        unsafe { drv_sys::cuEventRecord(self.0, stream) }.result().map_err(|e| cu_err("cuEventRecord", e))
    }
    /// Makes `stream`'s later work wait for the last recorded point (none recorded: no wait).
    pub(crate) fn wait_on(&self, stream: drv_sys::CUstream) -> Result<()> {
        // SAFETY: as above.
        unsafe { drv_sys::cuStreamWaitEvent(stream, self.0, 0) }.result().map_err(|e| cu_err("cuStreamWaitEvent", e))
    }
    /// Blocks the host until the last recorded point is reached.
    pub(crate) fn sync(&self) -> Result<()> {
        // SAFETY: a live event.
        unsafe { drv_sys::cuEventSynchronize(self.0) }.result().map_err(|e| cu_err("cuEventSynchronize", e))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: created in `new`; a pending record completes on its own.
        unsafe {
            let _ = drv_sys::cuEventDestroy_v2(self.0);
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
    /// Pinned sources of host values uploaded inside the run (copies recorded in the graph).
    _pinned: Vec<Pinned>,
    /// Bytes of device memory the graph holds.
    pub bytes: usize,
}

// SAFETY: the executable graph is launched only with the GPU's run lock held.
unsafe impl Send for Graph {}
unsafe impl Sync for Graph {}

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

/// An allocation event of a captured run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ev {
    Alloc(u64, usize),
    Free(u64),
}

/// Offsets in one device block for each allocation of a captured run, in order.
pub(crate) struct Arena {
    pub base: u64,
    pub plan: Vec<(usize, usize)>,
    pub next: usize,
}

impl Arena {
    /// The address of the next allocation (which must have the planned size).
    pub(crate) fn take(&mut self, class: usize) -> Result<u64> {
        match self.plan.get(self.next) {
            Some(&(off, size)) if size == class => {
                self.next += 1;
                Ok(self.base + off as u64)
            }
            _ => Err(Error::Invalid("CUDA graph capture: the run allocated differently than planned".into())),
        }
    }
}

/// Plans one block for a captured run's allocations from their lifetimes (allocation to free,
/// in event order): largest first, each at the lowest offset free of every placed allocation
/// alive at the same time. Returns (offset, size) per allocation in order, and the block size.
pub(crate) fn plan_arena(events: &[Ev]) -> (Vec<(usize, usize)>, usize) {
    let mut live = std::collections::HashMap::new();
    let mut iv: Vec<(usize, usize, usize)> = Vec::new(); // (size, start, end)
    for (t, e) in events.iter().enumerate() {
        match *e {
            Ev::Alloc(p, size) => {
                live.insert(p, iv.len());
                iv.push((size, t, usize::MAX));
            }
            Ev::Free(p) => {
                if let Some(i) = live.remove(&p) {
                    iv[i].2 = t;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..iv.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(iv[i].0), iv[i].1));
    let mut offs = vec![0usize; iv.len()];
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (offset, size, start, end)
    let mut total = 0;
    for i in order {
        let (size, s, e) = iv[i];
        let mut busy: Vec<(usize, usize)> = placed.iter().filter(|p| p.2 < e && s < p.3).map(|p| (p.0, p.1)).collect();
        busy.sort_unstable();
        let mut off = 0;
        for (o, sz) in busy {
            if o >= off + size {
                break;
            }
            off = off.max(o + sz);
        }
        offs[i] = off;
        total = total.max(off + size);
        placed.push((off, size, s, e));
    }
    (iv.iter().zip(offs).map(|(v, o)| (o, v.0)).collect(), total)
}

/// A finished capture: the graph (destroyed on drop unless instantiated), its pinned staging
/// buffers and the run's allocation events.
pub(crate) struct Captured {
    graph: drv_sys::CUgraph,
    staging: Staging,
    pub events: Vec<Ev>,
}

impl Drop for Captured {
    fn drop(&mut self) {
        if !self.graph.is_null() {
            // SAFETY: created by the capture; an instantiated executable graph does not need it.
            unsafe {
                let _ = drv_sys::cuGraphDestroy(self.graph);
            }
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
    /// With `arena`, every allocation of the captured run comes from its plan.
    pub(crate) fn begin_capture(&self, arena: Option<Arena>) -> Result<()> {
        let mut st = self.staging.lock().map_err(|_| Error::Invalid("CUDA staging poisoned".into()))?;
        let mut pool = self.pool.lock().map_err(|_| Error::Invalid("CUDA pool poisoned".into()))?;
        // SAFETY: our own stream, not capturing now (the run lock is held).
        unsafe {
            drv_sys::cuStreamBeginCapture_v2(self.stream, drv_sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
        }
        .result()
        .map_err(|e| cu_err("cuStreamBeginCapture", e))?;
        pool.record = Some(Vec::new());
        pool.arena = arena;
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
            // f32 into half storage: through an f32 device buffer, converted on the device
            let tmp = if self.narrowed(t.dtype()) { Some(self.alloc_bytes(src.len())?) } else { None };
            let dst = tmp.as_ref().map_or(g.ptr(), |b| b.ptr);
            // SAFETY: both ranges hold src.len() bytes; the pinned buffer lives with the graph.
            unsafe { drv_sys::cuMemcpyHtoDAsync_v2(dst, p.ptr as *const c_void, src.len(), self.stream) }
                .result()
                .map_err(|e| cu_err("cuMemcpyHtoDAsync", e))?;
            if tmp.is_some() {
                self.narrow(dst, &g)?;
            }
        }
        Ok((g, self.push_staging(p)?))
    }

    /// A graph input: a fixed device buffer of `t`'s host bytes, outside the capture's arena,
    /// that replays read (the copy into it is queued before each replay); f32 into half storage
    /// is converted from it inside the graph. Returns the tensor the run uses and the buffer.
    pub(crate) fn fixed_input(&self, t: &Tensor) -> Result<(GTensor, Arc<DevBuf>)> {
        let bytes = host_bytes(t)?.len();
        let buf = self.alloc_fixed(bytes)?;
        if self.narrowed(t.dtype()) {
            let g = self.empty(t.dtype(), t.shape().to_vec())?;
            if bytes > 0 {
                self.narrow(buf.ptr, &g)?;
            }
            return Ok((g, buf));
        }
        Ok((GTensor { buf: buf.clone(), off: 0, shape: t.shape().to_vec(), dtype: t.dtype(), nhwc: false }, buf))
    }

    fn push_staging(&self, p: Pinned) -> Result<usize> {
        let mut st = self.staging.lock().map_err(|_| Error::Invalid("CUDA staging poisoned".into()))?;
        let s = st.as_mut().ok_or_else(|| Error::Invalid("CUDA: staging outside a capture".into()))?;
        s.pinned.push(p);
        Ok(s.pinned.len() - 1)
    }

    /// Ends the capture (`ok`: the captured run succeeded).
    pub(crate) fn end_capture(&self, ok: bool) -> Result<Captured> {
        let mut graph: drv_sys::CUgraph = std::ptr::null_mut();
        // SAFETY: ends the capture begun on our stream.
        let ended = unsafe { drv_sys::cuStreamEndCapture(self.stream, &mut graph) }.result();
        let staging = self.staging.lock().ok().and_then(|mut s| s.take());
        let (record, arena) = self.pool.lock().map(|mut p| (p.record.take(), p.arena.take())).unwrap_or((None, None));
        let c = Captured { graph, staging: staging.unwrap_or_default(), events: record.unwrap_or_default() };
        if !ok {
            return Err(Error::Invalid("CUDA graph capture: the captured run failed".into()));
        }
        ended.map_err(|e| cu_err("cuStreamEndCapture", e))?;
        if arena.is_some_and(|a| a.next != a.plan.len()) {
            return Err(Error::Invalid("CUDA graph capture: the run allocated differently than planned".into()));
        }
        Ok(c)
    }

    /// Instantiates a capture made with an arena; the graph keeps the arena.
    pub(crate) fn instantiate(&self, c: Captured, arena: Arc<DevBuf>) -> Result<Graph> {
        let mut exec: drv_sys::CUgraphExec = std::ptr::null_mut();
        // SAFETY: `c.graph` is a complete captured graph.
        unsafe { drv_sys::cuGraphInstantiateWithFlags(&mut exec, c.graph, 0) }
            .result()
            .map_err(|e| cu_err("cuGraphInstantiate", e))?;
        let mut c = c;
        let bytes = arena.bytes;
        Ok(Graph {
            exec,
            ctx: self.ctx.clone(),
            _bufs: vec![arena],
            _pinned: std::mem::take(&mut c.staging.pinned),
            bytes,
        })
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

#[cfg(test)]
mod tests {
    use super::{plan_arena, Ev};

    #[test]
    fn arena_plan_never_overlaps_live_buffers_and_reuses_dead_ones() {
        // a chain a -> b -> c (each freed after the next is made), plus d alive throughout
        let ev = [
            Ev::Alloc(1, 512),
            Ev::Alloc(9, 256),
            Ev::Alloc(2, 1024),
            Ev::Free(1),
            Ev::Alloc(3, 512),
            Ev::Free(2),
            Ev::Alloc(4, 512),
            Ev::Free(3),
            Ev::Free(4),
            Ev::Free(9),
        ];
        let (plan, total) = plan_arena(&ev);
        assert_eq!(plan.len(), 5);
        // lifetimes as (start, end) event indices, in allocation order
        let life = [(0, 3), (1, 9), (2, 5), (4, 7), (6, 8)];
        for i in 0..5 {
            assert!(plan[i].0 + plan[i].1 <= total);
            for j in 0..i {
                let alive_together = life[i].0 < life[j].1 && life[j].0 < life[i].1;
                let disjoint = plan[i].0 + plan[i].1 <= plan[j].0 || plan[j].0 + plan[j].1 <= plan[i].0;
                assert!(!alive_together || disjoint, "allocations {i} and {j} overlap: {plan:?}");
            }
        }
        // the most alive at once: 1024 + 512 + 256 (b, c, d); sizes summed would be 2816
        assert_eq!(total, 1792, "{plan:?}");
    }
}
