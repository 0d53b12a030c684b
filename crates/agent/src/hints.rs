//! Root device hints (`properties.root_device`): which disk receives the
//! image. The rules are Ironic's: every hint must match; strings default
//! to `s==` and accept `s!=`, `s>=`, `s>`, `s<=`, `s<`, `<in>` (substring)
//! and `<or>`; `size` is in GiB and defaults to `==`, with `!=`, `>=`,
//! `>`, `<=`, `<` and `<or>`; `rotational` is a boolean; `name` may omit
//! `/dev/`. Without hints the smallest disk of at least 4 GiB is chosen.
//! Pure functions, so they are tested exhaustively.

use ferrite_model::inventory::Disk;
use serde_json::{Map, Value};

use crate::error::AgentError;

/// Disks smaller than this are never picked without hints (Ironic's
/// agent uses the same floor: nothing useful installs on less).
pub const MIN_DEFAULT_DISK_BYTES: u64 = 4 << 30;

/// The hints Ironic defines; any other key is refused.
const STRING_HINTS: [&str; 8] = [
    "name",
    "model",
    "vendor",
    "serial",
    "wwn",
    "wwn_with_extension",
    "wwn_vendor_extension",
    "hctl",
];

/// One parsed hint.
#[derive(Debug, Clone, PartialEq)]
enum Hint {
    Size(Vec<(NumOp, u64)>),
    Rotational(bool),
    Text(String, Vec<(TextOp, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumOp {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TextOp {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
    Contains,
}

fn bad(hint: &str, value: &Value) -> AgentError {
    AgentError::InvalidParams(format!("root device hint {hint}: invalid value {value}"))
}

/// Splits `<or> a <or> b` into its alternatives, or returns the one value.
fn alternatives(expr: &str) -> Vec<&str> {
    let expr = expr.trim();
    match expr.strip_prefix("<or>") {
        Some(rest) => rest.split("<or>").map(str::trim).collect(),
        None => vec![expr],
    }
}

fn parse_size(value: &Value) -> Result<Hint, AgentError> {
    if let Some(n) = value.as_u64() {
        return Ok(Hint::Size(vec![(NumOp::Eq, n)]));
    }
    let expr = value.as_str().ok_or_else(|| bad("size", value))?;
    let mut out = Vec::new();
    for alt in alternatives(expr) {
        let (op, rest) = [
            (">=", NumOp::Ge),
            ("<=", NumOp::Le),
            ("!=", NumOp::Ne),
            ("==", NumOp::Eq),
            (">", NumOp::Gt),
            ("<", NumOp::Lt),
        ]
        .into_iter()
        .find_map(|(tok, op)| alt.strip_prefix(tok).map(|r| (op, r)))
        .unwrap_or((NumOp::Eq, alt));
        let n = rest.trim().parse().map_err(|_| bad("size", value))?;
        out.push((op, n));
    }
    Ok(Hint::Size(out))
}

fn parse_bool(value: &Value) -> Result<Hint, AgentError> {
    if let Some(b) = value.as_bool() {
        return Ok(Hint::Rotational(b));
    }
    let text = value
        .as_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| bad("rotational", value))?;
    match text.trim() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Ok(Hint::Rotational(true)),
        "0" | "false" | "f" | "no" | "n" | "off" => Ok(Hint::Rotational(false)),
        _ => Err(bad("rotational", value)),
    }
}

fn parse_text(hint: &str, value: &Value) -> Result<Hint, AgentError> {
    let expr = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad(hint, value)),
    };
    let mut out = Vec::new();
    for alt in alternatives(&expr) {
        let (op, rest) = [
            ("s==", TextOp::Eq),
            ("s!=", TextOp::Ne),
            ("s>=", TextOp::Ge),
            ("s<=", TextOp::Le),
            ("s>", TextOp::Gt),
            ("s<", TextOp::Lt),
            ("<in>", TextOp::Contains),
        ]
        .into_iter()
        .find_map(|(tok, op)| alt.strip_prefix(tok).map(|r| (op, r.trim())))
        .unwrap_or((TextOp::Eq, alt));
        let mut operand = rest.to_string();
        if hint == "name" && op != TextOp::Contains && !operand.starts_with("/dev/") {
            operand = format!("/dev/{operand}");
        }
        out.push((op, operand));
    }
    Ok(Hint::Text(hint.to_string(), out))
}

/// Parses and validates a hints object; unknown hints and malformed
/// values are errors (a typo must not silently pick another disk).
fn parse(hints: &Map<String, Value>) -> Result<Vec<Hint>, AgentError> {
    hints
        .iter()
        .map(|(key, value)| match key.as_str() {
            "size" => parse_size(value),
            "rotational" => parse_bool(value),
            k if STRING_HINTS.contains(&k) || k == "by_path" => parse_text(k, value),
            other => Err(AgentError::InvalidParams(format!(
                "unknown root device hint {other}"
            ))),
        })
        .collect()
}

fn text_field<'a>(disk: &'a Disk, hint: &str) -> Option<&'a str> {
    match hint {
        "name" => Some(disk.name.as_str()),
        "model" => disk.model.as_deref(),
        "vendor" => disk.vendor.as_deref(),
        "serial" => disk.serial.as_deref(),
        "wwn" => disk.wwn.as_deref(),
        "hctl" => disk.hctl.as_deref(),
        "by_path" => disk.by_path.as_deref(),
        _ => None,
    }
}

fn matches(disk: &Disk, hint: &Hint) -> bool {
    match hint {
        Hint::Size(alts) => {
            let gib = disk.size_bytes >> 30;
            alts.iter().any(|(op, n)| match op {
                NumOp::Eq => gib == *n,
                NumOp::Ne => gib != *n,
                NumOp::Ge => gib >= *n,
                NumOp::Gt => gib > *n,
                NumOp::Le => gib <= *n,
                NumOp::Lt => gib < *n,
            })
        }
        Hint::Rotational(want) => match disk.media_type.as_deref() {
            Some("HDD") => *want,
            Some("SSD") => !*want,
            _ => false,
        },
        Hint::Text(name, alts) => {
            let Some(have) = text_field(disk, name) else {
                return false;
            };
            alts.iter().any(|(op, want)| match op {
                TextOp::Eq => have == want,
                TextOp::Ne => have != want,
                TextOp::Ge => have >= want.as_str(),
                TextOp::Gt => have > want.as_str(),
                TextOp::Le => have <= want.as_str(),
                TextOp::Lt => have < want.as_str(),
                TextOp::Contains => have.contains(want.as_str()),
            })
        }
    }
}

/// The disks matching every hint, in inventory order.
pub fn matching<'a>(
    disks: &'a [Disk],
    hints: &Map<String, Value>,
) -> Result<Vec<&'a Disk>, AgentError> {
    let parsed = parse(hints)?;
    Ok(disks
        .iter()
        .filter(|d| parsed.iter().all(|h| matches(d, h)))
        .collect())
}

/// The install disk: the first disk matching the hints, or without hints
/// the smallest disk of at least [`MIN_DEFAULT_DISK_BYTES`].
pub fn select<'a>(disks: &'a [Disk], hints: &Map<String, Value>) -> Result<&'a Disk, AgentError> {
    if hints.is_empty() {
        return disks
            .iter()
            .filter(|d| d.size_bytes >= MIN_DEFAULT_DISK_BYTES)
            .min_by_key(|d| d.size_bytes)
            .ok_or_else(|| AgentError::NoDevice("no disk of at least 4 GiB".into()));
    }
    matching(disks, hints)?.into_iter().next().ok_or_else(|| {
        AgentError::NoDevice(format!(
            "no disk matches the root device hints {}",
            Value::Object(hints.clone())
        ))
    })
}
