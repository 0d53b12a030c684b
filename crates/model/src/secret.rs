//! Which values are secrets (BMC passwords, agent tokens, …) and how they
//! are hidden. Shared by the API's responses and the change feed, so a
//! secret the API masks is masked in an event too.

use serde_json::Value;

/// What is shown in place of a secret.
pub const MASK: &str = "******";

/// Whether a key of a free-form dict holds a secret (checked without
/// allocating: this runs for every key of every node listed).
pub fn is_secret_key(key: &str) -> bool {
    let has = |needle: &str| {
        key.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    has("password")
        || has("secret")
        || has("token")
        || key.len() >= 4 && key[key.len() - 4..].eq_ignore_ascii_case("_key")
        || key.eq_ignore_ascii_case("configdrive")
        || key.eq_ignore_ascii_case("image_url")
}

/// Replaces, in place and at any depth (objects and arrays alike), every
/// non-null value under a secret key by [`MASK`]. For data that leaves the
/// site whole, such as change-feed events, where no field is known in
/// advance to be safe.
pub fn mask_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if is_secret_key(key) && !inner.is_null() {
                    *inner = Value::String(MASK.to_string());
                } else {
                    mask_in_place(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_in_place),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth_and_in_lists() {
        let mut doc = json!({
            "driver_info": {"ipmi_password": "p", "ipmi_address": "1.2.3.4"},
            "driver_internal_info": {"agent_secret_token": "t", "none_token": null},
            "steps": [{"args": {"bmc_password": "x", "n": 1}}],
        });
        mask_in_place(&mut doc);
        assert_eq!(
            doc,
            json!({
                "driver_info": {"ipmi_password": MASK, "ipmi_address": "1.2.3.4"},
                "driver_internal_info": {"agent_secret_token": MASK, "none_token": null},
                "steps": [{"args": {"bmc_password": MASK, "n": 1}}],
            })
        );
    }
}
