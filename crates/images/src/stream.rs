//! The disk-writing path: an image stream, verified while it passes,
//! decompressed if needed, written straight to a sink (a block device or a
//! file) with no temporary copy. Used by the agent for the target disk and by
//! the conductor's cache for its files.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::sync::mpsc;

use crate::checksum::{self, Checksum, HashAlgo, Hasher};
use crate::error::ImageError;
use crate::format::ImageFormat;
use crate::source;

/// Bytes moved per write: large writes keep a block device at its
/// sequential speed.
const CHUNK: usize = 4 << 20;

/// Chunks in flight between the reading (hashing, decompressing) side and
/// the writing side, so both make progress at once.
const DEPTH: usize = 3;

/// What a successful write did, for logs, the node's history and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Bytes read from the source (as downloaded, compressed or not).
    pub bytes_read: u64,
    /// Bytes written to the sink (decompressed).
    pub bytes_written: u64,
    /// The format detected from the source's first bytes.
    pub format: ImageFormat,
    /// The digest of the bytes read, in the expected checksum's algorithm
    /// (sha256 when nothing was expected).
    pub digest: Checksum,
}

/// Writes an image from `source` to `sink`: the checksum is computed over
/// the bytes as downloaded and compared at the end; gzip and zstd are
/// decompressed on the fly; raw is copied; qcow2 is refused (the conductor
/// converts it). The sink is flushed but not synced: a block-device caller
/// syncs it itself. On a checksum mismatch the sink already holds the
/// image's bytes, so the caller must not boot from it (the agent erases it).
pub async fn write_image<R, W>(
    source: R,
    expected: Option<&Checksum>,
    sink: W,
) -> Result<WriteReport, ImageError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    write_image_limited(source, expected, sink, None).await
}

/// [`write_image`] that also stops, with [`ImageError::TooLarge`], before
/// writing more than `capacity` bytes (the target disk's size), which
/// catches compressed images whose size is unknown until decompressed.
pub async fn write_image_limited<R, W>(
    source: R,
    expected: Option<&Checksum>,
    sink: W,
    capacity: Option<u64>,
) -> Result<WriteReport, ImageError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let algo = expected.map_or(HashAlgo::Sha256, |sum| sum.algo);
    let mut hashed = HashingReader::new(source, algo);
    let mut input = BufReader::with_capacity(CHUNK, &mut hashed);
    let head = input
        .fill_buf()
        .await
        .map_err(|e| ImageError::from_io(e, ImageError::ReadSource))?;
    let format = ImageFormat::detect(head);
    let bytes_written = match format {
        ImageFormat::Qcow2 => return Err(ImageError::Qcow2NeedsConversion),
        ImageFormat::Raw => pump(&mut input, sink, capacity, format).await?,
        ImageFormat::Gzip => {
            let mut decoder = GzipDecoder::new(&mut input);
            decoder.multiple_members(true);
            pump(decoder, sink, capacity, format).await?
        }
        ImageFormat::Zstd => {
            let mut decoder = ZstdDecoder::new(&mut input);
            decoder.multiple_members(true);
            pump(decoder, sink, capacity, format).await?
        }
    };
    // Whatever follows the compressed stream (padding) was downloaded too:
    // the checksum covers every byte.
    tokio::io::copy(&mut input, &mut tokio::io::sink())
        .await
        .map_err(|e| ImageError::from_io(e, ImageError::ReadSource))?;
    let (bytes_read, digest) = hashed.finish();
    if let Some(expected) = expected {
        checksum::verify(expected, &digest)?;
    }
    Ok(WriteReport {
        bytes_read,
        bytes_written,
        format,
        digest,
    })
}

/// Opens `url` and writes it with [`write_image_limited`]; every error
/// names the URL. When the server announces more bytes than `capacity`,
/// the image is refused before anything is written (a compressed image is
/// never smaller once decompressed, in practice).
pub async fn write_url<W>(
    url: &str,
    expected: Option<&Checksum>,
    sink: W,
    capacity: Option<u64>,
) -> Result<WriteReport, ImageError>
where
    W: AsyncWrite + Unpin,
{
    let source = source::open(url).await?;
    if let (Some(needed), Some(capacity)) = (source.content_length(), capacity)
        && needed > capacity
    {
        return Err(ImageError::TooLarge { needed, capacity }.at_url(url));
    }
    write_image_limited(source, expected, sink, capacity)
        .await
        .map_err(|e| e.at_url(url))
}

/// Moves decoded bytes from `reader` to `sink` in large chunks, reading the
/// next chunks while the previous one is written. Refuses a qcow2 found
/// inside a compressed stream before writing anything.
async fn pump<R, W>(
    mut reader: R,
    mut sink: W,
    capacity: Option<u64>,
    outer: ImageFormat,
) -> Result<u64, ImageError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (full_tx, mut full_rx) = mpsc::channel::<(Vec<u8>, usize)>(DEPTH);
    let (empty_tx, mut empty_rx) = mpsc::channel::<Vec<u8>>(DEPTH);
    for _ in 0..DEPTH {
        // The channel has room for exactly DEPTH buffers.
        let _ = empty_tx.try_send(vec![0; CHUNK]);
    }
    let read_error = |e| match outer {
        ImageFormat::Raw => ImageError::from_io(e, ImageError::ReadSource),
        compressed => ImageError::from_io(e, |source| ImageError::Decompress {
            format: compressed.name(),
            source,
        }),
    };
    let produce = async move {
        let mut total = 0u64;
        while let Some(mut buf) = empty_rx.recv().await {
            let n = fill(&mut reader, &mut buf).await.map_err(read_error)?;
            if n == 0 {
                break;
            }
            if total == 0
                && outer != ImageFormat::Raw
                && ImageFormat::detect(&buf[..n]) == ImageFormat::Qcow2
            {
                return Err(ImageError::Qcow2NeedsConversion);
            }
            total += n as u64;
            if let Some(capacity) = capacity.filter(|&c| total > c) {
                return Err(ImageError::TooLarge {
                    needed: total,
                    capacity,
                });
            }
            if full_tx.send((buf, n)).await.is_err() {
                break; // the writer failed and reports why
            }
        }
        Ok(())
    };
    let consume = async move {
        let mut written = 0u64;
        while let Some((buf, n)) = full_rx.recv().await {
            sink.write_all(&buf[..n]).await.map_err(ImageError::Write)?;
            written += n as u64;
            // The reader may have finished; a returned buffer is then unused.
            let _ = empty_tx.send(buf).await;
        }
        sink.flush().await.map_err(ImageError::Write)?;
        Ok::<u64, ImageError>(written)
    };
    let (produced, written) = tokio::join!(produce, consume);
    let written = written?;
    produced?;
    Ok(written)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// An [`AsyncRead`] that hashes and counts every byte passing through, so
/// verification needs no second read.
pub(crate) struct HashingReader<R> {
    /// The wrapped reader.
    inner: R,
    /// Hash of the bytes so far.
    hasher: Hasher,
    /// Count of the bytes so far.
    count: u64,
}

impl<R> HashingReader<R> {
    /// Wraps `inner`, hashing with `algo`.
    pub(crate) fn new(inner: R, algo: HashAlgo) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algo),
            count: 0,
        }
    }

    /// The byte count and digest of everything read.
    pub(crate) fn finish(self) -> (u64, Checksum) {
        (self.count, self.hasher.finish())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HashingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = &buf.filled()[before..];
            self.hasher.update(fresh);
            self.count += fresh.len() as u64;
        }
        polled
    }
}
