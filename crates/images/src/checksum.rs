//! Expected image checksums as Ironic takes them from `instance_info`, and
//! the streaming hasher that checks them.
//!
//! Ironic accepts, in order of preference:
//! - `image_os_hash_algo` + `image_os_hash_value` (Glance multihash; the
//!   value may also be a URL of a checksum file);
//! - the legacy `image_checksum`: a bare hex digest (algorithm told by its
//!   length; historically MD5), an `algo:hex` pair, or the URL of a checksum
//!   file (`sha256sum` output or a single digest).
//!
//! MD5 stays accepted, as Ironic's `[agent]allow_md5_checksum` still defaults
//! to true; [`Checksum::ensure_allowed`] enforces the switch where it is off.

use std::fmt;

use ferrite_model::Dict;
use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncReadExt;

use crate::error::ImageError;
use crate::source;

/// Largest checksum file read, so a wrong URL cannot make us buffer an image.
const MAX_CHECKSUM_FILE: u64 = 1 << 20;

/// A hash algorithm Ironic lets an image be verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    /// Legacy; accepted only while MD5 is allowed.
    Md5,
    /// Glance's and Ferrite's cache key algorithm.
    Sha256,
    /// Glance's default `os_hash_algo`.
    Sha512,
}

impl HashAlgo {
    /// Parses the names used by Glance and Ironic (`sha256`, `SHA-256`, …).
    pub fn parse(name: &str) -> Result<HashAlgo, ImageError> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Ok(HashAlgo::Md5),
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            other => Err(ImageError::InvalidChecksum(format!(
                "unsupported hash algorithm {other:?} (md5, sha256 and sha512 are)"
            ))),
        }
    }

    /// Tells the algorithm of a bare hex digest by its length, as Ironic does
    /// for a legacy `image_checksum` without a prefix.
    fn from_hex_len(len: usize) -> Option<HashAlgo> {
        match len {
            32 => Some(HashAlgo::Md5),
            64 => Some(HashAlgo::Sha256),
            128 => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Length of this algorithm's digest in hex digits.
    fn hex_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 32,
            HashAlgo::Sha256 => 64,
            HashAlgo::Sha512 => 128,
        }
    }

    /// The lower-case name used in instance_info and in messages.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A known digest: what an image must hash to, or what it did hash to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// The algorithm.
    pub algo: HashAlgo,
    /// Lower-case hex digest.
    pub hex: String,
}

impl Checksum {
    /// Builds a checksum from an algorithm and a hex digest, checking that
    /// the digest has the algorithm's length, so a typo fails before any
    /// download rather than as a mismatch after it.
    pub fn new(algo: HashAlgo, hex: &str) -> Result<Checksum, ImageError> {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != algo.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::InvalidChecksum(format!(
                "{hex:?} is not a {algo} digest ({} hex digits)",
                algo.hex_len()
            )));
        }
        Ok(Checksum { algo, hex })
    }

    /// Parses `algo:hex` or a bare hex digest whose length tells the
    /// algorithm (`default` wins when given, e.g. from `image_os_hash_algo`).
    pub fn parse(text: &str, default: Option<HashAlgo>) -> Result<Checksum, ImageError> {
        let text = text.trim();
        if let Some((algo, hex)) = text.split_once(':') {
            return Checksum::new(HashAlgo::parse(algo)?, hex);
        }
        let algo = default
            .or_else(|| HashAlgo::from_hex_len(text.len()))
            .ok_or_else(|| {
                ImageError::InvalidChecksum(format!(
                    "{text:?} is neither an md5, sha256 nor sha512 hex digest"
                ))
            })?;
        Checksum::new(algo, text)
    }

    /// Reads the expected checksum of a deployment from `instance_info`,
    /// fetching the checksum file when one is given by URL. `Ok(None)` when
    /// instance_info carries no checksum at all.
    pub async fn from_instance_info(info: &Dict) -> Result<Option<Checksum>, ImageError> {
        match ChecksumSpec::from_instance_info(info)? {
            None => Ok(None),
            Some(spec) => {
                let image = image_location(info).unwrap_or_default();
                spec.resolve(image).await.map(Some)
            }
        }
    }

    /// Refuses MD5 when the deployment does not allow it.
    pub fn ensure_allowed(&self, allow_md5: bool) -> Result<(), ImageError> {
        if self.algo == HashAlgo::Md5 && !allow_md5 {
            return Err(ImageError::Md5NotAllowed);
        }
        Ok(())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.hex)
    }
}

/// A checksum as instance_info states it: either known, or the URL of a
/// checksum file still to be read. Kept apart from [`Checksum`] so the
/// conductor can key its cache on the statement without any network access.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChecksumSpec {
    /// The digest itself.
    Known(Checksum),
    /// A checksum file to fetch; `algo` when instance_info named one.
    Url {
        /// Where the checksum file is.
        url: String,
        /// The algorithm stated by `image_os_hash_algo`, if any.
        algo: Option<HashAlgo>,
    },
}

impl ChecksumSpec {
    /// Parses the checksum keys of `instance_info` (see the module doc for
    /// precedence; the agent's `image_info` spelling without the `image_`
    /// prefix is read too). `Ok(None)` when none is set.
    pub fn from_instance_info(info: &Dict) -> Result<Option<ChecksumSpec>, ImageError> {
        // Ironic's own image_info for the agent names the same values
        // without the `image_` prefix; both spellings are read.
        let text = |key: &str| match info
            .get(key)
            .or_else(|| info.get(key.trim_start_matches("image_")))
        {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(ImageError::InvalidChecksum(format!(
                "instance_info.{key} must be a string, not {other}"
            ))),
        };
        if let Some(value) = text("image_os_hash_value")? {
            let algo = text("image_os_hash_algo")?.ok_or_else(|| {
                ImageError::InvalidChecksum(
                    "image_os_hash_value is set but image_os_hash_algo is not".into(),
                )
            })?;
            let algo = HashAlgo::parse(&algo)?;
            return ChecksumSpec::parse(&value, Some(algo)).map(Some);
        }
        match text("image_checksum")? {
            Some(value) => ChecksumSpec::parse(&value, None).map(Some),
            None => Ok(None),
        }
    }

    /// Parses one checksum statement: a URL of a checksum file, `algo:hex`,
    /// or a bare hex digest.
    pub fn parse(text: &str, algo: Option<HashAlgo>) -> Result<ChecksumSpec, ImageError> {
        if source::is_url(text) {
            return Ok(ChecksumSpec::Url {
                url: text.to_owned(),
                algo,
            });
        }
        Checksum::parse(text, algo).map(ChecksumSpec::Known)
    }

    /// The known digest, fetching the checksum file if needed. `image_url`
    /// is the image's own location: a multi-line checksum file is searched
    /// for the line naming the image's file name.
    pub async fn resolve(&self, image_url: &str) -> Result<Checksum, ImageError> {
        match self {
            ChecksumSpec::Known(sum) => Ok(sum.clone()),
            ChecksumSpec::Url { url, algo } => {
                let mut reader = source::open(url).await?.take(MAX_CHECKSUM_FILE);
                let mut text = String::new();
                reader
                    .read_to_string(&mut text)
                    .await
                    .map_err(|e| ImageError::from_io(e, |e| read_error(url, e)))?;
                let line = pick_checksum(&text, file_name(image_url)).ok_or_else(|| {
                    ImageError::InvalidChecksum(format!(
                        "checksum file {url} has no line for {:?}",
                        file_name(image_url)
                    ))
                })?;
                Checksum::parse(line, *algo)
            }
        }
    }
}

impl fmt::Display for ChecksumSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChecksumSpec::Known(sum) => sum.fmt(f),
            ChecksumSpec::Url { url, algo: None } => f.write_str(url),
            ChecksumSpec::Url {
                url,
                algo: Some(algo),
            } => write!(f, "{algo}@{url}"),
        }
    }
}

/// A read failure of a checksum file, which names the file.
fn read_error(url: &str, source: std::io::Error) -> ImageError {
    ImageError::Read {
        url: url.to_owned(),
        source,
    }
}

/// The image location in instance_info (`image_source`, or the conductor's
/// computed `image_url`).
fn image_location(info: &Dict) -> Option<&str> {
    ["image_url", "image_source"]
        .iter()
        .find_map(|key| info.get(*key).and_then(Value::as_str))
}

/// The last path segment of a URL, without query or fragment.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// Finds the digest in a checksum file: the only token of a one-digest
/// file, or the digest on the line naming `name` in `sha256sum` format
/// (`HEX  name`, `HEX *name`) or BSD format (`SHA256 (name) = HEX`).
fn pick_checksum<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if let [only] = lines.as_slice()
        && !only.contains(char::is_whitespace)
    {
        return Some(only);
    }
    lines.into_iter().find_map(|line| {
        if let Some((head, hex)) = line.split_once(") = ") {
            let (_, listed) = head.split_once(" (")?;
            return (file_name(listed) == name).then_some(hex.trim());
        }
        let (hex, listed) = line.split_once(char::is_whitespace)?;
        let listed = listed.trim_start().trim_start_matches('*');
        (file_name(listed) == name).then_some(hex)
    })
}

/// An incremental hash of the bytes of a download, in one algorithm.
pub(crate) enum Hasher {
    /// MD5 state.
    Md5(Md5),
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash state for `algo`.
    pub(crate) fn new(algo: HashAlgo) -> Hasher {
        match algo {
            HashAlgo::Md5 => Hasher::Md5(Md5::new()),
            HashAlgo::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds bytes in download order.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed.
    pub(crate) fn finish(self) -> Checksum {
        let (algo, hex) = match self {
            Hasher::Md5(h) => (HashAlgo::Md5, hex::encode(h.finalize())),
            Hasher::Sha256(h) => (HashAlgo::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (HashAlgo::Sha512, hex::encode(h.finalize())),
        };
        Checksum { algo, hex }
    }
}

/// Compares a computed digest with the expected one.
pub(crate) fn verify(expected: &Checksum, actual: &Checksum) -> Result<(), ImageError> {
    if expected == actual {
        return Ok(());
    }
    Err(ImageError::ChecksumMismatch {
        algo: expected.algo,
        expected: expected.hex.clone(),
        actual: actual.hex.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(v: Value) -> Dict {
        match v {
            Value::Object(m) => m,
            _ => Dict::new(),
        }
    }

    const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

    #[test]
    fn os_hash_wins_over_legacy_checksum() {
        let spec = ChecksumSpec::from_instance_info(&info(json!({
            "image_checksum": MD5,
            "image_os_hash_algo": "sha256",
            "image_os_hash_value": SHA256,
        })));
        let expected = ChecksumSpec::Known(Checksum::new(HashAlgo::Sha256, SHA256).expect("valid"));
        assert_eq!(spec.ok().flatten(), Some(expected));
    }

    #[test]
    fn legacy_forms_are_understood() {
        let bare = Checksum::parse(MD5, None).map(|c| c.algo).ok();
        assert_eq!(bare, Some(HashAlgo::Md5));
        let prefixed = Checksum::parse(&format!("sha256:{}", SHA256.to_uppercase()), None);
        assert_eq!(prefixed.map(|c| c.hex).ok().as_deref(), Some(SHA256));
        let url = ChecksumSpec::parse("http://h/SHA256SUMS", None).ok();
        assert!(matches!(url, Some(ChecksumSpec::Url { .. })));
        assert!(Checksum::parse("abc", None).is_err());
        assert!(Checksum::parse(&format!("sha512:{SHA256}"), None).is_err());
        assert!(HashAlgo::parse("crc32").is_err());
    }

    #[test]
    fn agent_image_info_spelling_is_read() {
        let spec = ChecksumSpec::from_instance_info(&info(json!({
            "os_hash_algo": "sha512",
            "os_hash_value": format!("{SHA256}{SHA256}"),
        })));
        let algo = match spec {
            Ok(Some(ChecksumSpec::Known(sum))) => Some(sum.algo),
            _ => None,
        };
        assert_eq!(algo, Some(HashAlgo::Sha512));
    }

    #[test]
    fn missing_algo_or_wrong_type_is_an_error() {
        let no_algo = info(json!({"image_os_hash_value": SHA256}));
        assert!(ChecksumSpec::from_instance_info(&no_algo).is_err());
        let not_text = info(json!({"image_checksum": 5}));
        assert!(ChecksumSpec::from_instance_info(&not_text).is_err());
        let none = info(json!({"image_source": "http://h/i"}));
        assert!(matches!(ChecksumSpec::from_instance_info(&none), Ok(None)));
    }

    #[test]
    fn md5_can_be_forbidden() {
        let md5 = Checksum::parse(MD5, None).expect("valid");
        assert!(md5.ensure_allowed(true).is_ok());
        assert!(matches!(
            md5.ensure_allowed(false),
            Err(ImageError::Md5NotAllowed)
        ));
    }

    #[test]
    fn checksum_files_are_searched_by_file_name() {
        let gnu = format!("{MD5}  other.img\n{SHA256} *./disk.img\n");
        assert_eq!(pick_checksum(&gnu, "disk.img"), Some(SHA256));
        let bsd = format!("SHA256 (disk.img) = {SHA256}\n");
        assert_eq!(pick_checksum(&bsd, "disk.img"), Some(SHA256));
        assert_eq!(
            pick_checksum(&format!("# c\n{SHA256}\n"), "x"),
            Some(SHA256)
        );
        assert_eq!(pick_checksum(&gnu, "missing.img"), None);
        assert_eq!(file_name("http://h/a/disk.img?x=1"), "disk.img");
    }
}
