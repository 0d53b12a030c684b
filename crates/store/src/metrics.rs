//! The metrics only the store can see: it is the one place every
//! provision state transition passes through, whichever process (API or
//! conductor) made it. Recorded through the `metrics` facade; the binary
//! installs the Prometheus exporter that `/metrics` renders.

use serde_json::Value;

/// Counts one provision state transition by its states (no node labels:
/// the states are a small fixed set). Counted when appended, so a batch
/// that then fails to commit (a full disk) may count a transition twice
/// once it is retried.
pub(crate) fn transition(data: &Value) {
    let label = |key: &str| data[key].as_str().unwrap_or("unknown").to_string();
    metrics::counter!(
        "ferrite_provision_transitions_total",
        "from" => label("from"),
        "to" => label("to"),
    )
    .increment(1);
}
