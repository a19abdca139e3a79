//! Reading a model file into shared bytes that the protobuf decoder can slice without copying.
//!
//! Large files are memory-mapped: the kernel's page cache is mapped into the process instead of
//! being copied into a fresh heap buffer (for ResNet-50's 102 MB that copy and the page faults of
//! the new buffer were about a fifth of session creation), and `TensorProto.raw_data` decodes to
//! slices of the mapping ([`bytes::Bytes`]) instead of copies. Each weight's bytes are released
//! as its tensor is built, and the mapping goes with the last of them, so the mapping lives only
//! while the model is imported.
//!
//! Small files, anything that is not a regular file, and any failure to map are read the plain
//! way. `ZENRT_NO_MMAP=1` turns mapping off.

use bytes::Bytes;
use std::path::Path;
use zenrt_core::{Error, Result};

/// Below this size a plain read is as fast and maps nothing.
const MAP_MIN_BYTES: u64 = 1 << 20;

/// The whole file as shared bytes (memory-mapped when large).
pub fn read_shared(path: &Path) -> Result<Bytes> {
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let want_map = meta.is_file() && meta.len() >= MAP_MIN_BYTES && std::env::var_os("ZENRT_NO_MMAP").is_none();
    if want_map {
        // SAFETY: the mapping is read-only and private to this process. Its bytes can only change
        // under us if another process writes the file while it is being imported; they are read
        // once, validated like any untrusted input, and copied into tensors, so a concurrent
        // writer yields wrong weights or a decode error, not undefined behaviour in our code.
        // (Truncating the file during the import would raise SIGBUS, as with any mapped file.)
        if let Ok(map) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            return Ok(Bytes::from_owner(map));
        }
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::io::Read::read_to_end(&mut &file, &mut buf).map_err(io)?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_read_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..(MAP_MIN_BYTES as usize + 12345)).map(|i| (i * 31 % 251) as u8).collect();
        let small = b"tiny file".to_vec();
        for (name, data) in [("big.bin", &big), ("small.bin", &small)] {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            assert_eq!(read_shared(&p).unwrap().as_ref(), data.as_slice());
        }
        let missing = read_shared(&dir.path().join("nope.onnx")).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
    }
}
