//! The one error type of the image pipeline.

use std::io;

use crate::checksum::HashAlgo;

/// Everything that can go wrong while fetching, verifying, converting,
/// caching or writing an image. Each message names what was expected so a
/// node's `last_error` tells the operator what to fix without reading logs.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image location could not be understood.
    #[error("invalid image URL {url:?}: {reason}")]
    InvalidUrl {
        /// The location as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered, but not with the image.
    #[error("fetching {url}: the server answered HTTP {status}, expected 200")]
    HttpStatus {
        /// The location requested.
        url: String,
        /// The status the server answered.
        status: u16,
    },
    /// No answer at all (connection refused, DNS, TLS, timeout).
    #[error("fetching {url}: {source}")]
    Connect {
        /// The location requested.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// Reading the image's bytes failed midway.
    #[error("reading {url}: {source}")]
    Read {
        /// The location being read.
        url: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
    /// Reading a source that is not a URL (a caller's own reader) failed.
    #[error("reading the image: {0}")]
    ReadSource(#[source] io::Error),
    /// The transfer ended before the announced length was received.
    #[error("{url} was truncated: received {received} of the {expected} bytes announced")]
    Truncated {
        /// The location being read.
        url: String,
        /// Bytes received before the transfer ended.
        received: u64,
        /// Bytes the server announced (Content-Length).
        expected: u64,
    },
    /// A checksum given in instance_info (or a checksum file) is malformed.
    #[error("invalid checksum: {0}")]
    InvalidChecksum(String),
    /// MD5 was given while the deployment forbids it
    /// (`[agent]allow_md5_checksum` / `agent_md5_checksum_enable` false).
    #[error("MD5 image checksums are disabled; give image_os_hash_algo sha256 or sha512")]
    Md5NotAllowed,
    /// The bytes downloaded do not hash to the expected value.
    #[error(
        "checksum mismatch: expected {algo} {expected}, the image downloaded hashes to {actual}"
    )]
    ChecksumMismatch {
        /// Algorithm of the comparison.
        algo: HashAlgo,
        /// The expected hex digest.
        expected: String,
        /// The hex digest of what was received.
        actual: String,
    },
    /// A qcow2 image reached the agent's disk writer, which streams raw only.
    #[error(
        "the image is qcow2: it must be converted to raw on the conductor (image cache) before the agent writes it"
    )]
    Qcow2NeedsConversion,
    /// The image does not fit on the target.
    #[error(
        "the image needs at least {needed} bytes but the target disk holds only {capacity} bytes"
    )]
    TooLarge {
        /// Bytes the image occupies once written (its virtual size, or what
        /// had been decompressed when the stream overflowed the target).
        needed: u64,
        /// Bytes the target holds.
        capacity: u64,
    },
    /// The compressed stream is corrupt.
    #[error("decompressing the {format} image: {source}")]
    Decompress {
        /// Compression format detected.
        format: &'static str,
        /// What the decoder reported.
        #[source]
        source: io::Error,
    },
    /// Writing to the sink (disk, file) failed.
    #[error("writing the image: {0}")]
    Write(#[source] io::Error),
    /// `qemu-img` refused the image or failed.
    #[error("qemu-img {operation} of {path} failed: {detail}")]
    QemuImg {
        /// `info` or `convert`.
        operation: &'static str,
        /// The file worked on.
        path: String,
        /// qemu-img's own message (stderr) or why it could not run.
        detail: String,
    },
    /// A qcow2 image uses features that would let it read other files.
    #[error("refusing qcow2 image {path}: {reason}")]
    UnsafeImage {
        /// The file inspected.
        path: String,
        /// The offending feature.
        reason: String,
    },
    /// The conductor's cache directory could not be used.
    #[error("image cache: {context}: {source}")]
    Cache {
        /// What the cache was doing.
        context: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
    /// An error that happened while processing the image from a given URL.
    #[error("{url}: {source}")]
    AtUrl {
        /// The image location.
        url: String,
        /// What went wrong with it.
        #[source]
        source: Box<ImageError>,
    },
}

impl ImageError {
    /// Attaches the image URL to errors that do not already name it, so the
    /// caller's report always says which image failed.
    pub fn at_url(self, url: &str) -> ImageError {
        match self {
            ImageError::InvalidUrl { .. }
            | ImageError::HttpStatus { .. }
            | ImageError::Connect { .. }
            | ImageError::Read { .. }
            | ImageError::Truncated { .. }
            | ImageError::AtUrl { .. } => self,
            other => ImageError::AtUrl {
                url: url.to_owned(),
                source: Box::new(other),
            },
        }
    }

    /// Wraps a filesystem failure of the cache with what it was doing.
    pub(crate) fn cache(context: impl Into<String>, source: io::Error) -> ImageError {
        ImageError::Cache {
            context: context.into(),
            source,
        }
    }

    /// Carries this error through an `io::Error` (AsyncRead can only report
    /// those) so [`ImageError::from_io`] can recover it intact.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// Recovers an [`ImageError`] smuggled through [`ImageError::into_io`],
    /// or wraps a plain I/O error with `wrap`.
    pub(crate) fn from_io(
        err: io::Error,
        wrap: impl FnOnce(io::Error) -> ImageError,
    ) -> ImageError {
        match err.downcast::<ImageError>() {
            Ok(image) => image,
            Err(err) => wrap(err),
        }
    }
}
