//! The results of a run: one row per phase, printed as a table or as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::rss::Rss;

/// How one phase went.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// Phase name (`enroll`, `list-detail`, `deploy`, …).
    pub name: String,
    /// Requests or nodes handled (what ops/s is computed from).
    pub ops: usize,
    /// Wall time from the first request to the last node settled, seconds.
    pub wall_s: f64,
    /// `ops / wall_s`.
    pub ops_per_s: f64,
    /// Operations that failed (after retries) or nodes that ended in a
    /// failure state or timed out.
    pub errors: usize,
    /// The first error, to say what went wrong without a log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Server RSS at the end of the phase, KiB (when `--pid` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_kib: Option<u64>,
    /// Server peak RSS (VmHWM) at the end of the phase, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
    /// Free-form detail (pages fetched, polls made, …).
    pub note: String,
}

impl PhaseResult {
    /// Builds a row from the measured values.
    pub fn new(name: &str, ops: usize, wall: Duration, rss: Option<Rss>) -> Self {
        let wall_s = wall.as_secs_f64();
        PhaseResult {
            name: name.to_string(),
            ops,
            wall_s,
            ops_per_s: if wall_s > 0.0 {
                ops as f64 / wall_s
            } else {
                0.0
            },
            errors: 0,
            first_error: None,
            rss_kib: rss.map(|r| r.current_kib),
            peak_rss_kib: rss.map(|r| r.peak_kib),
            note: String::new(),
        }
    }
}

/// Everything a run produced; serialised as is by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The endpoint measured.
    pub url: String,
    /// The server's maximum microversion (from `GET /`).
    pub server_max_version: String,
    /// Nodes requested.
    pub nodes: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Name prefix and resource class of this run's nodes.
    pub prefix: String,
    /// Server RSS before the first phase, KiB (when `--pid` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_start_kib: Option<u64>,
    /// One row per phase, in the order run.
    pub phases: Vec<PhaseResult>,
    /// Sum of enroll, manage, provide and deploy wall times (the "enroll to
    /// active" figure of the quality bars), seconds, when all four ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enroll_to_active_s: Option<f64>,
    /// Total errors over all phases.
    pub errors: usize,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn human(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

impl Report {
    /// Renders the human-readable table.
    pub fn table(&self) -> String {
        let header = [
            "phase", "ops", "wall", "ops/s", "errors", "RSS MiB", "peak MiB", "note",
        ];
        let rows: Vec<[String; 8]> = self
            .phases
            .iter()
            .map(|p| {
                [
                    p.name.clone(),
                    p.ops.to_string(),
                    human(p.wall_s),
                    format!("{:.1}", p.ops_per_s),
                    p.errors.to_string(),
                    mib(p.rss_kib),
                    mib(p.peak_rss_kib),
                    p.note.clone(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ferrite-bench: {} nodes, concurrency {}, {} (max version {}), prefix {}",
            self.nodes, self.concurrency, self.url, self.server_max_version, self.prefix
        );
        if let Some(kib) = self.rss_start_kib {
            let _ = writeln!(out, "server RSS at start: {} MiB", mib(Some(kib)));
        }
        let line = |out: &mut String, cells: &[String]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Text columns left-aligned, numbers right-aligned.
                if i == 0 || i == 7 {
                    let _ = write!(s, "{cell:<w$}  ");
                } else {
                    let _ = write!(s, "{cell:>w$}  ");
                }
            }
            let _ = writeln!(out, "{}", s.trim_end());
        };
        line(&mut out, &header.map(String::from));
        line(&mut out, &widths.map(|w| "-".repeat(w)));
        for row in &rows {
            line(&mut out, row);
        }
        if let Some(total) = self.enroll_to_active_s {
            let _ = writeln!(
                out,
                "enroll → active (enroll+manage+provide+deploy): {}",
                human(total)
            );
        }
        for p in self.phases.iter().filter(|p| p.first_error.is_some()) {
            let _ = writeln!(
                out,
                "first error in {}: {}",
                p.name,
                p.first_error.as_deref().unwrap_or_default()
            );
        }
        let _ = writeln!(out, "errors: {}", self.errors);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_reports_errors() {
        let mut p = PhaseResult::new(
            "enroll",
            1000,
            Duration::from_millis(2500),
            Some(Rss {
                current_kib: 20480,
                peak_kib: 30720,
            }),
        );
        p.errors = 1;
        p.first_error = Some("HTTP 500: boom".into());
        let q = PhaseResult::new("list-detail", 1, Duration::from_millis(12), None);
        let r = Report {
            url: "http://127.0.0.1:1".into(),
            server_max_version: "1.49".into(),
            nodes: 1000,
            concurrency: 8,
            prefix: "bench-x".into(),
            rss_start_kib: None,
            phases: vec![p, q],
            enroll_to_active_s: Some(3.5),
            errors: 1,
        };
        let t = r.table();
        assert!(t.contains("2.50 s"), "{t}");
        assert!(t.contains("12.0 ms"), "{t}");
        assert!(t.contains("20.0"), "{t}");
        assert!(t.contains("400.0"), "{t}");
        assert!(t.contains("first error in enroll: HTTP 500: boom"), "{t}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["phases"][0]["rss_kib"], 20480);
        assert!(json["phases"][1].get("rss_kib").is_none());
    }
}
