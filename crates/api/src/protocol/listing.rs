//! Collection conventions shared by every list endpoint: `limit`, `marker`,
//! `sort_key`, `sort_dir`, `fields`, `detail`, and `next` links
//! (reference §1.4).

use std::collections::BTreeMap;

use ferrite_model::fields::{FieldSpec, find};
use ferrite_store::ListQuery;
use serde_json::{Map, Value};

use super::body::parse_bool_str;
use super::error::{ApiError, ApiResult};
use super::links::BaseUrl;
use super::version::ApiVersion;

/// The page size cap (`[api]max_limit`).
pub const MAX_LIMIT: usize = 1000;

/// Query parameters in request order; repeated keys keep the last value.
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> Params {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded(query.unwrap_or("")) {
            map.insert(k, v);
        }
        Params(map)
    }

    /// One parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter; a non-boolean value is a 400 naming it.
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_bool_str(v).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("Invalid value for {key}: '{v}' is not a boolean"))
            }),
        }
    }

    /// Refuses a parameter introduced after the request's version.
    pub fn gate(&self, key: &str, version: ApiVersion, minor: u32) -> ApiResult<()> {
        if self.0.contains_key(key) && !version.at_least(minor) {
            return Err(ApiError::not_acceptable(format!(
                "The query parameter {key} is not allowed at API version {}; it requires 1.{minor} or later.",
                version.0
            )));
        }
        Ok(())
    }
}

fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` in a query component. Written by hand:
/// it is ten lines and the only decoding the API needs.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed paging and projection parameters of one list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub limit: usize,
    pub marker: Option<String>,
    pub sort_key: Option<String>,
    pub sort_desc: bool,
    /// Explicit projection (`fields=`), without `links`.
    pub fields: Option<Vec<String>>,
    pub detail: bool,
}

impl ListParams {
    /// Reads and validates the common parameters against a field table
    /// (`detail` from 1.43, as for most resources).
    pub fn parse(
        params: &Params,
        table: &[FieldSpec],
        version: ApiVersion,
    ) -> ApiResult<ListParams> {
        Self::parse_with_detail_since(params, table, version, 43)
    }

    /// As [`ListParams::parse`], for resources whose `detail` parameter
    /// arrived with them (the volume resources, 1.32).
    pub fn parse_with_detail_since(
        params: &Params,
        table: &[FieldSpec],
        version: ApiVersion,
        detail_since: u32,
    ) -> ApiResult<ListParams> {
        let limit = match params.get("limit") {
            None => MAX_LIMIT,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n > 0 => (n as usize).min(MAX_LIMIT),
                Ok(_) => return Err(ApiError::bad_request("Limit must be positive")),
                Err(_) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid value for limit: '{raw}' is not an integer"
                    )));
                }
            },
        };
        let sort_desc = match params.get("sort_dir") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid sort direction: {other}. Acceptable values are 'asc' or 'desc'"
                )));
            }
        };
        let sort_key = match params.get("sort_key") {
            None | Some("id") => None,
            Some(key) => {
                let spec = find(table, key).filter(|s| s.sort).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "The sort_key value \"{key}\" is an invalid field for sorting"
                    ))
                })?;
                check_version(spec, version)?;
                Some(key.to_string())
            }
        };
        params.gate("fields", version, 8)?;
        params
            .gate("detail", version, detail_since)
            .map_err(|e| ApiError::bad_request(e.message))?;
        let detail = params.bool("detail")?.unwrap_or(false);
        let fields = match params.get("fields") {
            None => None,
            Some(raw) => {
                if detail {
                    return Err(ApiError::bad_request(
                        "Can not specify ?detail=True and fields in the same request.",
                    ));
                }
                Some(parse_fields(raw, table, version)?)
            }
        };
        Ok(ListParams {
            limit,
            marker: params.get("marker").map(str::to_string),
            sort_key,
            sort_desc,
            fields,
            detail,
        })
    }

    /// The store query for these parameters and `filters`.
    pub fn query(&self, filters: Vec<ferrite_store::Filter>) -> ListQuery {
        ListQuery {
            filters,
            sort_key: self.sort_key.clone(),
            sort_desc: self.sort_desc,
            limit: Some(self.limit),
            marker: self.marker.clone(),
        }
    }

    /// The `next` link when the page is full, carrying `carried` parameters.
    pub fn next_link(
        &self,
        base: &BaseUrl,
        resource: &str,
        params: &Params,
        carried: &[&str],
        returned: usize,
        last_marker: Option<&str>,
    ) -> Option<String> {
        if returned < self.limit {
            return None;
        }
        let marker = last_marker?;
        let mut parts: Vec<String> = carried
            .iter()
            .filter_map(|k| params.get(k).map(|v| format!("{k}={}", encode(v))))
            .collect();
        parts.push(format!("limit={}", self.limit));
        parts.push(format!("marker={}", encode(marker)));
        Some(format!("{}?{}", base.v1(resource), parts.join("&")))
    }
}

/// Percent-encodes a query value (unreserved characters and `,` kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 406 when a field is newer than the request's version.
pub fn check_version(spec: FieldSpec, version: ApiVersion) -> ApiResult<()> {
    if version.0 < spec.since {
        return Err(ApiError::not_acceptable(format!(
            "The field {} is not available at API version {}; it requires {} or later.",
            spec.name, version.0, spec.since
        )));
    }
    Ok(())
}

/// Parses `fields=a,b`: unknown names are 400, too-new ones 406.
pub fn parse_fields(raw: &str, table: &[FieldSpec], version: ApiVersion) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let spec = find(table, name)
            .ok_or_else(|| ApiError::bad_request(format!("Field(s) \"{name}\" are not valid")))?;
        check_version(spec, version)?;
        out.push(name.to_string());
    }
    Ok(out)
}

/// Keeps only the fields visible at `version` (and, if given, those named),
/// always keeping `links`.
pub fn project(
    full: Map<String, Value>,
    table: &[FieldSpec],
    version: ApiVersion,
    only: Option<&[&str]>,
) -> Map<String, Value> {
    full.into_iter()
        .filter(|(k, _)| {
            let visible = match find(table, k) {
                Some(spec) => version.0 >= spec.since,
                None => true,
            };
            visible && only.is_none_or(|names| names.contains(&k.as_str()) || k == "links")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::Version;
    use ferrite_model::fields::NODE_FIELDS;

    fn p(q: &str) -> Params {
        Params::parse(Some(q))
    }

    #[test]
    fn decoding() {
        assert_eq!(p("a=1%2C2&b=x+y").get("a"), Some("1,2"));
        assert_eq!(p("a=1%2C2&b=x+y").get("b"), Some("x y"));
        assert_eq!(p("a=%zz").get("a"), Some("%zz"));
        assert_eq!(p("a=%4").get("a"), Some("%4"));
    }

    #[test]
    fn limits_and_sorting() {
        let v = ApiVersion(Version(1, 49));
        assert_eq!(
            ListParams::parse(&p("limit=5000"), NODE_FIELDS, v)
                .unwrap()
                .limit,
            MAX_LIMIT
        );
        assert_eq!(
            ListParams::parse(&p("limit=0"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            ListParams::parse(&p("limit=x"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            ListParams::parse(&p("sort_dir=up"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            ListParams::parse(&p("sort_key=properties"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            ListParams::parse(&p("sort_key=owner"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            406
        );
        assert_eq!(
            ListParams::parse(&p("fields=owner"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            406
        );
        assert_eq!(
            ListParams::parse(&p("fields=bogus"), NODE_FIELDS, v)
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            ListParams::parse(&p("fields=uuid"), NODE_FIELDS, ApiVersion(Version(1, 7)))
                .unwrap_err()
                .status
                .as_u16(),
            406
        );
        assert_eq!(
            ListParams::parse(
                &p("detail=true&fields=uuid"),
                NODE_FIELDS,
                ApiVersion(Version(1, 43))
            )
            .unwrap_err()
            .status
            .as_u16(),
            400
        );
    }
}
