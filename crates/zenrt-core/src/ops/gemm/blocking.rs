//! Cache blocking of the f32 GEMM, derived once per process from the data-cache sizes of the CPU
//! it runs on (Linux sysfs, else x86 `cpuid`, else a typical desktop core), not constants tuned
//! for one machine.
//!
//! The model is the analytic one of BLIS (Low et al., "Analytical modeling is enough for
//! high-performance BLIS", 2016), simplified to fractions of each level:
//! - `kc`: the `kc × nr` B micro-panel, reused by every A micro-panel of the block, stays in L1
//!   next to the streaming A micro-panel: `kc · nr · 4 ≤ L1 / 2`.
//! - `mc`: the packed `mc × kc` A block stays in L2 (the rest keeps the B micro-panels and C
//!   lines): `mc · kc · 4 ≤ 0.3 · L2`, a multiple of `mr` (BLIS's Zen 3 setting, 144 × 256
//!   floats in 512 KiB, is 28%).
//! - `nc`: the packed `kc × nc` B block lives in this core's share of L3 (a quarter of the L3
//!   divided by the cores that share it), a multiple of `nr`, at most 8192 columns.
//!
//! `ZENRT_GEMM_BLOCK=mc,kc,nc` overrides the result (for tuning runs; `0` keeps a value).

use std::sync::OnceLock;

/// Data-cache sizes in bytes of one core (L3: the share of one core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caches {
    pub l1: usize,
    pub l2: usize,
    /// This core's share of the last-level cache.
    pub l3: usize,
}

/// Used when nothing can be read (a common desktop/server core of the AVX2 era).
pub const FALLBACK: Caches = Caches { l1: 32 << 10, l2: 512 << 10, l3: 2 << 20 };

/// `mc`, `kc`, `nc` for one micro-kernel shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
}

/// Parses a sysfs cache size such as `32K`, `512K`, `32768K`, `1M`.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mult).filter(|&n| n > 0)
}

/// Number of CPUs in a sysfs `shared_cpu_list` such as `0-1,4,6-7`.
fn count_cpus(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().ok()?.checked_sub(a.parse::<usize>().ok()?)? + 1,
            None => part.parse::<usize>().map(|_| 1).ok()?,
        };
    }
    (n > 0).then_some(n)
}

/// The data caches of cpu0 from `/sys/devices/system/cpu/cpu0/cache/index*`.
fn from_sysfs() -> Option<Caches> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let (mut l1, mut l2, mut l3) = (None, None, None);
    for i in 0..8 {
        let d = dir.join(format!("index{i}"));
        let read = |f: &str| std::fs::read_to_string(d.join(f)).ok();
        let Some(level) = read("level") else { break };
        if read("type").is_some_and(|t| t.trim() == "Instruction") {
            continue;
        }
        let Some(size) = read("size").as_deref().and_then(parse_size) else { continue };
        match level.trim() {
            "1" => l1 = Some(size),
            "2" => l2 = Some(size),
            "3" => l3 = Some(size / read("shared_cpu_list").as_deref().and_then(count_cpus).unwrap_or(1)),
            _ => {}
        }
    }
    let l2 = l2?;
    Some(Caches { l1: l1?, l2, l3: l3.unwrap_or(l2) })
}

/// The data caches from `cpuid` leaf 4 (Intel) or 0x8000_001D (AMD): the deterministic cache
/// parameters, same layout on both.
#[cfg(target_arch = "x86_64")]
fn from_cpuid() -> Option<Caches> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: cpuid is available on every x86_64 CPU; the leaves are checked against the maximum.
    // (The intrinsics are safe functions in newer Rust versions, hence the allow.)
    #[allow(unused_unsafe)]
    unsafe {
        let vendor_amd = __cpuid(0).ebx == 0x6874_7541; // "Auth"
        let leaf = if vendor_amd {
            if __cpuid(0x8000_0000).eax < 0x8000_001D {
                return None;
            }
            0x8000_001D
        } else {
            if __cpuid(0).eax < 4 {
                return None;
            }
            4
        };
        let (mut l1, mut l2, mut l3) = (None, None, None);
        for sub in 0..8 {
            let r = __cpuid_count(leaf, sub);
            let ty = r.eax & 0x1f;
            if ty == 0 {
                break;
            }
            if ty == 2 {
                continue; // instruction cache
            }
            let level = (r.eax >> 5) & 0x7;
            let sharing = (((r.eax >> 14) & 0xfff) + 1) as usize;
            let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
            let parts = ((r.ebx >> 12) & 0x3ff) as usize + 1;
            let line = (r.ebx & 0xfff) as usize + 1;
            let sets = r.ecx as usize + 1;
            let size = ways * parts * line * sets;
            match level {
                1 => l1 = Some(size),
                2 => l2 = Some(size),
                // `sharing` counts logical processors (SMT siblings included): a conservative share.
                3 => l3 = Some(size / sharing.max(1)),
                _ => {}
            }
        }
        let l2 = l2?;
        Some(Caches { l1: l1?, l2, l3: l3.unwrap_or(l2) })
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn from_cpuid() -> Option<Caches> {
    None
}

/// The caches of this machine (detected once): sysfs, else cpuid, else [`FALLBACK`]; each
/// size is clamped to a sane range so a bogus report cannot produce absurd blocks.
pub fn caches() -> Caches {
    static C: OnceLock<Caches> = OnceLock::new();
    *C.get_or_init(|| {
        let c = from_sysfs().or_else(from_cpuid).unwrap_or(FALLBACK);
        Caches {
            l1: c.l1.clamp(16 << 10, 128 << 10),
            l2: c.l2.clamp(128 << 10, 4 << 20),
            l3: c.l3.clamp(c.l2.clamp(128 << 10, 4 << 20), 64 << 20),
        }
    })
}

/// The blocking for a kernel of `mr × nr` on caches `c` (see the module comment).
pub fn derive(c: Caches, mr: usize, nr: usize) -> Blocking {
    let kc = (c.l1 / 2 / (4 * nr)).clamp(64, 512) / 8 * 8;
    let mc = ((c.l2 * 3 / 10 / (4 * kc)).clamp(mr, 1024) / mr) * mr;
    let nc = ((c.l3 / 4 / (4 * kc)).clamp(nr * 16, 8192) / nr) * nr;
    Blocking { mc, kc, nc }
}

/// `ZENRT_GEMM_BLOCK=mc,kc,nc` applied over `b` (zeros and missing fields keep `b`'s values).
fn overridden(b: Blocking, mr: usize, nr: usize, var: Option<&str>) -> Blocking {
    let Some(v) = var else { return b };
    let f: Vec<usize> = v.split(',').map(|s| s.trim().parse().unwrap_or(0)).collect();
    let pick = |i: usize, cur: usize, unit: usize| match f.get(i) {
        Some(&x) if x > 0 => x.div_ceil(unit) * unit,
        _ => cur,
    };
    Blocking { mc: pick(0, b.mc, mr), kc: pick(1, b.kc, 1), nc: pick(2, b.nc, nr) }
}

/// Blockings computed so far, by kernel shape `(mr, nr)`.
type Known = std::sync::Mutex<Vec<((usize, usize), Blocking)>>;

/// The blocking of this process for a kernel shape (computed once per shape).
pub fn for_kernel(mr: usize, nr: usize) -> Blocking {
    static CACHE: OnceLock<Known> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut v = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, b)) = v.iter().find(|(s, _)| *s == (mr, nr)) {
        return b;
    }
    let var = std::env::var("ZENRT_GEMM_BLOCK").ok();
    let b = overridden(derive(caches(), mr, nr), mr, nr, var.as_deref());
    v.push(((mr, nr), b));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_formats() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("x"), None);
        assert_eq!(count_cpus("0-1\n"), Some(2));
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("3-1"), None);
        assert_eq!(count_cpus(""), None);
    }

    #[test]
    fn blocking_follows_the_caches() {
        // Zen 3 core (32 KiB L1d, 512 KiB L2, 16 MiB L3 share) with the AVX2 6×16 kernel.
        let zen3 = derive(Caches { l1: 32 << 10, l2: 512 << 10, l3: 16 << 20 }, 6, 16);
        assert_eq!(zen3.kc, 256);
        assert!(zen3.mc.is_multiple_of(6));
        assert!(zen3.mc * zen3.kc * 4 <= (512 << 10) / 2, "{zen3:?}");
        assert!(zen3.nc.is_multiple_of(16));
        // A smaller L2 gives a smaller A block; a wider kernel a shorter K block.
        let small = derive(Caches { l1: 32 << 10, l2: 256 << 10, l3: 2 << 20 }, 6, 16);
        assert!(small.mc < zen3.mc);
        let wide = derive(Caches { l1: 48 << 10, l2: 2 << 20, l3: 2 << 20 }, 12, 32);
        assert!(wide.kc * 32 * 4 <= 24 << 10 && wide.mc.is_multiple_of(12) && wide.nc.is_multiple_of(32), "{wide:?}");
        // Whatever the machine reports, the blocks stay positive multiples of the tile.
        let b = for_kernel(6, 16);
        assert!(b.mc >= 6 && b.mc.is_multiple_of(6) && b.kc >= 8 && b.nc >= 16 && b.nc.is_multiple_of(16), "{b:?}");
        let o = overridden(zen3, 6, 16, Some("100,0,1000"));
        assert_eq!((o.mc, o.kc, o.nc), (102, zen3.kc, 1008));
    }
}
