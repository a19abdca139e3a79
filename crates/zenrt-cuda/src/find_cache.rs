//! cuDNN algorithm choices kept on disk, so that every process uses the same convolution
//! algorithms (and the same cuDNN-or-ours decision) instead of timing its own.
//!
//! cuDNN's Find times candidate algorithms on the device; near-ties fall either way from one
//! process to the next, which moved whole-model times by 10-40% between processes. The first
//! process to see a (device, cuDNN version, precision, shape, workspace limit) writes its choice
//! here; later processes read it and skip Find.
//!
//! File: `$ZENRT_CUDNN_CACHE` when set to a path (`0`/`off` turns the cache off), else
//! `$XDG_CACHE_HOME/zenrt/cudnn_find.txt`, else `~/.cache/zenrt/cudnn_find.txt`. Text, one choice
//! per line after a header line, fields separated by tabs:
//!
//! ```text
//! zenrt cudnn find cache v1
//! device  cudnn  precision  n,c,h,w,oc,kh,kw,sh,sw,ph,pw,dh,dw,group,oh,ow  ws_limit  algo  math  ws_bytes  ms  use
//! ```
//!
//! (`use`: `cudnn`, `ours` or `-` when not decided; `algo` -1: Find offered no algorithm the
//! precision accepts, so the shape runs our path without a Find; `precision` with `-nhwc`:
//! channels-last tensors.) With the file off, the choices are still
//! shared by the sessions of one process. A file with another header is ignored and
//! a malformed line is skipped, each with one warning on stderr, never an error; a choice that
//! the installed cuDNN no longer accepts is dropped by the caller and found again. Writes merge
//! with what is on disk and replace the file atomically (write, then rename), so processes
//! sharing a file keep each other's entries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const HEADER: &str = "zenrt cudnn find cache v1";

/// What a choice is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Device name and compute capability.
    pub device: String,
    pub cudnn: usize,
    /// `fp32`, `tf32`, `fp16` or `bf16`, with `-nhwc` for channels-last tensors.
    pub precision: String,
    /// n, c, h, w, oc, kh, kw, stride h/w, pad h/w, dilation h/w, group, oh, ow.
    pub shape: [i32; 16],
    /// The workspace limit Find ran with (bytes).
    pub ws_limit: usize,
}

/// The choice for a key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// `cudnnConvolutionFwdAlgo_t` (-1: refused, no usable algorithm) and `cudnnMathType_t` as
    /// numbers.
    pub algo: i32,
    pub math: i32,
    /// Workspace bytes of the algorithm.
    pub ws: usize,
    /// Find's time (ms).
    pub ms: f32,
    /// Whether cuDNN or our own path runs the shape (`None`: not decided yet).
    pub use_cudnn: Option<bool>,
}

/// Parses a cache file's text: the entries, and warnings for what was ignored.
pub fn parse(text: &str) -> (HashMap<Key, Choice>, Vec<String>) {
    let mut map = HashMap::new();
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some(HEADER) {
        return (map, vec![format!("not a zenrt cuDNN cache (expected the header '{HEADER}'): ignored")]);
    }
    let mut bad = 0usize;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some((k, c)) => {
                map.insert(k, c);
            }
            None => bad += 1,
        }
    }
    let warnings = if bad > 0 { vec![format!("{bad} malformed line(s) ignored")] } else { vec![] };
    (map, warnings)
}

fn parse_line(line: &str) -> Option<(Key, Choice)> {
    let f: Vec<&str> = line.split('\t').collect();
    let [device, cudnn, precision, shape, ws_limit, algo, math, ws, ms, use_cudnn] = f.as_slice() else {
        return None;
    };
    let dims: Vec<i32> = shape.split(',').map(|d| d.parse().ok()).collect::<Option<_>>()?;
    let shape: [i32; 16] = dims.try_into().ok()?;
    if device.is_empty() || !matches!(precision.trim_end_matches("-nhwc"), "fp32" | "tf32" | "fp16" | "bf16") {
        return None;
    }
    let (algo, math): (i32, i32) = (algo.parse().ok()?, math.parse().ok()?);
    let ms: f32 = ms.parse().ok()?;
    if !(-1..8).contains(&algo) || !(0..4).contains(&math) || !ms.is_finite() || ms < 0.0 {
        return None;
    }
    let use_cudnn = match *use_cudnn {
        "cudnn" => Some(true),
        "ours" => Some(false),
        "-" => None,
        _ => return None,
    };
    let key = Key {
        device: device.to_string(),
        cudnn: cudnn.parse().ok()?,
        precision: precision.to_string(),
        shape,
        ws_limit: ws_limit.parse().ok()?,
    };
    Some((key, Choice { algo, math, ws: ws.parse().ok()?, ms, use_cudnn }))
}

/// The text of a cache file holding `map` (sorted, so equal maps give equal files).
pub fn render(map: &HashMap<Key, Choice>) -> String {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = format!("{HEADER}\n");
    for (k, c) in entries {
        let shape: Vec<String> = k.shape.iter().map(|d| d.to_string()).collect();
        let use_cudnn = match c.use_cudnn {
            Some(true) => "cudnn",
            Some(false) => "ours",
            None => "-",
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{use_cudnn}\n",
            k.device.replace(['\t', '\n'], " "),
            k.cudnn,
            k.precision,
            shape.join(","),
            k.ws_limit,
            c.algo,
            c.math,
            c.ws,
            c.ms
        ));
    }
    out
}

/// The cache file named by the environment (see the module notes); `None`: cache off.
pub fn default_path() -> Option<PathBuf> {
    match std::env::var_os("ZENRT_CUDNN_CACHE") {
        Some(v) if v == "0" || v == "off" || v.is_empty() => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("zenrt").join("cudnn_find.txt"))
}

struct State {
    path: Option<PathBuf>,
    map: HashMap<Key, Choice>,
    /// A write failed (warned once).
    write_failed: bool,
}

fn warn(path: &Path, msg: &str) {
    eprintln!("zenrt: warning: cuDNN find cache {}: {msg}", path.display());
}

/// Reads `path` (a missing file is an empty cache, anything unreadable a warning).
fn load(path: &Path) -> HashMap<Key, Choice> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (map, warnings) = parse(&text);
            for w in warnings {
                warn(path, &w);
            }
            map
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
        Err(e) => {
            warn(path, &format!("unreadable ({e}): ignored"));
            HashMap::new()
        }
    }
}

fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        let path = default_path();
        let map = path.as_deref().map(load).unwrap_or_default();
        Mutex::new(State { path, map, write_failed: false })
    })
}

/// Uses `path` (`None`: no file) from now on, forgetting this process's choices and reading
/// the file again; returns how many choices it holds. The environment picks the file otherwise (tests and tools point it elsewhere).
pub fn set_file(path: Option<PathBuf>) -> usize {
    let Ok(mut s) = state().lock() else { return 0 };
    s.map = path.as_deref().map(load).unwrap_or_default();
    s.path = path;
    s.write_failed = false;
    s.map.len()
}

/// The cache file in use (`None`: off).
pub fn file() -> Option<PathBuf> {
    state().lock().ok().and_then(|s| s.path.clone())
}

/// The choice cached for `key` (in this process, or read from the file).
pub(crate) fn get(key: &Key) -> Option<Choice> {
    state().lock().ok()?.map.get(key).copied()
}

/// Records `choice` for `key`: for the process's other lanes (sessions), and in the file
/// (merged with what is on disk now) unless the cache is off.
pub(crate) fn put(key: Key, choice: Choice) {
    let Ok(mut s) = state().lock() else { return };
    if s.map.get(&key) == Some(&choice) {
        return;
    }
    s.map.insert(key, choice);
    let Some(path) = s.path.clone() else { return };
    let mut merged = load_quiet(&path);
    merged.extend(s.map.iter().map(|(k, c)| (k.clone(), *c)));
    if let Err(e) = write_atomic(&path, &render(&merged)) {
        if !s.write_failed {
            warn(&path, &format!("not written ({e})"));
            s.write_failed = true;
        }
    }
}

/// The file's entries without warnings (a corrupt file is replaced by the next write).
fn load_quiet(path: &Path) -> HashMap<Key, Choice> {
    std::fs::read_to_string(path).map(|t| parse(&t).0).unwrap_or_default()
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: i32, precision: &str) -> Key {
        Key {
            device: "NVIDIA H100 80GB HBM3 (sm_90)".into(),
            cudnn: 91400,
            precision: precision.into(),
            shape: [n, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 56, 56],
            ws_limit: 1 << 30,
        }
    }

    #[test]
    fn entries_round_trip_through_the_text() {
        let mut m = HashMap::new();
        m.insert(key(1, "fp32"), Choice { algo: 1, math: 3, ws: 4096, ms: 0.0123, use_cudnn: Some(true) });
        m.insert(key(32, "fp16"), Choice { algo: 7, math: 1, ws: 0, ms: 1.5, use_cudnn: Some(false) });
        m.insert(key(4, "tf32"), Choice { algo: 0, math: 0, ws: 1 << 20, ms: 0.25, use_cudnn: None });
        // channels-last, and a refused shape (no usable algorithm: never found again)
        m.insert(key(32, "fp16-nhwc"), Choice { algo: 1, math: 1, ws: 0, ms: 0.5, use_cudnn: Some(true) });
        m.insert(key(8, "fp32"), Choice { algo: -1, math: 3, ws: 0, ms: 0.0, use_cudnn: Some(false) });
        let text = render(&m);
        assert!(text.starts_with(HEADER));
        let (back, warnings) = parse(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, m);
        assert_eq!(render(&back), text, "rendering is deterministic");
    }

    #[test]
    fn corrupt_text_is_ignored_with_a_warning() {
        let good = render(&HashMap::from([(
            key(1, "fp32"),
            Choice { algo: 1, math: 3, ws: 0, ms: 0.5, use_cudnn: Some(true) },
        )]));
        // wrong header: everything ignored
        let (m, w) = parse(&good.replacen("v1", "v0", 1));
        assert!(m.is_empty() && w.len() == 1, "{w:?}");
        let (m, w) = parse("\u{0}\u{1}garbage\nmore");
        assert!(m.is_empty() && w.len() == 1);
        let (m, w) = parse("");
        assert!(m.is_empty() && w.len() == 1);
        // bad lines: skipped, good lines kept
        let line = good.lines().nth(1).unwrap();
        let bad = [
            line.replacen("\t1\t3\t", "\t9\t3\t", 1),  // algorithm out of range
            line.replacen("\t1\t3\t", "\t1\t7\t", 1),  // math out of range
            line.replacen("fp32", "fp64", 1),          // unknown precision
            line.replacen("fp32", "fp32-nchw", 1),     // unknown layout
            line.replacen("\t1\t3\t", "\t-2\t3\t", 1), // algorithm out of range
            line.replacen("cudnn", "maybe", 1),        // unknown decision
            line.replacen(",56,56", ",56", 1),         // 15 dims
            line.replacen("0.5", "NaN", 1),            // time not finite
            line.replacen("0.5", "-1", 1),             // negative time
            line.split('\t').take(9).collect::<Vec<_>>().join("\t"), // missing field
            format!("{line}\textra"),
            "x".repeat(300),
        ];
        for b in &bad {
            assert!(parse_line(b).is_none(), "accepted: {b:?}");
        }
        let text = format!("{good}{}\n", bad.join("\n"));
        let (m, w) = parse(&text);
        assert_eq!(m.len(), 1);
        assert_eq!(w, vec![format!("{} malformed line(s) ignored", bad.len())]);
    }

    #[test]
    fn the_environment_picks_the_file() {
        // only reads the variables: ZENRT_CUDNN_CACHE is not set in the test environment, or
        // names a file
        match std::env::var_os("ZENRT_CUDNN_CACHE") {
            None => {
                let p = default_path();
                assert!(p.is_none() || p.is_some_and(|p| p.ends_with("zenrt/cudnn_find.txt")));
            }
            Some(v) if v == "0" || v == "off" || v.is_empty() => assert!(default_path().is_none()),
            Some(v) => assert_eq!(default_path(), Some(PathBuf::from(v))),
        }
    }
}
