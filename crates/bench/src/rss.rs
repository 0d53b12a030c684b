//! Reading a server's memory use from `/proc`, so the benchmark can report
//! the resident set of the process it drives (Ferrite: one PID; Ironic: the
//! API and conductor PIDs added up).

use std::fs;

/// Resident memory of a set of processes, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rss {
    /// Current resident set (`VmRSS`), summed over the PIDs.
    pub current_kib: u64,
    /// Peak resident set so far (`VmHWM`), summed over the PIDs.
    pub peak_kib: u64,
}

/// Parses one `Vm…:   1234 kB` line's value out of `/proc/PID/status` text.
fn field_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Reads the memory of `pids`. Returns `None` when no PID was given or none
/// could be read (process gone, no `/proc`): the report then shows a dash
/// instead of a misleading zero.
pub fn sample(pids: &[u32]) -> Option<Rss> {
    let mut total = Rss::default();
    let mut any = false;
    for pid in pids {
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let Some(kib) = field_kib(&status, "VmRSS") {
            any = true;
            total.current_kib += kib;
            total.peak_kib += field_kib(&status, "VmHWM").unwrap_or(kib);
        }
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_lines() {
        let s = "Name:\tferrite\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(field_kib(s, "VmRSS"), Some(10240));
        assert_eq!(field_kib(s, "VmHWM"), Some(20480));
        assert_eq!(field_kib(s, "VmSwap"), None);
    }

    #[test]
    fn samples_this_process_and_skips_missing_ones() {
        let me = std::process::id();
        let rss = sample(&[me]).expect("own /proc entry");
        assert!(rss.current_kib > 0 && rss.peak_kib >= rss.current_kib);
        assert_eq!(sample(&[]), None);
        assert_eq!(sample(&[u32::MAX]), None);
    }
}
