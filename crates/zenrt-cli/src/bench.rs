//! `zenrt bench` (latency, throughput, load time and peak memory of repeated runs) and `zenrt profile`
//! (time per operator type and per node, from profiled runs of the optimized graph).

use crate::inputs::{make_inputs, InputArgs};
use crate::util::{CliError, CliResult};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use zenrt::{Session, Tensor};

#[derive(Args)]
pub struct BenchArgs {
    /// The .onnx file.
    pub model: PathBuf,
    #[command(flatten)]
    pub passes: crate::passes::PassArgs,
    #[command(flatten)]
    pub io: InputArgs,
    /// Batch size for generated inputs: sets symbolic dims named batch/N/batch_size and the first dim of each
    /// input when it is symbolic or unknown.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Threads for parallel kernels (default: every available core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Untimed runs before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// End with one line holding a JSON object of the results.
    #[arg(long)]
    pub json: bool,
    /// Also time N requests one `run` after another against one pipelined `run_many` of N
    /// (on a GPU: uploads and downloads overlap compute), `--iters` rounds each, alternating.
    #[arg(long, value_name = "N")]
    pub pipeline: Option<usize>,
}

#[derive(Args)]
pub struct ProfileArgs {
    /// The .onnx file.
    pub model: PathBuf,
    #[command(flatten)]
    pub passes: crate::passes::PassArgs,
    #[command(flatten)]
    pub io: InputArgs,
    /// Batch size for generated inputs (as for `bench`).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Threads for parallel kernels (default: every available core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Untimed runs before profiling.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Profiled runs (times are averaged over them).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// How many individual nodes to list.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
}

/// The `q` quantile (0..=1) of sorted samples by the nearest-rank rule.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn stats(samples_ms: &[f64]) -> Stats {
    let mut s = samples_ms.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    Stats {
        min: s[0],
        max: s[n - 1],
        mean: s.iter().sum::<f64>() / n as f64,
        median,
        p90: nearest_rank(&s, 0.90),
        p99: nearest_rank(&s, 0.99),
    }
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 where /proc is not available.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time used so far by this process's live threads, in ns (`/proc/self/task/*/schedstat`);
/// `None` where that is not available. Session creation's CPU time is steadier than its wall time
/// on a loaded machine.
pub fn cpu_time_ns() -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // a thread that exits between the listing and the read is skipped
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        if let Some(ns) = stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn shape_str(t: &Tensor) -> String {
    format!("{}[{}]", t.dtype(), t.shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
}

/// The batch size the run really used: `--batch`, else the first dim of the first input.
fn effective_batch(batch: Option<usize>, inputs: &[(String, Tensor)]) -> usize {
    batch.unwrap_or_else(|| inputs.first().and_then(|(_, t)| t.shape().first().copied()).unwrap_or(1))
}

/// Opens a model with `threads` intra-op threads (`None`: every core) the chosen passes and device.
pub fn open_session(
    model: &std::path::Path,
    threads: Option<usize>,
    passes: &crate::passes::PassArgs,
    io: &crate::inputs::InputArgs,
) -> CliResult<Session> {
    let opts = zenrt::SessionOptions { intra_op_threads: threads, passes: passes.options(), ..io.session_options()? };
    Ok(Session::from_file_with(model, &opts)?)
}

fn check_iters(iters: usize) -> CliResult<()> {
    if iters == 0 {
        return Err(CliError::Msg("--iters must be at least 1".into()));
    }
    Ok(())
}

pub fn bench(a: BenchArgs) -> CliResult<ExitCode> {
    check_iters(a.iters)?;
    let (t0, cpu0) = (Instant::now(), cpu_time_ns());
    let session = open_session(&a.model, a.threads, &a.passes, &a.io)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let load_cpu_ms = cpu0.zip(cpu_time_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / 1e6);
    let inputs = make_inputs(&session, &a.io, a.batch, !a.json)?;
    let batch = effective_batch(a.batch, &inputs);

    for _ in 0..a.warmup {
        session.run(inputs.clone())?;
    }
    // GPU: the peak of the load and warm-up runs (cuDNN Find, graph capture), then the timed runs'
    #[cfg(feature = "cuda")]
    let warm_peak = session.cuda_plan().map(|c| {
        let peak = c.gpu().memory_stats().1;
        c.gpu().reset_peak();
        peak
    });
    let mut samples = Vec::with_capacity(a.iters);
    for _ in 0..a.iters {
        let feed = inputs.clone(); // cheap relative to a run, and kept outside the timed region
        let t = Instant::now();
        let outs = session.run(feed)?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        drop(outs);
    }
    let s = stats(&samples);
    let piped = match a.pipeline {
        Some(n) => Some(pipeline_rounds(&session, &inputs, n.max(1), a.iters)?),
        None => None,
    };
    #[cfg(feature = "cuda")]
    let gpu_split = session.cuda_plan().map(|c| gpu_split(c, &session, &inputs, a.iters)).transpose()?.flatten();
    #[cfg(not(feature = "cuda"))]
    let gpu_split: Option<([f64; 5], f64)> = None;
    let rss = peak_rss_bytes();
    let throughput = if s.median > 0.0 { batch as f64 * 1000.0 / s.median } else { f64::INFINITY };

    println!("model:       {}", a.model.display());
    println!(
        "inputs:      {}",
        inputs.iter().map(|(n, t)| format!("{n}: {}", shape_str(t))).collect::<Vec<_>>().join(", ")
    );
    println!("batch {batch}, threads {}, {} warm-up + {} timed runs", session.threads(), a.warmup, a.iters);
    println!("load:        {load_ms:.1} ms");
    println!(
        "latency ms:  median {:.3}  p90 {:.3}  p99 {:.3}  min {:.3}  mean {:.3}  max {:.3}",
        s.median, s.p90, s.p99, s.min, s.mean, s.max
    );
    println!("throughput:  {throughput:.2} inferences/s");
    if let (Some(n), Some((seq, pipe))) = (a.pipeline, &piped) {
        let per_s = |ms: f64| (n * batch) as f64 * 1000.0 / ms;
        println!(
            "pipeline:    {n} requests: one by one {seq:.3} ms ({:.1} inferences/s), run_many {pipe:.3} ms ({:.1} inferences/s), x{:.2}",
            per_s(*seq),
            per_s(*pipe),
            seq / pipe
        );
    }
    if let Some((m, resident)) = &gpu_split {
        println!(
            "GPU split:   median ms: host staging {:.3}, upload {:.3}, graph {:.3}, download {:.3}, run {:.3}; device-resident replay {resident:.3}",
            m[0], m[1], m[2], m[3], m[4]
        );
    }
    println!("peak RSS:    {:.1} MiB", rss as f64 / (1024.0 * 1024.0));
    #[cfg(feature = "cuda")]
    let gpu_mem = session.cuda_plan().map(|c| {
        let (reserved, steady, allocs) = c.gpu().memory_stats();
        (reserved, steady.max(warm_peak.unwrap_or(0)), allocs, steady, c.gpu().find_scratch_bytes())
    });
    #[cfg(not(feature = "cuda"))]
    let gpu_mem: Option<(usize, usize, usize, usize, usize)> = None;
    #[cfg(feature = "cuda")]
    let conv_path = session.cuda_plan().map(|c| c.gpu().conv_path());
    #[cfg(not(feature = "cuda"))]
    let conv_path: Option<String> = None;
    #[cfg(feature = "cuda")]
    let graph_status = session.cuda_plan().map(|c| c.graph_status());
    #[cfg(not(feature = "cuda"))]
    let graph_status: Option<String> = None;
    if let Some(g) = &graph_status {
        println!("GPU graph:   {g}");
    }
    if let Some(cp) = &conv_path {
        println!("GPU conv:    {cp}");
    }
    let mib = |b: usize| b as f64 / 1048576.0;
    if let Some((reserved, peak, allocs, steady, scratch)) = gpu_mem {
        println!(
            "GPU memory:  peak in use {:.1} MiB (timed runs {:.1} MiB), reserved {:.1} MiB ({allocs} cuMemAlloc calls in all); cuDNN Find scratch up to {:.1} MiB, outside the pool and given back",
            mib(peak),
            mib(steady),
            mib(reserved),
            mib(scratch)
        );
    }
    if a.json {
        let gpu = |f: fn(&(usize, usize, usize, usize, usize)) -> usize| {
            gpu_mem.as_ref().map(|m| f(m).to_string()).unwrap_or_else(|| "null".into())
        };
        let fields = [
            ("device", json_str(&session.device().to_string())),
            ("gpu_peak_bytes", gpu(|m| m.1)),
            ("gpu_steady_peak_bytes", gpu(|m| m.3)),
            ("gpu_find_scratch_bytes", gpu(|m| m.4)),
            ("gpu_conv", conv_path.as_deref().map(json_str).unwrap_or_else(|| "null".into())),
            ("gpu_graph", graph_status.as_deref().map(json_str).unwrap_or_else(|| "null".into())),
            ("gpu_reserved_bytes", gpu(|m| m.0)),
            ("model", json_str(&a.model.display().to_string())),
            ("batch", batch.to_string()),
            ("threads", session.threads().to_string()),
            ("warmup", a.warmup.to_string()),
            ("iters", a.iters.to_string()),
            ("load_ms", format!("{load_ms:.4}")),
            ("load_cpu_ms", load_cpu_ms.map_or("null".into(), |c| format!("{c:.4}"))),
            ("median_ms", format!("{:.4}", s.median)),
            ("p90_ms", format!("{:.4}", s.p90)),
            ("p99_ms", format!("{:.4}", s.p99)),
            ("min_ms", format!("{:.4}", s.min)),
            ("mean_ms", format!("{:.4}", s.mean)),
            ("max_ms", format!("{:.4}", s.max)),
            ("throughput_per_s", if throughput.is_finite() { format!("{throughput:.4}") } else { "null".into() }),
            ("peak_rss_bytes", rss.to_string()),
            ("pipeline_n", a.pipeline.map_or("null".into(), |n| n.to_string())),
            ("pipeline_sequential_ms", piped.map_or("null".into(), |p| format!("{:.4}", p.0))),
            ("pipeline_run_many_ms", piped.map_or("null".into(), |p| format!("{:.4}", p.1))),
            (
                "gpu_split_ms",
                gpu_split.map_or("null".into(), |(m, _)| {
                    format!(
                        "{{\"stage\":{:.4},\"upload\":{:.4},\"graph\":{:.4},\"download\":{:.4},\"run\":{:.4}}}",
                        m[0], m[1], m[2], m[3], m[4]
                    )
                }),
            ),
            ("gpu_resident_median_ms", gpu_split.map_or("null".into(), |(_, r)| format!("{r:.4}"))),
            ("samples_ms", format!("[{}]", samples.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(","))),
        ];
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json_str(k))).collect();
        println!("{{{}}}", body.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

/// GPU with a captured graph: `iters` more runs with their time split recorded (medians of
/// host staging, upload, graph, download, whole run; `zenrt::cuda::RunSplit`), then the median of
/// `iters` replays on device-resident inputs and outputs. `None` when the runs are not replayed.
#[cfg(feature = "cuda")]
fn gpu_split(
    plan: &zenrt::cuda::CudaPlan,
    session: &Session,
    inputs: &[(String, Tensor)],
    iters: usize,
) -> CliResult<Option<([f64; 5], f64)>> {
    if !plan.set_split_timing(true)? {
        return Ok(None);
    }
    for _ in 0..iters {
        session.run(inputs.to_vec())?;
    }
    let splits = plan.take_splits()?;
    plan.set_split_timing(false)?;
    let med = |f: fn(&zenrt::cuda::RunSplit) -> f64| stats(&splits.iter().map(f).collect::<Vec<_>>()).median;
    let m =
        [med(|s| s.stage_ms), med(|s| s.upload_ms), med(|s| s.graph_ms), med(|s| s.download_ms), med(|s| s.total_ms)];
    let resident = plan.time_resident(iters)?.map(|t| stats(&t).median);
    Ok(resident.filter(|_| !splits.is_empty()).map(|r| (m, r)))
}

/// Median wall times (ms) of `n` requests run one by one and of one `run_many` of `n`, over
/// `rounds` alternating rounds (inputs cloned outside the timed regions).
fn pipeline_rounds(session: &Session, inputs: &[(String, Tensor)], n: usize, rounds: usize) -> CliResult<(f64, f64)> {
    let (mut seq, mut pipe) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let reqs: Vec<Vec<(String, Tensor)>> = (0..n).map(|_| inputs.to_vec()).collect();
        let mut outs = Vec::with_capacity(n);
        let t = Instant::now();
        for r in reqs {
            outs.push(session.run(r)?);
        }
        seq.push(t.elapsed().as_secs_f64() * 1e3);
        drop(outs);
        let reqs: Vec<Vec<(String, Tensor)>> = (0..n).map(|_| inputs.to_vec()).collect();
        let t = Instant::now();
        let outs = session.run_many(reqs)?;
        pipe.push(t.elapsed().as_secs_f64() * 1e3);
        drop(outs);
    }
    Ok((stats(&seq).median, stats(&pipe).median))
}

pub fn profile(a: ProfileArgs) -> CliResult<ExitCode> {
    check_iters(a.iters)?;
    let t0 = Instant::now();
    let session = open_session(&a.model, a.threads, &a.passes, &a.io)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let inputs = make_inputs(&session, &a.io, a.batch, true)?;
    let batch = effective_batch(a.batch, &inputs);
    for _ in 0..a.warmup {
        session.run(inputs.clone())?;
    }
    // Per node (execution order) and per op type, summed over the profiled runs.
    let mut per_node: Vec<(String, String, Duration)> = Vec::new();
    let mut wall = Duration::ZERO;
    for it in 0..a.iters {
        let feed = inputs.clone();
        let t = Instant::now();
        let (_, timings) = session.run_profiled(feed)?;
        wall += t.elapsed();
        if it == 0 {
            per_node = timings.into_iter().map(|s| (s.node, s.op_type, s.elapsed)).collect();
        } else {
            for (acc, s) in per_node.iter_mut().zip(timings) {
                acc.2 += s.elapsed;
            }
        }
    }
    let runs = a.iters as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / runs;
    let total: Duration = per_node.iter().map(|n| n.2).sum();
    let total_ms = ms(total).max(f64::MIN_POSITIVE);
    let mut per_op: HashMap<&str, (Duration, usize)> = HashMap::new();
    for (_, op, d) in &per_node {
        let e = per_op.entry(op.as_str()).or_default();
        e.0 += *d;
        e.1 += 1;
    }
    let mut ops: Vec<(&str, Duration, usize)> = per_op.into_iter().map(|(k, (d, c))| (k, d, c)).collect();
    ops.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));

    println!("model: {} (loaded in {load_ms:.1} ms)", a.model.display());
    println!(
        "profiling the optimized graph (after passes): {} nodes; batch {batch}, threads {}; {} warm-up + {} profiled runs",
        per_node.len(),
        session.threads(),
        a.warmup,
        a.iters
    );
    println!(
        "per run: {:.3} ms wall, {:.3} ms in kernels ({:.1}%)",
        wall.as_secs_f64() * 1e3 / runs,
        ms(total),
        100.0 * ms(total) / (wall.as_secs_f64() * 1e3 / runs).max(f64::MIN_POSITIVE)
    );
    println!();
    println!("{:<24} {:>12} {:>7} {:>7} {:>14}", "op type", "ms/run", "share", "calls", "ms/call");
    for (op, d, calls) in &ops {
        println!(
            "{:<24} {:>12.3} {:>6.1}% {:>7} {:>14.4}",
            op,
            ms(*d),
            100.0 * ms(*d) / total_ms,
            calls,
            ms(*d) / *calls as f64
        );
    }
    println!();
    let mut nodes: Vec<(usize, &(String, String, Duration))> = per_node.iter().enumerate().collect();
    nodes.sort_by(|x, y| y.1 .2.cmp(&x.1 .2).then(x.0.cmp(&y.0)));
    println!("top {} nodes:", a.top.min(nodes.len()));
    println!("{:>5}  {:<44} {:<20} {:>12} {:>7}", "step", "node", "op type", "ms/run", "share");
    for (i, (name, op, d)) in nodes.iter().take(a.top) {
        let shown = if name.chars().count() > 44 {
            format!("…{}", name.chars().rev().take(43).collect::<Vec<_>>().into_iter().rev().collect::<String>())
        } else {
            name.clone()
        };
        println!("{:>5}  {:<44} {:<20} {:>12.3} {:>6.1}%", i, shown, op, ms(*d), 100.0 * ms(*d) / total_ms);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        let s = stats(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.max, s.median, s.mean), (1.0, 5.0, 3.0, 3.0));
        assert_eq!((s.p90, s.p99), (5.0, 5.0));
        let s = stats(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.median, 2.5);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = stats(&v);
        assert_eq!((s.p90, s.p99, s.median), (90.0, 99.0, 50.5));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time_ns().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        assert!(cpu_time_ns().unwrap() > before + 1_000_000, "{x}");
    }

    #[test]
    fn reads_peak_rss() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes() > 0);
        }
    }
}
