//! `tract-bench`: times an ONNX model under tract, for the side-by-side table of `scripts/bench_vs_ort.py`.
//!
//! Benchmark-only: this crate is its own workspace and is never part of zenrt.
//!
//!     tract-bench MODEL.onnx --inputs IN.npz [--threads N] [--warmup N] [--iters N] [--json]
//!
//! The model's input facts are concretised from the arrays of the .npz (matched by input name), then the model
//! is optimized (`into_optimized`) and made runnable (`into_runnable`); `load_ms` covers all of that. One
//! execution state is reused for every run. With `--json` the last line is the same JSON object as
//! `zenrt bench --json` prints (median_ms, p90_ms, p99_ms, min_ms, mean_ms, max_ms, load_ms, peak_rss_bytes from
//! VmHWM, samples_ms).
//!
//! Threads: tract runs its graph on the calling thread. Its matrix products alone can use a thread pool
//! (`tract-linalg`'s `multithread-mm` executor); `--threads N > 1` installs one of N threads. Every other
//! operator stays single-threaded.

mod npz;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tract_onnx::prelude::*;

struct Args {
    model: PathBuf,
    inputs: PathBuf,
    check: Option<PathBuf>,
    threads: usize,
    warmup: usize,
    iters: usize,
    json: bool,
}

const USAGE: &str =
    "usage: tract-bench MODEL.onnx --inputs IN.npz [--check EXPECTED.npz] [--threads N] [--warmup N] [--iters N] [--json]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut model, mut inputs, mut check) = (None, None, None);
    let (mut threads, mut warmup, mut iters, mut json) = (1usize, 2usize, 10usize, false);
    let num = |v: Option<String>, flag: &str| -> Result<usize, String> {
        v.ok_or(format!("{flag} needs a value"))?.parse().map_err(|e| format!("{flag}: {e}"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--inputs" => inputs = Some(PathBuf::from(it.next().ok_or("--inputs needs a value")?)),
            "--check" => check = Some(PathBuf::from(it.next().ok_or("--check needs a value")?)),
            "--threads" => threads = num(it.next(), "--threads")?,
            "--warmup" => warmup = num(it.next(), "--warmup")?,
            "--iters" => iters = num(it.next(), "--iters")?,
            "--json" => json = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with("--") => return Err(format!("unknown flag {s}\n{USAGE}")),
            s if model.is_none() => model = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if iters == 0 || threads == 0 {
        return Err("--iters and --threads must be at least 1".into());
    }
    Ok(Args {
        model: model.ok_or(USAGE)?,
        inputs: inputs.ok_or(format!("--inputs is required\n{USAGE}"))?,
        check,
        threads,
        warmup,
        iters,
        json,
    })
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 where /proc is not available.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .map_or(0, |kb: u64| kb * 1024)
}

/// Median, nearest-rank p90/p99, min, mean, max: the same rules as `zenrt bench`.
fn stats(samples: &[f64]) -> [(&'static str, f64); 6] {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    let rank = |q: f64| s[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    [
        ("median_ms", median),
        ("p90_ms", rank(0.90)),
        ("p99_ms", rank(0.99)),
        ("min_ms", s[0]),
        ("mean_ms", s.iter().sum::<f64>() / n as f64),
        ("max_ms", s[n - 1]),
    ]
}

fn run(a: &Args) -> TractResult<()> {
    let arrays = npz::read_npz(&a.inputs).map_err(|e| anyhow::anyhow!("{}: {e}", a.inputs.display()))?;
    if a.threads > 1 {
        use tract_linalg::multithread::{set_default_executor, Executor};
        set_default_executor(Executor::multithread(a.threads));
    }

    let t0 = Instant::now();
    let mut model = tract_onnx::onnx().model_for_path(&a.model)?;
    let mut feed: TVec<TValue> = tvec!();
    for (ix, outlet) in model.input_outlets()?.to_vec().into_iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let t = arrays
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| anyhow::anyhow!("model input '{name}' is not in {}", a.inputs.display()))?;
        model.set_input_fact(ix, InferenceFact::dt_shape(t.datum_type(), t.shape()))?;
        feed.push(t.into_tvalue());
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;

    let mut state = plan.spawn()?;
    if let Some(path) = &a.check {
        check_outputs(&plan, state.run(feed.clone())?, path)?;
    }
    for _ in 0..a.warmup {
        state.run(feed.clone())?;
    }
    let mut samples = Vec::with_capacity(a.iters);
    for _ in 0..a.iters {
        let inputs = feed.clone(); // reference-counted: no copy of the data
        let t = Instant::now();
        let outs = state.run(inputs)?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        drop(outs);
    }
    let st = stats(&samples);
    let rss = peak_rss_bytes();
    println!("model:    {}", a.model.display());
    println!("engine:   tract-onnx 0.23.9, {} thread(s) for matrix products, graph single-threaded", a.threads);
    println!("load:     {load_ms:.1} ms");
    println!("latency:  {}", st.iter().map(|(k, v)| format!("{k} {v:.3}")).collect::<Vec<_>>().join("  "));
    println!("peak RSS: {:.1} MiB", rss as f64 / (1024.0 * 1024.0));
    if a.json {
        let mut fields = vec![
            format!("\"model\":{:?}", a.model.display().to_string()),
            "\"engine\":\"tract\"".to_string(),
            format!("\"threads\":{}", a.threads),
            format!("\"warmup\":{}", a.warmup),
            format!("\"iters\":{}", a.iters),
            format!("\"load_ms\":{load_ms:.4}"),
        ];
        fields.extend(st.iter().map(|(k, v)| format!("\"{k}\":{v:.4}")));
        fields.push(format!("\"peak_rss_bytes\":{rss}"));
        let s: Vec<String> = samples.iter().map(|x| format!("{x:.4}")).collect();
        fields.push(format!("\"samples_ms\":[{}]", s.join(",")));
        println!("{{{}}}", fields.join(","));
    }
    Ok(())
}

/// Compares tract's outputs with reference outputs (e.g. ONNX Runtime's `b1_expected.npz`), by output name:
/// fails when the largest absolute difference exceeds 1e-3 × (1 + the reference's largest magnitude).
fn check_outputs(plan: &TypedSimplePlan, outs: TVec<TValue>, path: &std::path::Path) -> TractResult<()> {
    let expected = npz::read_npz(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let model = plan.model();
    for (outlet, got) in model.output_outlets()?.iter().zip(outs) {
        let name =
            model.outlet_label(*outlet).map(str::to_string).unwrap_or_else(|| model.node(outlet.node).name.clone());
        let Some((_, want)) = expected.iter().find(|(n, _)| *n == name) else {
            anyhow::bail!("output '{name}' is not in {}", path.display());
        };
        let (g, w) = (got.cast_to::<f64>()?, want.cast_to::<f64>()?);
        anyhow::ensure!(g.shape() == w.shape(), "output '{name}': shape {:?}, expected {:?}", g.shape(), w.shape());
        let (g, w) = (g.to_plain_array_view::<f64>()?, w.to_plain_array_view::<f64>()?);
        let diff = g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let scale = w.iter().map(|x| x.abs()).fold(0.0, f64::max);
        println!("check:    {name}: max |tract - reference| = {diff:.3e} (reference max |x| {scale:.3e})");
        anyhow::ensure!(diff <= 1e-3 * (1.0 + scale), "output '{name}' differs from the reference by {diff:.3e}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tract-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the reason, with tract's context chain.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("tract-bench: error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
