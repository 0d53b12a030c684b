//! The process-wide tracing subscriber: structured events on standard
//! error (standard output is kept for the one "listening" line), as text
//! for people or JSON for log collectors.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the subscriber. The filter is `level` when configured, else
/// `RUST_LOG`, else `info`, so an operator's explicit setting wins over an
/// inherited environment.
pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(directives) => EnvFilter::try_new(directives)
            .with_context(|| format!("invalid log_level {directives:?}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
                .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
            _ => EnvFilter::new("info"),
        },
    };
    // Colour only for a person at a terminal; files and collectors get plain
    // text. NO_COLOR (https://no-color.org) is honoured too.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
