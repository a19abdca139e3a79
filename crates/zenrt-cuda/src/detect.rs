//! Finding a usable GPU without panicking. cudarc loads libcuda/libcublas/libnvrtc on first use
//! and panics when one is missing, so every library is probed up front and every driver call
//! made here runs inside `catch_unwind`.

use std::fmt;

/// Why the CUDA backend cannot run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceUnavailable {
    /// A shared library could not be loaded (e.g. no NVIDIA driver: libcuda.so is missing).
    MissingLibrary { library: &'static str, hint: &'static str },
    /// The driver loaded but reported an error (no device, driver too old, ...).
    Driver(String),
    /// Fewer devices than the requested ordinal.
    NoSuchDevice { ordinal: usize, count: usize },
    /// Context, stream, cuBLAS or kernel compilation failed.
    Init(String),
}

impl fmt::Display for DeviceUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceUnavailable::MissingLibrary { library, hint } => {
                write!(f, "CUDA is not available: {library} could not be loaded ({hint})")
            }
            DeviceUnavailable::Driver(m) => write!(f, "CUDA is not available: the driver reported {m}"),
            DeviceUnavailable::NoSuchDevice { ordinal, count } => {
                write!(f, "CUDA device cuda:{ordinal} does not exist ({count} device(s) found)")
            }
            DeviceUnavailable::Init(m) => write!(f, "CUDA device initialisation failed: {m}"),
        }
    }
}

impl std::error::Error for DeviceUnavailable {}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub count: usize,
}

/// (library, hint when missing, presence check).
type LibProbe = (&'static str, &'static str, fn() -> bool);

/// Checks that the driver, cuBLAS and NVRTC load and that device `ordinal` exists.
pub fn probe(ordinal: usize) -> Result<DeviceInfo, DeviceUnavailable> {
    let libs: [LibProbe; 3] = [
        ("libcuda (the NVIDIA driver)", "no NVIDIA driver installed", || unsafe {
            cudarc::driver::sys::is_culib_present()
        }),
        ("libcublas", "install the CUDA toolkit's cuBLAS or add it to LD_LIBRARY_PATH", || unsafe {
            cudarc::cublas::sys::is_culib_present()
        }),
        ("libnvrtc", "install the CUDA toolkit's NVRTC or add it to LD_LIBRARY_PATH", || unsafe {
            cudarc::nvrtc::sys::is_culib_present()
        }),
    ];
    for (library, hint, present) in libs {
        match std::panic::catch_unwind(present) {
            Ok(true) => {}
            _ => return Err(DeviceUnavailable::MissingLibrary { library, hint }),
        }
    }
    let r = std::panic::catch_unwind(|| -> Result<DeviceInfo, DeviceUnavailable> {
        use cudarc::driver::result as drv;
        drv::init().map_err(|e| DeviceUnavailable::Driver(format!("{e:?} from cuInit")))?;
        let count = drv::device::get_count().map_err(|e| DeviceUnavailable::Driver(format!("{e:?}")))? as usize;
        if ordinal >= count {
            return Err(DeviceUnavailable::NoSuchDevice { ordinal, count });
        }
        let dev = drv::device::get(ordinal as i32).map_err(|e| DeviceUnavailable::Driver(format!("{e:?}")))?;
        let name = drv::device::get_name(dev).map_err(|e| DeviceUnavailable::Driver(format!("{e:?}")))?;
        Ok(DeviceInfo { name, count })
    });
    match r {
        Ok(x) => x,
        Err(_) => Err(DeviceUnavailable::Driver("a panic while querying the driver".into())),
    }
}

/// True when a CUDA device `ordinal` can be used (for tests that skip without a GPU).
pub fn available(ordinal: usize) -> bool {
    probe(ordinal).is_ok()
}
