//! RFC 6902 JSON Patch as Ironic applies it: `add`, `replace` and `remove`
//! only, one operation at a time, root paths limited to a per-resource
//! whitelist, removal of a root field resetting it to its default.
//! Written by hand because the whitelist, root-reset and error wording are
//! Ironic's own; a general JSON Patch crate would need all three bolted on.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// One parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: Op,
    /// The path as given, for messages.
    pub path: String,
    /// Unescaped path segments (`~1` → `/`, `~0` → `~`).
    pub segments: Vec<String>,
    pub value: Option<Value>,
}

/// The operations Ironic accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// Parses a patch document: a list of `{op, path, value}` objects.
pub fn parse(body: &Value) -> ApiResult<Vec<PatchOp>> {
    let Value::Array(items) = body else {
        return Err(ApiError::bad_request(
            "Invalid patch: the body must be a JSON list of operations.",
        ));
    };
    items.iter().map(parse_op).collect()
}

fn parse_op(item: &Value) -> ApiResult<PatchOp> {
    let Value::Object(map) = item else {
        return Err(ApiError::bad_request(format!(
            "Invalid patch operation {item}: not an object."
        )));
    };
    let op = match map.get("op").and_then(Value::as_str) {
        Some("add") => Op::Add,
        Some("replace") => Op::Replace,
        Some("remove") => Op::Remove,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid patch operation '{other}': only add, replace and remove are supported."
            )));
        }
        None => {
            return Err(ApiError::bad_request(format!(
                "Invalid patch operation {item}: 'op' is missing."
            )));
        }
    };
    let path = map.get("path").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid patch operation {item}: 'path' is missing."
        ))
    })?;
    if !path.starts_with('/') || path.len() < 2 {
        return Err(ApiError::bad_request(format!(
            "Invalid patch path '{path}': it must start with '/' and name a field."
        )));
    }
    let segments: Vec<String> = path[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    if segments.iter().any(String::is_empty) {
        return Err(ApiError::bad_request(format!(
            "Invalid patch path '{path}': empty path element."
        )));
    }
    let value = map.get("value").cloned();
    if op != Op::Remove && value.is_none() {
        return Err(ApiError::bad_request(format!(
            "Invalid patch operation {item}: 'value' is required for {path}."
        )));
    }
    Ok(PatchOp {
        op,
        path: path.to_string(),
        segments,
        value,
    })
}

impl PatchOp {
    /// The top-level field the operation touches.
    pub fn root(&self) -> &str {
        &self.segments[0]
    }
}

/// Applies `ops` to `doc` in order. `defaults` gives the value a root field
/// takes when it is removed.
pub fn apply(
    doc: &mut Map<String, Value>,
    ops: &[PatchOp],
    defaults: &Map<String, Value>,
) -> ApiResult<()> {
    for op in ops {
        apply_one(doc, op, defaults)?;
    }
    Ok(())
}

/// Ironic's wording: the operation, then the reason in jsonpatch's words
/// (clients match on "Reason: can't remove a non-existent object").
fn fail(op: &PatchOp, why: &str) -> ApiError {
    let shown = match &op.value {
        Some(value) => format!(
            "[{{'op': '{}', 'path': '{}', 'value': {value}}}]",
            op_name(op.op),
            op.path
        ),
        None => format!("[{{'op': '{}', 'path': '{}'}}]", op_name(op.op), op.path),
    };
    ApiError::bad_request(format!("Couldn't apply patch '{shown}'. Reason: {why}"))
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Add => "add",
        Op::Replace => "replace",
        Op::Remove => "remove",
    }
}

fn apply_one(
    doc: &mut Map<String, Value>,
    op: &PatchOp,
    defaults: &Map<String, Value>,
) -> ApiResult<()> {
    let root = op.root();
    if op.segments.len() == 1 {
        if !doc.contains_key(root) {
            return Err(fail(op, "the field does not exist"));
        }
        let new = match op.op {
            Op::Remove => defaults.get(root).cloned().unwrap_or(Value::Null),
            Op::Add | Op::Replace => op.value.clone().unwrap_or(Value::Null),
        };
        doc.insert(root.to_string(), new);
        return Ok(());
    }
    let mut target = doc
        .get_mut(root)
        .ok_or_else(|| fail(op, "the field does not exist"))?;
    if target.is_null() && op.op == Op::Add {
        *target = Value::Object(Map::new());
    }
    let (last, middle) = op.segments[1..]
        .split_last()
        .ok_or_else(|| fail(op, "empty path"))?;
    for segment in middle {
        target = match target {
            Value::Object(map) => map.get_mut(segment.as_str()),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| fail(op, &format!("member '{segment}' not found")))?;
    }
    match (target, op.op) {
        (Value::Object(map), Op::Add) => {
            map.insert(last.clone(), op.value.clone().unwrap_or(Value::Null));
        }
        (Value::Object(map), Op::Replace) => {
            let slot = map.get_mut(last.as_str()).ok_or_else(|| {
                fail(op, &format!("can't replace a non-existent object '{last}'"))
            })?;
            *slot = op.value.clone().unwrap_or(Value::Null);
        }
        (Value::Object(map), Op::Remove) => {
            map.remove(last.as_str())
                .ok_or_else(|| fail(op, &format!("can't remove a non-existent object '{last}'")))?;
        }
        (Value::Array(items), kind) => {
            let index = if last == "-" && kind == Op::Add {
                items.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| fail(op, &format!("'{last}' is not a list index")))?
            };
            match kind {
                Op::Add if index <= items.len() => {
                    items.insert(index, op.value.clone().unwrap_or(Value::Null))
                }
                Op::Replace if index < items.len() => {
                    items[index] = op.value.clone().unwrap_or(Value::Null)
                }
                Op::Remove if index < items.len() => {
                    items.remove(index);
                }
                _ => return Err(fail(op, "list index out of range")),
            }
        }
        _ => return Err(fail(op, "the parent is not an object or a list")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc() -> Map<String, Value> {
        json!({"name": "n1", "extra": {"a": 1}, "properties": {}, "tags": [1, 2]})
            .as_object()
            .cloned()
            .unwrap()
    }

    fn defaults() -> Map<String, Value> {
        json!({"name": null, "extra": {}, "properties": {}})
            .as_object()
            .cloned()
            .unwrap()
    }

    fn run(patch: Value) -> ApiResult<Map<String, Value>> {
        let mut d = doc();
        apply(&mut d, &parse(&patch)?, &defaults())?;
        Ok(d)
    }

    #[test]
    fn operations() {
        let d = run(json!([{"op": "add", "path": "/extra/b", "value": 2}])).unwrap();
        assert_eq!(d["extra"], json!({"a": 1, "b": 2}));
        let d = run(json!([{"op": "remove", "path": "/extra"}])).unwrap();
        assert_eq!(d["extra"], json!({}));
        let d = run(json!([{"op": "remove", "path": "/name"}])).unwrap();
        assert_eq!(d["name"], Value::Null);
        let d = run(json!([{"op": "replace", "path": "/name", "value": "n2"}])).unwrap();
        assert_eq!(d["name"], json!("n2"));
        let d = run(json!([{"op": "add", "path": "/extra/x~1y", "value": 1}])).unwrap();
        assert_eq!(d["extra"]["x/y"], json!(1));
        let d = run(json!([{"op": "add", "path": "/tags/-", "value": 3}])).unwrap();
        assert_eq!(d["tags"], json!([1, 2, 3]));
    }

    #[test]
    fn refusals() {
        for bad in [
            json!({"op": "add"}),
            json!([{"op": "move", "path": "/name", "from": "/x"}]),
            json!([{"op": "add", "path": "/bogus", "value": 1}]),
            json!([{"op": "replace", "path": "/extra/missing", "value": 1}]),
            json!([{"op": "remove", "path": "/extra/missing"}]),
            json!([{"op": "add", "path": "name", "value": 1}]),
            json!([{"op": "add", "path": "/name"}]),
            json!([{"op": "add", "path": "/name/x", "value": 1}]),
            json!(["nope"]),
        ] {
            assert_eq!(run(bad.clone()).unwrap_err().status.as_u16(), 400, "{bad}");
        }
    }

    proptest! {
        /// Arbitrary patches either apply or fail with a 400; never panic.
        #[test]
        fn arbitrary_patches_never_panic(
            ops in proptest::collection::vec(
                (prop_oneof!["add", "replace", "remove", "move"], "(/[a-z~01-]{0,6}){0,4}", any::<Option<i32>>()),
                0..8)
        ) {
            let patch: Vec<Value> = ops.into_iter().map(|(op, path, v)| match v {
                Some(v) => json!({"op": op, "path": path, "value": v}),
                None => json!({"op": op, "path": path}),
            }).collect();
            match run(Value::Array(patch)) {
                Ok(d) => prop_assert!(d.contains_key("extra")),
                Err(e) => prop_assert_eq!(e.status.as_u16(), 400),
            }
        }
    }
}
