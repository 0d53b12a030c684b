//! The conductor's content-addressed image cache.
//!
//! Files live under `<root>/blobs/<sha256>` (the sha256 of their content,
//! verified while they were written), so one image reached through several
//! URLs is stored once and an agent can verify what it downloads against
//! its name. `<root>/index.json` maps "URL + expected checksum" (and
//! "raw conversion of blob X") to a blob. Downloads and conversions go to
//! `<root>/tmp/` and are renamed into place only once verified, so a failed
//! or interrupted fetch never leaves a partial blob. Concurrent requests for
//! one key share one fetch (single flight); a failed fetch is not
//! remembered, so the next caller tries again. When the blobs exceed the
//! size budget, the least recently used ones that nobody holds are removed;
//! after a restart, recency starts from the files' modification times. One
//! [`Cache`] (one process) owns a root directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncReadExt, BufReader};
use tokio::sync::OwnedMutexGuard;

use crate::checksum::{self, ChecksumSpec, HashAlgo};
use crate::error::ImageError;
use crate::format::{ImageFormat, MAGIC_LEN};
use crate::qemu::{self, QemuLimits};
use crate::source;
use crate::stream::HashingReader;

/// Buffer of the copy from a download into a cache file.
const COPY_BUFFER: usize = 1 << 20;

/// Where the cache lives and how big it may grow.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Directory holding `blobs/`, `tmp/` and `index.json`.
    pub root: PathBuf,
    /// Size budget in bytes; least recently used blobs beyond it are removed.
    pub max_bytes: u64,
    /// Limits for `qemu-img`.
    pub qemu: QemuLimits,
}

/// A handle on the cache; clones share it.
#[derive(Clone)]
pub struct Cache {
    /// Shared state.
    inner: Arc<Inner>,
}

/// The cache's shared state.
struct Inner {
    /// Configuration as opened.
    config: CacheConfig,
    /// Blobs, index and LRU clock; also serialises every change to `blobs/`.
    state: Mutex<State>,
    /// One lock per key being fetched or converted (single flight).
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Makes temporary file names unique.
    temp_seq: AtomicU64,
}

/// What the cache holds.
#[derive(Default)]
struct State {
    /// Blobs by sha256.
    blobs: HashMap<String, Blob>,
    /// Fetch key → sha256 (persisted as index.json).
    index: BTreeMap<String, String>,
    /// Sum of blob sizes.
    total: u64,
    /// LRU clock: increases with every use.
    clock: u64,
}

/// One stored blob.
struct Blob {
    /// Its size in bytes.
    size: u64,
    /// LRU clock value of its last use.
    last_used: u64,
    /// Live [`CachedImage`] handles; a held blob is never evicted.
    pins: usize,
}

/// A blob held for use: it will not be evicted while this handle lives.
pub struct CachedImage {
    /// The cache it belongs to.
    inner: Arc<Inner>,
    /// The verified sha256 of its content (its name, and its URL path).
    sha256: String,
    /// Its size in bytes.
    size: u64,
}

impl CachedImage {
    /// The sha256 of the content: the agent verifies its download with it.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file, for local readers (conversion, serving).
    pub fn path(&self) -> PathBuf {
        self.inner.blob_path(&self.sha256)
    }
}

impl Drop for CachedImage {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(blob) = state.blobs.get_mut(&self.sha256) {
            blob.pins = blob.pins.saturating_sub(1);
        }
    }
}

/// An image ready for an agent: what to download and what it will write.
pub struct PreparedImage {
    /// The blob to serve: the original, or its raw conversion for qcow2.
    pub image: CachedImage,
    /// Format of the served blob (raw, or compressed raw).
    pub format: ImageFormat,
    /// Bytes it occupies on disk once written; unknown for compressed raw
    /// until the agent decompresses it.
    pub virtual_size: Option<u64>,
}

impl Cache {
    /// Opens (creating if needed) the cache at `config.root`: removes
    /// leftovers of interrupted fetches, finds the stored blobs and reloads
    /// the index, dropping entries whose blob is gone.
    pub fn open(config: CacheConfig) -> Result<Cache, ImageError> {
        let blobs = config.root.join("blobs");
        let tmp = config.root.join("tmp");
        for dir in [&blobs, &tmp] {
            std::fs::create_dir_all(dir)
                .map_err(|e| ImageError::cache(format!("creating {}", dir.display()), e))?;
        }
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .map_err(|e| ImageError::cache(format!("creating {}", tmp.display()), e))?;
        let mut state = State::default();
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&blobs)
            .map_err(|e| ImageError::cache(format!("listing {}", blobs.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if is_sha256(&name) && meta.is_file() {
                found.push((meta.modified().ok(), name, meta.len()));
            }
        }
        found.sort();
        for (_, sha, size) in found {
            state.clock += 1;
            state.total += size;
            let blob = Blob {
                size,
                last_used: state.clock,
                pins: 0,
            };
            state.blobs.insert(sha, blob);
        }
        let index_path = config.root.join("index.json");
        if let Ok(text) = std::fs::read(&index_path) {
            let index: BTreeMap<String, String> = serde_json::from_slice(&text).unwrap_or_default();
            state.index = index
                .into_iter()
                .filter(|(_, sha)| state.blobs.contains_key(sha))
                .collect();
        }
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(state),
            flights: Mutex::new(HashMap::new()),
            temp_seq: AtomicU64::new(0),
        });
        {
            let mut state = inner.lock();
            inner.evict(&mut state)?;
            inner.persist(&state)?;
        }
        Ok(Cache { inner })
    }

    /// The image at `url`, fetched once and verified against `checksum`
    /// (the statement of instance_info), from the cache when it was fetched
    /// before with the same statement. Concurrent calls for the same URL and
    /// checksum share one download.
    pub async fn fetch(
        &self,
        url: &str,
        checksum: Option<&ChecksumSpec>,
    ) -> Result<CachedImage, ImageError> {
        let key = match checksum {
            Some(spec) => format!("{url} {spec}"),
            None => format!("{url} unverified"),
        };
        let _flight = self.take_off(&key).await;
        if let Some(hit) = self.inner.lookup(&key) {
            return Ok(hit);
        }
        let expected = match checksum {
            Some(spec) => Some(spec.resolve(url).await?),
            None => None,
        };
        let temp = self.inner.temp_file();
        let source = source::open(url).await?;
        let mut by_sha256 = HashingReader::new(source, HashAlgo::Sha256);
        match &expected {
            Some(sum) if sum.algo != HashAlgo::Sha256 => {
                let mut by_other = HashingReader::new(&mut by_sha256, sum.algo);
                temp.fill_from(&mut by_other).await?;
                checksum::verify(sum, &by_other.finish().1).map_err(|e| e.at_url(url))?;
            }
            _ => temp.fill_from(&mut by_sha256).await?,
        }
        let (size, sha256) = by_sha256.finish();
        if let Some(sum) = expected.as_ref().filter(|s| s.algo == HashAlgo::Sha256) {
            checksum::verify(sum, &sha256).map_err(|e| e.at_url(url))?;
        }
        self.inner.commit(&key, temp, &sha256.hex, size)
    }

    /// The image at `url` made ready for an agent: fetched and verified
    /// (see [`Cache::fetch`]); a qcow2 is inspected, refused when its
    /// virtual size exceeds `capacity` (before any conversion or write),
    /// converted to raw once and cached; a raw image larger than `capacity`
    /// is refused too.
    pub async fn prepare(
        &self,
        url: &str,
        checksum: Option<&ChecksumSpec>,
        capacity: Option<u64>,
    ) -> Result<PreparedImage, ImageError> {
        let fetched = self.fetch(url, checksum).await?;
        let fits = |needed: u64| match capacity {
            Some(capacity) if needed > capacity => {
                Err(ImageError::TooLarge { needed, capacity }.at_url(url))
            }
            _ => Ok(Some(needed)),
        };
        let (image, format, virtual_size) = match sniff(&fetched.path()).await? {
            ImageFormat::Qcow2 => {
                let info = qemu::info(&fetched.path(), &self.inner.config.qemu)
                    .await
                    .map_err(|e| e.at_url(url))?;
                let virtual_size = fits(info.virtual_size)?;
                let raw = self.converted(&fetched).await.map_err(|e| e.at_url(url))?;
                (raw, ImageFormat::Raw, virtual_size)
            }
            ImageFormat::Raw => {
                let size = fits(fetched.size())?;
                (fetched, ImageFormat::Raw, size)
            }
            compressed => (fetched, compressed, None),
        };
        Ok(PreparedImage {
            image,
            format,
            virtual_size,
        })
    }

    /// A stored blob by its sha256, held for use; `None` when absent.
    pub fn get(&self, sha256: &str) -> Option<CachedImage> {
        let mut state = self.inner.lock();
        self.inner.pin(&mut state, sha256)
    }

    /// Bytes currently stored.
    pub fn usage(&self) -> u64 {
        self.inner.lock().total
    }

    /// The raw conversion of a qcow2 blob, made once.
    async fn converted(&self, qcow2: &CachedImage) -> Result<CachedImage, ImageError> {
        let key = format!("raw-of:{}", qcow2.sha256());
        let _flight = self.take_off(&key).await;
        if let Some(hit) = self.inner.lookup(&key) {
            return Ok(hit);
        }
        qemu::check(&qcow2.path(), &self.inner.config.qemu).await?;
        let temp = self.inner.temp_file();
        qemu::convert(&qcow2.path(), &temp.path, &self.inner.config.qemu).await?;
        // The conversion is ours, not downloaded: hash it once to name it.
        let file = tokio::fs::File::open(&temp.path)
            .await
            .map_err(|e| ImageError::cache(format!("opening {}", temp.path.display()), e))?;
        let mut hashed = HashingReader::new(
            BufReader::with_capacity(COPY_BUFFER, file),
            HashAlgo::Sha256,
        );
        tokio::io::copy(&mut hashed, &mut tokio::io::sink())
            .await
            .map_err(|e| ImageError::cache(format!("reading {}", temp.path.display()), e))?;
        let (size, sha256) = hashed.finish();
        self.inner.commit(&key, temp, &sha256.hex, size)
    }

    /// Waits for exclusive work on `key`; later callers for the same key
    /// wait here and then find the first one's result in the index.
    async fn take_off(&self, key: &str) -> Flight {
        let lock = {
            let mut flights = self
                .inner
                .flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            flights.entry(key.to_owned()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Flight {
            inner: self.inner.clone(),
            key: key.to_owned(),
            lock,
            guard: Some(guard),
        }
    }
}

/// Exclusive work on one key; forgets the key's lock when nobody waits.
struct Flight {
    /// The cache, for its flight table.
    inner: Arc<Inner>,
    /// The key flown.
    key: String,
    /// The key's lock (also held by the table and by waiters).
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Held until drop.
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.guard.take();
        let mut flights = self
            .inner
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Two references left (the table's and ours): nobody is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            flights.remove(&self.key);
        }
    }
}

impl Inner {
    /// The state, even if a panicking thread left the lock poisoned (every
    /// change to it is a single step that cannot be left half done).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the blob `sha256` lives.
    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.config.root.join("blobs").join(sha256)
    }

    /// The blob stored for `key`, held for use.
    fn lookup(self: &Arc<Self>, key: &str) -> Option<CachedImage> {
        let mut state = self.lock();
        let sha256 = state.index.get(key)?.clone();
        self.pin(&mut state, &sha256)
    }

    /// Marks a blob used and held.
    fn pin(self: &Arc<Self>, state: &mut State, sha256: &str) -> Option<CachedImage> {
        state.clock += 1;
        let clock = state.clock;
        let blob = state.blobs.get_mut(sha256)?;
        blob.pins += 1;
        blob.last_used = clock;
        Some(CachedImage {
            inner: self.clone(),
            sha256: sha256.to_owned(),
            size: blob.size,
        })
    }

    /// A new temporary file name under `tmp/`, removed unless committed.
    fn temp_file(&self) -> TempFile {
        let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        TempFile {
            path: self
                .config
                .root
                .join("tmp")
                .join(format!("{}-{seq}.part", std::process::id())),
        }
    }

    /// Moves a verified temporary file into `blobs/`, records it under
    /// `key`, persists the index and evicts what exceeds the budget. Done
    /// under the state lock, so eviction never races with a rename.
    fn commit(
        self: &Arc<Self>,
        key: &str,
        temp: TempFile,
        sha256: &str,
        size: u64,
    ) -> Result<CachedImage, ImageError> {
        let mut state = self.lock();
        let target = self.blob_path(sha256);
        std::fs::rename(&temp.path, &target)
            .map_err(|e| ImageError::cache(format!("storing {}", target.display()), e))?;
        if !state.blobs.contains_key(sha256) {
            state.total += size;
            let blob = Blob {
                size,
                last_used: 0,
                pins: 0,
            };
            state.blobs.insert(sha256.to_owned(), blob);
        }
        state.index.insert(key.to_owned(), sha256.to_owned());
        let held = self.pin(&mut state, sha256);
        self.evict(&mut state)?;
        self.persist(&state)?;
        held.ok_or_else(|| {
            ImageError::cache(
                format!("blob {sha256} vanished while stored"),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }

    /// Removes least recently used, unheld blobs until the budget is met
    /// (the caller persists the index).
    fn evict(&self, state: &mut State) -> Result<(), ImageError> {
        if state.total <= self.config.max_bytes {
            return Ok(());
        }
        let mut idle: Vec<(u64, String)> = state
            .blobs
            .iter()
            .filter(|(_, blob)| blob.pins == 0)
            .map(|(sha, blob)| (blob.last_used, sha.clone()))
            .collect();
        idle.sort();
        for (_, sha) in idle {
            if state.total <= self.config.max_bytes {
                break;
            }
            let path = self.blob_path(&sha);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ImageError::cache(format!("evicting {}", path.display()), e)),
            }
            if let Some(blob) = state.blobs.remove(&sha) {
                state.total -= blob.size;
            }
            state.index.retain(|_, target| *target != sha);
            tracing::info!(sha256 = %sha, "evicted image from cache");
        }
        Ok(())
    }

    /// Writes index.json atomically (temporary file, then rename).
    fn persist(&self, state: &State) -> Result<(), ImageError> {
        let path = self.config.root.join("index.json");
        let temp = self.config.root.join("index.json.tmp");
        let text = serde_json::to_vec_pretty(&state.index)
            .map_err(|e| ImageError::cache("encoding index.json", e.into()))?;
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|e| ImageError::cache(format!("writing {}", path.display()), e))
    }
}

/// A file being downloaded or converted; deleted on drop unless it was
/// renamed into `blobs/` (then deleting its old name fails harmlessly).
struct TempFile {
    /// Its path under `tmp/`.
    path: PathBuf,
}

impl TempFile {
    /// Copies `reader` into the file and syncs it; read failures keep their
    /// own error (naming the URL), write failures name the file.
    async fn fill_from<R: tokio::io::AsyncRead + Unpin>(
        &self,
        reader: R,
    ) -> Result<(), ImageError> {
        let write_error = |e| ImageError::cache(format!("writing {}", self.path.display()), e);
        let mut file = tokio::fs::File::create(&self.path)
            .await
            .map_err(write_error)?;
        let mut reader = BufReader::with_capacity(COPY_BUFFER, reader);
        tokio::io::copy_buf(&mut reader, &mut file)
            .await
            .map_err(|e| ImageError::from_io(e, write_error))?;
        file.sync_all().await.map_err(write_error)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The format of a stored file, from its first bytes.
async fn sniff(path: &Path) -> Result<ImageFormat, ImageError> {
    let read_error = |e| ImageError::cache(format!("reading {}", path.display()), e);
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let mut head = Vec::with_capacity(MAGIC_LEN);
    file.take(MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .await
        .map_err(read_error)?;
    Ok(ImageFormat::detect(&head))
}

/// True for a lower-case hex sha256, the only names `blobs/` and the
/// server accept.
pub(crate) fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
