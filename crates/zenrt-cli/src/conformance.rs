//! `zenrt conformance DIR ...`: run ONNX backend test cases, report, check against an
//! expected-pass list.

use crate::util::{set_quiet_panics, CliError, CliResult};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zenrt::conformance::{self as conf, Outcome, SuiteOptions};

#[derive(Args)]
pub struct ConfArgs {
    /// A folder of cases (each with model.onnx), or a folder holding the sets
    /// node/, simple/, pytorch-converted/, pytorch-operator/, light/.
    pub dir: PathBuf,
    /// Only cases whose `set/name` contains this text.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub filter: String,
    /// Write a report: `.json` (every case with outcome and reason) or `.md` (summary); repeatable.
    #[arg(long, value_name = "FILE.json|FILE.md")]
    pub report: Vec<PathBuf>,
    /// A list of cases (`set/case` per line) that must pass: exit 1 listing those that do not.
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,
    /// Rewrite --expected with the cases that pass now (entries outside --filter are kept).
    #[arg(long, requires = "expected")]
    pub update_expected: bool,
    /// Worker threads.
    #[arg(long, short = 'j', default_value_t = 2)]
    pub jobs: usize,
    /// Seconds after which a case counts as failed (0: no limit).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Print a line for every case that does not pass.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Run the cases on this device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn conformance(a: ConfArgs) -> CliResult<ExitCode> {
    if !a.dir.is_dir() {
        return Err(CliError::Msg(format!("{} is not a folder", a.dir.display())));
    }
    for r in &a.report {
        let ext = r.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "json" && ext != "md" {
            return Err(CliError::Msg(format!("--report {}: the file name must end in .json or .md", r.display())));
        }
    }
    let expected = match &a.expected {
        Some(p) if a.update_expected && !p.exists() => vec![],
        Some(p) => conf::read_expected(p)?,
        None => vec![],
    };
    let sets = conf::discover_sets(&a.dir);
    let opts = SuiteOptions {
        filter: a.filter.clone(),
        jobs: a.jobs.max(1),
        timeout: if a.timeout == 0 { None } else { Some(std::time::Duration::from_secs(a.timeout)) },
        session: zenrt::SessionOptions { device: a.device.parse()?, ..Default::default() },
    };
    set_quiet_panics(true);
    let verbose = a.verbose;
    let t0 = std::time::Instant::now();
    let records = conf::run_suite(&sets, &opts, &|r| {
        if verbose {
            let line = match &r.outcome {
                Outcome::Pass => return,
                Outcome::Fail(m) => format!("FAIL {}: {m}", r.id()),
                Outcome::Unsupported(m) => format!("UNSUPPORTED {}: {m}", r.id()),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    });
    set_quiet_panics(false);
    if records.is_empty() {
        return Err(CliError::Msg(format!(
            "no cases found under {}{}",
            a.dir.display(),
            if a.filter.is_empty() { String::new() } else { format!(" matching '{}'", a.filter) }
        )));
    }

    let (per, all) = conf::totals(&records);
    let w = per.iter().map(|(s, _)| s.len()).max().unwrap_or(3).max(3);
    println!("{:<w$}  {:>6}  {:>6}  {:>11}  {:>6}", "set", "passed", "failed", "unsupported", "total");
    for (set, t) in per.iter().chain(std::iter::once(&("all".to_string(), all))) {
        println!("{set:<w$}  {:>6}  {:>6}  {:>11}  {:>6}", t.passed, t.failed, t.unsupported, t.total());
    }
    println!("({} case(s) in {:.1} s on {} thread(s))", records.len(), t0.elapsed().as_secs_f64(), opts.jobs);

    let data = a.dir.display().to_string();
    for r in &a.report {
        let text = if r.extension().and_then(|e| e.to_str()) == Some("json") {
            conf::report_json(&records, &data)
        } else {
            conf::report_markdown(&records, &data)
        };
        std::fs::write(r, text).map_err(|e| zenrt::Error::Io { path: r.clone(), source: e })?;
        println!("wrote {}", r.display());
    }

    let mut code = ExitCode::SUCCESS;
    if let Some(p) = &a.expected {
        if a.update_expected {
            let text = conf::updated_expected(&expected, &records, &a.filter);
            let n = conf::parse_expected(&text).len();
            std::fs::write(p, text).map_err(|e| zenrt::Error::Io { path: p.clone(), source: e })?;
            println!("wrote {} expected-pass case(s) to {}", n, p.display());
        } else {
            let reg = conf::regressions(&records, &expected, &a.filter);
            if reg.is_empty() {
                let n = expected.iter().filter(|id| id.contains(&a.filter)).count();
                println!("all {n} case(s) listed in {} pass", p.display());
            } else {
                eprintln!("zenrt: error: {} case(s) listed in {} no longer pass:", reg.len(), p.display());
                for (id, why) in &reg {
                    eprintln!("  {id}: {why}");
                }
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
