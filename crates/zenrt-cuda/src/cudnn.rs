//! cuDNN forward convolution (NCHW; fp32, or fp16/bf16 storage with fp32 accumulation), loaded at
//! run time like the other CUDA libraries.
//!
//! One cuDNN handle per [`Gpu`](crate::Gpu) lane, on its stream. For every convolution shape the
//! descriptors and the algorithm (chosen once by `cudnnFindConvolutionForwardAlgorithmEx`, i.e.
//! timed on the device, fastest first, or read from [`crate::find_cache`], which keeps every
//! choice on disk for the next process) are cached; the workspace comes from the caching
//! allocator. Math type by the GPU's [`Precision`]: `F32` = `CUDNN_FMA_MATH` (exact fp32, no
//! TF32; results that report tensor-op math are refused), `Tf32` = tensor-op (TF32) math allowed,
//! `F16`/`Bf16` = half tensors (`CUDNN_DATA_HALF`/`BFLOAT16`) with `CUDNN_DATA_FLOAT` compute
//! (fp32 accumulation) on tensor cores.
//!
//! Epilogue: with a bias and a ReLU, `y = relu(conv(x) + bias [+ z])` runs as one
//! `cudnnConvolutionBiasActivationForward` (z: a residual input of y's shape), tried once per
//! shape outside graph capture; where cuDNN refuses it the caller runs the plain convolution and
//! its own epilogue kernel. `ZENRT_CUDNN_FUSED=0` turns the fused call off.
//!
//! cudarc's dynamic loading panics when a library or symbol is missing, so every cuDNN call runs
//! inside `catch_unwind`; any failure disables cuDNN for the process (with a reason) and the
//! caller keeps the im2col + cuBLAS path.
//!
//! Which path a shape takes (`ZENRT_CUDA_CONV`): `auto` (default) times our im2col/direct path
//! once per shape against Find's best cuDNN time and keeps the faster; `cudnn` always uses
//! cuDNN where it takes the shape; `im2col` never loads cuDNN.

use crate::Precision;
use cudarc::cudnn::sys;
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many times this process ran cuDNN's Find (shapes not in the find cache).
static FIND_CALLS: AtomicUsize = AtomicUsize::new(0);

/// How many convolution shapes this process timed with cuDNN's Find (the others came from the
/// find cache or an earlier lane).
pub fn find_calls() -> usize {
    FIND_CALLS.load(Ordering::Relaxed)
}
use std::sync::Mutex;

/// Gives a device workspace of the requested bytes (address, and a handle that keeps it).
pub(crate) type Alloc<'a> = dyn Fn(usize) -> zenrt_core::Result<(u64, Box<dyn std::any::Any>)> + 'a;

/// Convolution geometry (2-D; 1-D is promoted with height 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConvShape {
    /// Channels-last x, y and filter (`[OC, KH, KW, C/group]`).
    pub nhwc: bool,
    pub n: i32,
    pub c: i32,
    pub h: i32,
    pub w: i32,
    pub oc: i32,
    pub kh: i32,
    pub kw: i32,
    pub stride: [i32; 2],
    pub pad: [i32; 2],
    pub dil: [i32; 2],
    pub group: i32,
    /// Output height and width expected by the caller (checked against cuDNN's).
    pub oh: i32,
    pub ow: i32,
}

/// Cached descriptors and algorithm for one shape.
struct ConvPlan {
    x: sys::cudnnTensorDescriptor_t,
    w: sys::cudnnFilterDescriptor_t,
    conv: sys::cudnnConvolutionDescriptor_t,
    y: sys::cudnnTensorDescriptor_t,
    /// Bias descriptor (1, oc, 1, 1) for the fused call.
    b: sys::cudnnTensorDescriptor_t,
    algo: sys::cudnnConvolutionFwdAlgo_t,
    ws: usize,
    /// Find's device time of the chosen algorithm (ms).
    ms: f32,
    /// Whether cuDNN runs this shape: `None` until our own path was timed (mode `auto`).
    chosen: Option<bool>,
    /// Whether the fused bias + ReLU call works, without and with a residual z (`None`: not
    /// tried yet).
    fused: [Option<bool>; 2],
    /// The find cache's key for this shape, and the math type chosen.
    key: crate::find_cache::Key,
    math: sys::cudnnMathType_t,
}

impl ConvPlan {
    /// Records this plan's choice in the find cache.
    fn remember(&self) {
        let c = crate::find_cache::Choice {
            algo: self.algo as i32,
            math: self.math as i32,
            ws: self.ws,
            ms: self.ms,
            use_cudnn: self.chosen,
        };
        crate::find_cache::put(self.key.clone(), c);
    }
}

/// The algorithm numbered `n` (as stored in the find cache).
fn algo_of(n: i32) -> Option<sys::cudnnConvolutionFwdAlgo_t> {
    use sys::cudnnConvolutionFwdAlgo_t as A;
    Some(match n {
        0 => A::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
        1 => A::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
        2 => A::CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
        3 => A::CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
        4 => A::CUDNN_CONVOLUTION_FWD_ALGO_FFT,
        5 => A::CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
        6 => A::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,
        7 => A::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
        _ => return None,
    })
}

/// The math type numbered `n`.
fn math_of(n: i32) -> Option<sys::cudnnMathType_t> {
    use sys::cudnnMathType_t as M;
    Some(match n {
        0 => M::CUDNN_DEFAULT_MATH,
        1 => M::CUDNN_TENSOR_OP_MATH,
        2 => M::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION,
        3 => M::CUDNN_FMA_MATH,
        _ => return None,
    })
}

fn tensor_op(m: sys::cudnnMathType_t) -> bool {
    matches!(
        m,
        sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH | sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
    )
}

/// The epilogue a caller wants after the convolution: `y = act(conv + bias + z)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epilogue {
    /// Bias device address (0: none).
    pub bias: u64,
    /// Residual device address (0: none), same shape as y.
    pub z: u64,
    /// The activation is a plain ReLU (the only one cuDNN's fused call takes).
    pub relu: bool,
}

/// What [`Cudnn::forward`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Done {
    /// Nothing (the caller runs its own path).
    No,
    /// y = conv(x, w): the caller applies the epilogue.
    Conv,
    /// y = relu(conv(x, w) + bias + z): epilogue included.
    Fused,
}

/// What [`Cudnn::prepare`] says about a shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Decision {
    /// cuDNN runs it.
    Use,
    /// Our path runs it (cuDNN refused the shape, is broken, or measured slower).
    Skip,
    /// Not decided: time our path and call [`Cudnn::decide`] (cuDNN's time in ms).
    Undecided(f32),
}

/// A shape cuDNN cannot run with the required math (falls back to im2col).
enum Entry {
    Plan(ConvPlan),
    Refused,
}

impl Entry {
    fn decision(&self) -> Decision {
        match self {
            Entry::Plan(p) => match p.chosen {
                Some(true) => Decision::Use,
                Some(false) => Decision::Skip,
                None if mode() == "cudnn" => Decision::Use,
                None => Decision::Undecided(p.ms),
            },
            Entry::Refused => Decision::Skip,
        }
    }
}

/// The cuDNN state of one GPU.
pub(crate) struct Cudnn {
    handle: sys::cudnnHandle_t,
    stream: sys::cudaStream_t,
    precision: Precision,
    /// Device name, for the find cache's keys.
    device: String,
    /// ReLU activation descriptor for the fused call.
    relu: sys::cudnnActivationDescriptor_t,
    plans: Mutex<HashMap<ConvShape, Entry>>,
    /// Set when a call failed: the process stays on the im2col path.
    broken: Mutex<Option<String>>,
    /// Largest Find scratch buffer taken from the driver (bytes; given back after each Find).
    scratch_max: AtomicUsize,
    pub version: usize,
}

/// Find's scratch buffer, taken from the driver and given back right after Find: the caching
/// allocator neither keeps it (reserved) nor counts it (peak in use).
struct Scratch(u64, sys::cudaStream_t);

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: allocated by `malloc_sync` in `make_plan`; Find ran on the lane's stream, so
        // after synchronising it no work uses the buffer (other lanes' streams are not waited
        // for: one of them may be capturing a graph).
        unsafe {
            let _ = cudarc::driver::result::stream::synchronize(self.1 as _);
            crate::gpu::device_sync(|| cudarc::driver::result::free_sync(self.0)).ok();
        }
    }
}

// SAFETY: the handle and descriptors are used only with the GPU's run lock held (one stream).
unsafe impl Send for Cudnn {}
unsafe impl Sync for Cudnn {}

/// Workspace an algorithm may use: twice the input plus output tensors plus the filter, within
/// 32 MiB - 1 GiB. cuDNN's fast tensor-op kernels on NCHW tensors transpose x and y into the
/// workspace; device run 7 measured the earlier limit (the larger of x and y, 16-256 MiB) to
/// exclude them at batch 32 (resnet50 b32 fp16 10.6 ms against 7.2 ms with 1 GiB). The limit is
/// also the size of Find's scratch buffer, which comes from the driver and goes back to it right
/// after Find ([`Scratch`]); each convolution then allocates only its chosen algorithm's own
/// workspace (`memory` of Find's result) from the pool, per call, so a graph's arena overlaps
/// them. `ZENRT_CUDNN_WS_MB` sets a fixed limit.
fn ws_limit(s: &ConvShape, esize: usize) -> usize {
    if let Some(mb) = std::env::var("ZENRT_CUDNN_WS_MB").ok().and_then(|v| v.parse::<usize>().ok()) {
        return mb.clamp(1, 4096) << 20;
    }
    let elems = |v: [i32; 4]| v.iter().map(|&d| d.max(0) as usize).product::<usize>();
    let x = elems([s.n, s.c, s.h, s.w]);
    let y = elems([s.n, s.oc, s.oh, s.ow]);
    let w = elems([s.oc, s.c / s.group.max(1), s.kh, s.kw]);
    ((2 * (x + y) + w) * esize).clamp(32 << 20, 1 << 30)
}

/// cuDNN's tensor data type and the convolution math type for a precision.
fn types(p: Precision) -> (sys::cudnnDataType_t, sys::cudnnMathType_t) {
    use sys::cudnnDataType_t as D;
    use sys::cudnnMathType_t as M;
    match p {
        Precision::F32 => (D::CUDNN_DATA_FLOAT, M::CUDNN_FMA_MATH),
        Precision::Tf32 => (D::CUDNN_DATA_FLOAT, M::CUDNN_DEFAULT_MATH),
        Precision::F16 => (D::CUDNN_DATA_HALF, M::CUDNN_TENSOR_OP_MATH),
        Precision::Bf16 => (D::CUDNN_DATA_BFLOAT16, M::CUDNN_TENSOR_OP_MATH),
    }
}

fn fused_wanted() -> bool {
    std::env::var("ZENRT_CUDNN_FUSED").map(|v| v != "0").unwrap_or(true)
}

fn ok(s: sys::cudnnStatus_t, what: &str) -> Result<(), String> {
    if s == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(format!("{what}: {s:?}"))
    }
}

/// Runs `f`, turning a panic (missing library or symbol under dynamic loading) into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(format!("{what}: a cuDNN library call panicked (library or symbol missing)")),
    }
}

/// `ZENRT_CUDA_CONV`: `im2col` (never cuDNN), `cudnn` (always where it takes the shape) or
/// anything else / unset: `auto` (per shape, the faster of the two as timed once).
fn mode() -> &'static str {
    match std::env::var("ZENRT_CUDA_CONV").as_deref() {
        Ok("im2col") => "im2col",
        Ok("cudnn") => "cudnn",
        _ => "auto",
    }
}

fn wanted() -> bool {
    mode() != "im2col"
}

/// Which convolution path a GPU opened now would use, and why (needs no GPU: only probes
/// whether libcudnn loads). For `inspect --device`.
pub fn conv_path() -> String {
    if !wanted() {
        return "im2col + cuBLAS (ZENRT_CUDA_CONV=im2col)".into();
    }
    // SAFETY: only tries to dlopen the library.
    match catch_unwind(|| unsafe { sys::is_culib_present() }) {
        Ok(true) => match catch_unwind(cudarc::cudnn::result::get_version) {
            Ok(v) => format!(
                "cuDNN {}.{}.{} where faster per shape ({}; fp32 FMA math; TF32 with --tf32; fp16/bf16 tensor ops), else im2col + cuBLAS",
                v / 10000,
                (v / 100) % 100,
                v % 100,
                mode()
            ),
            Err(_) => "im2col + cuBLAS (libcudnn loads but has no cudnnGetVersion)".into(),
        },
        _ => "im2col + cuBLAS (libcudnn not found)".into(),
    }
}

impl Cudnn {
    /// Creates the handle on `stream`; `Err(reason)` when cuDNN is absent or unusable.
    pub(crate) fn open(stream: *mut c_void, precision: Precision, device: &str) -> Result<Cudnn, String> {
        if !wanted() {
            return Err("ZENRT_CUDA_CONV=im2col".into());
        }
        // SAFETY: only tries to dlopen the library.
        if !matches!(catch_unwind(|| unsafe { sys::is_culib_present() }), Ok(true)) {
            return Err("libcudnn not found".into());
        }
        guarded("cudnnCreate", || {
            let version = cudarc::cudnn::result::get_version();
            if version < 8000 {
                return Err(format!("cuDNN {version} is too old (need 8.0 or later)"));
            }
            let mut handle: sys::cudnnHandle_t = std::ptr::null_mut();
            let mut relu: sys::cudnnActivationDescriptor_t = std::ptr::null_mut();
            // SAFETY: out-pointers to a handle and a descriptor; the stream belongs to the
            // current context.
            unsafe {
                ok(sys::cudnnCreate(&mut handle), "cudnnCreate")?;
                ok(sys::cudnnSetStream(handle, stream as sys::cudaStream_t), "cudnnSetStream")?;
                ok(sys::cudnnCreateActivationDescriptor(&mut relu), "create activation descriptor")?;
                ok(
                    sys::cudnnSetActivationDescriptor(
                        relu,
                        sys::cudnnActivationMode_t::CUDNN_ACTIVATION_RELU,
                        sys::cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN,
                        0.0,
                    ),
                    "activation descriptor",
                )?;
            }
            Ok(Cudnn {
                handle,
                stream: stream as sys::cudaStream_t,
                precision,
                device: device.to_string(),
                relu,
                plans: Mutex::new(HashMap::new()),
                broken: Mutex::new(None),
                scratch_max: AtomicUsize::new(0),
                version,
            })
        })
    }

    /// Why cuDNN stopped being used, if it did.
    pub(crate) fn broken(&self) -> Option<String> {
        self.broken.lock().ok().and_then(|b| b.clone())
    }

    /// The largest Find scratch buffer so far (bytes): device memory held only while Find ran,
    /// outside the caching allocator's statistics.
    pub(crate) fn find_scratch_max(&self) -> usize {
        self.scratch_max.load(Ordering::Relaxed)
    }

    fn mark_broken(&self, why: String) {
        if let Ok(mut b) = self.broken.lock() {
            b.get_or_insert(why);
        }
    }

    /// Finds (once per shape, timed on the device) the algorithm for `s` and says whether
    /// cuDNN runs it. x, w and y are the call's buffers (Find runs the convolution on them).
    pub(crate) fn prepare(&self, s: &ConvShape, x: u64, w: u64, y: u64, alloc: &Alloc) -> Decision {
        if self.broken().is_some() {
            return Decision::Skip;
        }
        let r = guarded("cudnn algorithm search", || {
            let mut plans = self.plans.lock().map_err(|_| "cuDNN plan cache poisoned".to_string())?;
            if !plans.contains_key(s) {
                let e = self.make_plan(s, x, w, y, alloc)?;
                plans.insert(*s, e);
            }
            Ok(plans.get(s).map(Entry::decision).unwrap_or(Decision::Skip))
        });
        r.unwrap_or_else(|e| {
            self.mark_broken(e);
            Decision::Skip
        })
    }

    /// True when [`Cudnn::prepare`] has settled `s` (it needs no device work any more).
    pub(crate) fn settled(&self, s: &ConvShape) -> bool {
        self.broken().is_some() || matches!(self.cached(s), Some(Decision::Use | Decision::Skip))
    }

    fn cached(&self, s: &ConvShape) -> Option<Decision> {
        let plans = self.plans.lock().ok()?;
        plans.get(s).map(Entry::decision)
    }

    /// Records the choice for `s`: cuDNN when its timed run (`dnn_ms`, epilogue included) was
    /// faster than our path's (`ours_ms`), both timed the same way by the caller.
    pub(crate) fn decide(&self, s: &ConvShape, ours_ms: f32, dnn_ms: f32) -> bool {
        let Ok(mut plans) = self.plans.lock() else { return false };
        match plans.get_mut(s) {
            Some(Entry::Plan(p)) => {
                let use_it = dnn_ms < ours_ms;
                if dnn_ms.is_finite() {
                    p.ms = dnn_ms;
                }
                p.chosen = Some(use_it);
                p.remember();
                use_it
            }
            _ => false,
        }
    }

    /// Runs the convolution of `s` with the plan [`Cudnn::prepare`] made: `Done::Fused` when
    /// cuDNN applied `ep` too (a bias and a ReLU; never tried for the first time while
    /// `capturing`), `Done::Conv` for y = conv(x, w), `Done::No` when cuDNN did nothing (on a
    /// failure cuDNN is marked broken and the caller uses its own path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        s: &ConvShape,
        x: u64,
        w: u64,
        y: u64,
        ep: &Epilogue,
        capturing: bool,
        alloc: &Alloc,
    ) -> Done {
        if self.broken().is_some() {
            return Done::No;
        }
        match guarded("cudnn convolution", || self.forward_inner(s, x, w, y, ep, capturing, alloc)) {
            Ok(done) => done,
            Err(e) => {
                self.mark_broken(e);
                Done::No
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_inner(
        &self,
        s: &ConvShape,
        x: u64,
        w: u64,
        y: u64,
        ep: &Epilogue,
        capturing: bool,
        alloc: &Alloc,
    ) -> Result<Done, String> {
        let mut plans = self.plans.lock().map_err(|_| "cuDNN plan cache poisoned".to_string())?;
        let p = match plans.get_mut(s) {
            Some(Entry::Plan(p)) => p,
            _ => return Ok(Done::No),
        };
        let (ws_ptr, _keep) = if p.ws > 0 { alloc(p.ws).map_err(|e| e.to_string())? } else { (0, Box::new(()) as _) };
        let (one, zero) = (1.0f32, 0.0f32);
        let with_z = usize::from(ep.z != 0);
        let try_fused = ep.relu
            && ep.bias != 0
            && fused_wanted()
            && match p.fused[with_z] {
                Some(works) => works,
                None => !capturing,
            };
        // SAFETY: descriptors match the buffers' shapes (built for this key; bias has `oc`
        // elements, z has y's shape); the workspace is `p.ws` bytes and stays allocated
        // (`_keep`) until the call is queued on the stream, after which the pool may hand it
        // out only to later work on the same stream.
        unsafe {
            if try_fused {
                // without a residual z = y with alpha2 = 0
                let (alpha2, z) = if ep.z != 0 { (1.0f32, ep.z) } else { (0.0f32, y) };
                let st = sys::cudnnConvolutionBiasActivationForward(
                    self.handle,
                    &one as *const f32 as *const c_void,
                    p.x,
                    x as *const c_void,
                    p.w,
                    w as *const c_void,
                    p.conv,
                    p.algo,
                    ws_ptr as *mut c_void,
                    p.ws,
                    &alpha2 as *const f32 as *const c_void,
                    p.y,
                    z as *const c_void,
                    p.b,
                    ep.bias as *const c_void,
                    self.relu,
                    p.y,
                    y as *mut c_void,
                );
                let works = st == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS;
                p.fused[with_z] = Some(works);
                if works {
                    return Ok(Done::Fused);
                }
            }
            ok(
                sys::cudnnConvolutionForward(
                    self.handle,
                    &one as *const f32 as *const c_void,
                    p.x,
                    x as *const c_void,
                    p.w,
                    w as *const c_void,
                    p.conv,
                    p.algo,
                    ws_ptr as *mut c_void,
                    p.ws,
                    &zero as *const f32 as *const c_void,
                    p.y,
                    y as *mut c_void,
                ),
                "cudnnConvolutionForward",
            )?;
        }
        Ok(Done::Conv)
    }

    fn make_plan(&self, s: &ConvShape, x: u64, w: u64, y: u64, alloc: &Alloc) -> Result<Entry, String> {
        use sys::cudnnDataType_t::CUDNN_DATA_FLOAT;
        use sys::cudnnTensorFormat_t::{CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NHWC};
        let (dt, math) = types(self.precision);
        let fmt = if s.nhwc { CUDNN_TENSOR_NHWC } else { CUDNN_TENSOR_NCHW };
        let strict = self.precision == Precision::F32;
        let mut p = ConvPlan {
            x: std::ptr::null_mut(),
            w: std::ptr::null_mut(),
            conv: std::ptr::null_mut(),
            y: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            algo: sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
            ws: 0,
            ms: f32::INFINITY,
            chosen: None,
            fused: [None; 2],
            key: crate::find_cache::Key {
                device: self.device.clone(),
                cudnn: self.version,
                precision: format!(
                    "{}{}",
                    match self.precision {
                        Precision::F32 => "fp32",
                        Precision::Tf32 => "tf32",
                        Precision::F16 => "fp16",
                        Precision::Bf16 => "bf16",
                    },
                    if s.nhwc { "-nhwc" } else { "" }
                ),
                shape: [
                    s.n,
                    s.c,
                    s.h,
                    s.w,
                    s.oc,
                    s.kh,
                    s.kw,
                    s.stride[0],
                    s.stride[1],
                    s.pad[0],
                    s.pad[1],
                    s.dil[0],
                    s.dil[1],
                    s.group,
                    s.oh,
                    s.ow,
                ],
                ws_limit: 0,
            },
            math,
        };
        // SAFETY: descriptor creation and setup with out-pointers; no device memory is touched
        // except by Find, which reads x and w and writes y (all sized by the caller for `s`).
        unsafe {
            ok(sys::cudnnCreateTensorDescriptor(&mut p.x), "create x descriptor")?;
            ok(sys::cudnnCreateTensorDescriptor(&mut p.y), "create y descriptor")?;
            ok(sys::cudnnCreateTensorDescriptor(&mut p.b), "create bias descriptor")?;
            ok(sys::cudnnCreateFilterDescriptor(&mut p.w), "create w descriptor")?;
            ok(sys::cudnnCreateConvolutionDescriptor(&mut p.conv), "create conv descriptor")?;
            ok(sys::cudnnSetTensor4dDescriptor(p.x, fmt, dt, s.n, s.c, s.h, s.w), "x")?;
            let cg = s.c / s.group;
            ok(sys::cudnnSetFilter4dDescriptor(p.w, dt, fmt, s.oc, cg, s.kh, s.kw), "w")?;
            ok(
                sys::cudnnSetConvolution2dDescriptor(
                    p.conv,
                    s.pad[0],
                    s.pad[1],
                    s.stride[0],
                    s.stride[1],
                    s.dil[0],
                    s.dil[1],
                    sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                    CUDNN_DATA_FLOAT,
                ),
                "conv",
            )?;
            ok(sys::cudnnSetConvolutionGroupCount(p.conv, s.group), "group count")?;
            ok(sys::cudnnSetConvolutionMathType(p.conv, math), "math type")?;
            let (mut n, mut c, mut h, mut wd) = (0, 0, 0, 0);
            ok(
                sys::cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &mut n, &mut c, &mut h, &mut wd),
                "output dim",
            )?;
            if (n, c, h, wd) != (s.n, s.oc, s.oh, s.ow) {
                // asymmetric padding or ceil rounding: not expressible in cuDNN's descriptor
                destroy(&p);
                return Ok(Entry::Refused);
            }
            ok(sys::cudnnSetTensor4dDescriptor(p.y, fmt, dt, n, c, h, wd), "y")?;
            ok(sys::cudnnSetTensor4dDescriptor(p.b, fmt, dt, 1, c, 1, 1), "bias")?;
            const COUNT: usize = 8;
            let mut perf: [std::mem::MaybeUninit<sys::cudnnConvolutionFwdAlgoPerf_t>; COUNT] =
                [std::mem::MaybeUninit::zeroed(); COUNT];
            let mut got = 0;
            let limit = ws_limit(s, if dt == CUDNN_DATA_FLOAT { 4 } else { 2 });
            p.key.ws_limit = limit;
            if crate::find_cache::get(&p.key).is_some_and(|c| c.algo < 0) {
                // an earlier Find (maybe another process's) offered nothing usable
                destroy(&p);
                return Ok(Entry::Refused);
            }
            if self.take_cached(&mut p, limit) {
                return Ok(Entry::Plan(p));
            }
            FIND_CALLS.fetch_add(1, Ordering::Relaxed);
            // from the driver (given back after Find); out of memory: from the pool, which may
            // release its cache first
            let (ws_ptr, _keep): (u64, Box<dyn std::any::Any>) = match cudarc::driver::result::malloc_sync(limit) {
                Ok(ptr) => {
                    self.scratch_max.fetch_max(limit, Ordering::Relaxed);
                    (ptr, Box::new(Scratch(ptr, self.stream)))
                }
                Err(_) => alloc(limit).map_err(|e| e.to_string())?,
            };
            ok(
                sys::cudnnFindConvolutionForwardAlgorithmEx(
                    self.handle,
                    p.x,
                    x as *const c_void,
                    p.w,
                    w as *const c_void,
                    p.conv,
                    p.y,
                    y as *mut c_void,
                    COUNT as i32,
                    &mut got,
                    perf.as_mut_ptr() as *mut sys::cudnnConvolutionFwdAlgoPerf_t,
                    ws_ptr as *mut c_void,
                    limit,
                ),
                "cudnnFindConvolutionForwardAlgorithmEx",
            )?;
            let got = (got.max(0) as usize).min(COUNT);
            // results are sorted fastest first; in strict fp32, refuse tensor-op (TF32) kernels
            let pick = perf[..got].iter().map(|r| r.assume_init()).find(|r| {
                r.status == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS
                    && r.memory <= limit
                    && (!strict || !tensor_op(r.mathType))
            });
            match pick {
                Some(r) => {
                    p.algo = r.algo;
                    p.ws = r.memory;
                    p.ms = r.time;
                    if !strict {
                        ok(sys::cudnnSetConvolutionMathType(p.conv, r.mathType), "math type")?;
                        p.math = r.mathType;
                    }
                    p.remember();
                    Ok(Entry::Plan(p))
                }
                None => {
                    let refused = crate::find_cache::Choice {
                        algo: -1,
                        math: p.math as i32,
                        ws: 0,
                        ms: 0.0,
                        use_cudnn: Some(false),
                    };
                    crate::find_cache::put(p.key.clone(), refused);
                    destroy(&p);
                    Ok(Entry::Refused)
                }
            }
        }
    }
}

impl Cudnn {
    /// Takes `p`'s algorithm from the find cache when it holds one that this cuDNN still accepts
    /// for the shape (within the workspace `limit`, no tensor-op math in strict fp32); a choice
    /// it refuses is found again (and overwritten).
    ///
    /// # Safety
    /// `p`'s descriptors are set up for its shape.
    unsafe fn take_cached(&self, p: &mut ConvPlan, limit: usize) -> bool {
        let Some(c) = crate::find_cache::get(&p.key) else { return false };
        let (Some(algo), Some(math)) = (algo_of(c.algo), math_of(c.math)) else { return false };
        if self.precision == Precision::F32 && tensor_op(math) {
            return false;
        }
        if sys::cudnnSetConvolutionMathType(p.conv, math) != sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS {
            return false;
        }
        let mut ws = 0usize;
        let st = sys::cudnnGetConvolutionForwardWorkspaceSize(self.handle, p.x, p.w, p.conv, p.y, algo, &mut ws);
        if st != sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS || ws > limit {
            // stale: restore the math type Find starts from
            let _ = sys::cudnnSetConvolutionMathType(p.conv, p.math);
            return false;
        }
        p.algo = algo;
        p.math = math;
        p.ws = ws.max(c.ws);
        p.ms = c.ms;
        // a forced mode (ZENRT_CUDA_CONV=cudnn) ignores the cached cuDNN-or-ours decision
        p.chosen = if mode() == "auto" { c.use_cudnn } else { None };
        true
    }
}

/// Destroys a plan's descriptors.
///
/// # Safety
/// The descriptors are not used afterwards.
unsafe fn destroy(p: &ConvPlan) {
    let _ = sys::cudnnDestroyTensorDescriptor(p.x);
    let _ = sys::cudnnDestroyTensorDescriptor(p.y);
    let _ = sys::cudnnDestroyTensorDescriptor(p.b);
    let _ = sys::cudnnDestroyFilterDescriptor(p.w);
    let _ = sys::cudnnDestroyConvolutionDescriptor(p.conv);
}

impl Drop for Cudnn {
    fn drop(&mut self) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(mut plans) = self.plans.lock() {
                for (_, e) in plans.drain() {
                    if let Entry::Plan(p) = e {
                        // SAFETY: the GPU is being dropped; nothing uses the plans.
                        unsafe { destroy(&p) };
                    }
                }
            }
            // SAFETY: created in `open`, used by nothing else now.
            unsafe {
                let _ = sys::cudnnDestroyActivationDescriptor(self.relu);
                let _ = sys::cudnnDestroy(self.handle);
            }
        }));
    }
}
