//! Where image bytes come from: http(s) URLs and local files (`file://` URLs
//! or absolute paths), opened as one streaming reader.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryStreamExt;
use reqwest::Url;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::StreamReader;

use crate::error::ImageError;

/// How long a stalled transfer may stay silent before it is abandoned: long
/// enough for a busy image server, short enough for a deploy to fail clearly.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// True when `text` is a location [`open`] understands rather than a digest.
pub fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    ["http://", "https://", "file://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
        || text.starts_with('/')
}

/// An open image: its bytes as an [`AsyncRead`] plus what is known about
/// them before reading. Reading reports truncation (fewer bytes than the
/// announced length) as an error naming the URL, never as a clean end.
pub struct Source {
    /// The location opened, for messages.
    url: String,
    /// Length announced by the server or the file system, if any.
    content_length: Option<u64>,
    /// Bytes handed out so far.
    received: u64,
    /// The byte stream.
    inner: Pin<Box<dyn AsyncRead + Send>>,
}

impl Source {
    /// The location this source reads.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The announced length in bytes, when the server or file told it.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The truncation error for the current position, when a length was
    /// announced and not reached.
    fn short_read(&self) -> Option<ImageError> {
        let expected = self.content_length?;
        (self.received < expected).then(|| ImageError::Truncated {
            url: self.url.clone(),
            received: self.received,
            expected,
        })
    }
}

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = (buf.filled().len() - before) as u64;
                self.received += got;
                if got == 0
                    && let Some(err) = self.short_read()
                {
                    return Poll::Ready(Err(err.into_io()));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => {
                let err = match self.short_read() {
                    Some(truncated) => truncated.into_io(),
                    None => ImageError::Read {
                        url: self.url.clone(),
                        source: err,
                    }
                    .into_io(),
                };
                Poll::Ready(Err(err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Opens an image location for streaming: `http://`, `https://`,
/// `file://` or an absolute path. HTTP answers other than 200 are errors
/// naming the URL and the status.
pub async fn open(url: &str) -> Result<Source, ImageError> {
    let invalid = |reason: &str| ImageError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.starts_with('/') {
        return open_file(url, PathBuf::from(url)).await;
    }
    let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => open_http(url, parsed).await,
        "file" => {
            let path = parsed
                .to_file_path()
                .map_err(|()| invalid("not a local file path"))?;
            open_file(url, path).await
        }
        other => Err(invalid(&format!(
            "scheme {other:?} is not supported (http, https, file are)"
        ))),
    }
}

/// The process-wide HTTP client (connection pool, rustls).
fn client(url: &str) -> Result<&'static reqwest::Client, ImageError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let built = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|source| ImageError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok(CLIENT.get_or_init(|| built))
}

/// Starts an HTTP GET and returns its body as a stream.
async fn open_http(url: &str, parsed: Url) -> Result<Source, ImageError> {
    let connect = |source| ImageError::Connect {
        url: url.to_owned(),
        source,
    };
    let response = client(url)?.get(parsed).send().await.map_err(connect)?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(ImageError::HttpStatus {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let content_length = response.content_length();
    let body = response.bytes_stream().map_err(io::Error::other);
    Ok(Source {
        url: url.to_owned(),
        content_length,
        received: 0,
        inner: Box::pin(StreamReader::new(body)),
    })
}

/// Opens a local file (or block device) for reading.
async fn open_file(url: &str, path: PathBuf) -> Result<Source, ImageError> {
    let read = |source| ImageError::Read {
        url: url.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(&path).await.map_err(read)?;
    let meta = file.metadata().await.map_err(read)?;
    Ok(Source {
        url: url.to_owned(),
        content_length: meta.is_file().then_some(meta.len()),
        received: 0,
        inner: Box::pin(file),
    })
}
