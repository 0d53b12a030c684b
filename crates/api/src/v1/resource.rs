//! Helpers shared by the smaller resources (ports, chassis, conductors):
//! rendering a stored document for a version and projection, and lists.

use ferrite_model::fields::FieldSpec;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::protocol::listing::project;
use crate::protocol::{ApiVersion, BaseUrl, ListParams, Params};

/// Rewrites every `*_at` timestamp of a rendered document the way Ironic
/// prints them: microseconds and a `+00:00` offset.
pub fn ironic_times(map: &mut Map<String, Value>) {
    for (key, value) in map.iter_mut() {
        if !key.ends_with("_at") {
            continue;
        }
        if let Some(parsed) = value
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            let utc = parsed.with_timezone(&chrono::Utc);
            *value = Value::String(utc.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string());
        }
    }
}

/// Renders `doc` with `links` to `path`, hiding fields newer than
/// `version`, keeping only `only` when given, plus `extra` link lists.
pub fn render<D: Serialize>(
    doc: &D,
    table: &[FieldSpec],
    version: ApiVersion,
    base: &BaseUrl,
    path: &str,
    only: Option<&[&str]>,
    sub_links: &[(&str, &str)],
) -> Value {
    let Ok(Value::Object(mut map)) = serde_json::to_value(doc) else {
        return Value::Null;
    };
    ironic_times(&mut map);
    map.insert("links".into(), base.links(path));
    if only.is_none() {
        for (key, sub) in sub_links {
            map.insert((*key).into(), base.links(&format!("{path}/{sub}")));
        }
    }
    Value::Object(project(map, table, version, only))
}

/// Which columns a list shows: `fields=`, everything (`detail`), or the
/// resource's defaults.
pub fn columns<'a>(
    list: &'a ListParams,
    detail: bool,
    defaults: &'a [&'a str],
) -> Option<Vec<&'a str>> {
    match (&list.fields, detail || list.detail) {
        (Some(fields), _) => Some(fields.iter().map(String::as_str).collect()),
        (None, true) => None,
        (None, false) => Some(defaults.to_vec()),
    }
}

/// `{plural: items, next?}`.
pub fn collection(plural: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = Map::new();
    body.insert(plural.into(), Value::Array(items));
    if let Some(next) = next {
        body.insert("next".into(), json!(next));
    }
    Value::Object(body)
}

/// The `next` link of a list, carrying the usual parameters.
pub fn next(
    list: &ListParams,
    base: &BaseUrl,
    resource: &str,
    params: &Params,
    returned: usize,
    last: Option<String>,
) -> Option<String> {
    list.next_link(
        base,
        resource,
        params,
        &["sort_key", "sort_dir", "detail", "fields"],
        returned,
        last.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_like_ironic() {
        let mut map = Map::new();
        map.insert("created_at".into(), json!("2026-11-24T17:20:34.975517123Z"));
        map.insert("updated_at".into(), Value::Null);
        map.insert("name".into(), json!("2026-11-24T17:20:34Z"));
        ironic_times(&mut map);
        assert_eq!(map["created_at"], json!("2026-11-24T17:20:34.975517+00:00"));
        assert_eq!(map["updated_at"], Value::Null);
        assert_eq!(map["name"], json!("2026-11-24T17:20:34Z"));
    }
}
