//! The conductor's cache: single fetch, verification, conversion, eviction
//! and serving, against a real loopback HTTP server and the real qemu-img.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use ferrite_images::cache::{Cache, CacheConfig};
use ferrite_images::qemu::QemuLimits;
use ferrite_images::stream::write_url;
use ferrite_images::{Checksum, ChecksumSpec, HashAlgo, ImageError, ImageFormat};

const MIB: usize = 1 << 20;

fn open(root: &Path, max_bytes: u64) -> Cache {
    Cache::open(CacheConfig {
        root: root.to_path_buf(),
        max_bytes,
        qemu: QemuLimits::default(),
    })
    .unwrap()
}

fn spec(algo: HashAlgo, hex: &str) -> ChecksumSpec {
    ChecksumSpec::Known(Checksum::new(algo, hex).unwrap())
}

/// Names of the files in `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn server(files: Vec<(&str, Vec<u8>)>, delay: Duration) -> Upstream {
    let files: HashMap<String, Vec<u8>> = files
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes))
        .collect();
    upstream(files, delay).await
}

#[tokio::test]
async fn second_fetch_is_a_cache_hit_even_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(2 * MIB, 1);
    let up = server(vec![("a.raw", raw.clone())], Duration::ZERO).await;
    let sum = spec(HashAlgo::Sha512, &sha512(&raw));
    let cache = open(dir.path(), u64::MAX);
    let first = cache.fetch(&up.url("a.raw"), Some(&sum)).await.unwrap();
    assert_eq!(first.sha256(), sha256(&raw));
    assert_eq!(std::fs::read(first.path()).unwrap(), raw);
    let second = cache.fetch(&up.url("a.raw"), Some(&sum)).await.unwrap();
    assert_eq!(second.sha256(), first.sha256());
    assert_eq!(up.hits("a.raw"), 1);
    drop((first, second, cache));
    let reopened = open(dir.path(), u64::MAX);
    let third = reopened.fetch(&up.url("a.raw"), Some(&sum)).await.unwrap();
    assert_eq!(third.sha256(), sha256(&raw));
    assert_eq!(up.hits("a.raw"), 1, "reopened cache fetched again");
}

#[tokio::test]
async fn eight_concurrent_fetches_make_one_upstream_request() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(4 * MIB, 2);
    let up = server(vec![("a.raw", raw.clone())], Duration::from_millis(300)).await;
    let cache = open(dir.path(), u64::MAX);
    let sum = spec(HashAlgo::Sha256, &sha256(&raw));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (cache, url, sum) = (cache.clone(), up.url("a.raw"), sum.clone());
            tokio::spawn(async move {
                cache
                    .fetch(&url, Some(&sum))
                    .await
                    .map(|i| i.sha256().to_owned())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), sha256(&raw));
    }
    assert_eq!(up.hits("a.raw"), 1);
    assert_eq!(cache.usage(), raw.len() as u64);
}

/// Asserts that nothing was stored: no blob, no temporary file, no index entry.
fn assert_nothing_stored(dir: &Path, cache: &Cache) {
    assert!(files(&dir.join("blobs")).is_empty(), "a blob was stored");
    assert!(
        files(&dir.join("tmp")).is_empty(),
        "a partial file was left"
    );
    assert_eq!(cache.usage(), 0);
}

#[tokio::test]
async fn wrong_checksum_and_truncation_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(2 * MIB, 3);
    let up = server(vec![("a.raw", raw.clone())], Duration::ZERO).await;
    let cache = open(dir.path(), u64::MAX);
    for (algo, wrong) in [(HashAlgo::Sha256, sha256(b"x")), (HashAlgo::Md5, md5(b"x"))] {
        let err = cache
            .fetch(&up.url("a.raw"), Some(&spec(algo, &wrong)))
            .await
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(
            text.contains(&up.url("a.raw")) && text.contains(&wrong),
            "{text}"
        );
        assert_nothing_stored(dir.path(), &cache);
    }
    let cut = truncating(2 * MIB, raw[..MIB / 2].to_vec()).await;
    let err = cache.fetch(&cut, None).await.err().unwrap();
    assert!(matches!(err, ImageError::Truncated { .. }), "{err:?}");
    assert_nothing_stored(dir.path(), &cache);
    let missing = cache.fetch(&up.url("nope"), None).await.err().unwrap();
    assert!(
        matches!(missing, ImageError::HttpStatus { status: 404, .. }),
        "{missing:?}"
    );
    assert_nothing_stored(dir.path(), &cache);
}

#[tokio::test]
async fn qcow2_is_converted_once_and_served_raw() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let raw = raw_image(6 * MIB, 4);
    let q = qcow2(work.path(), &raw);
    let up = server(vec![("a.qcow2", q.clone())], Duration::ZERO).await;
    let cache = open(dir.path(), u64::MAX);
    let sum = spec(HashAlgo::Sha256, &sha256(&q));
    let url = up.url("a.qcow2");
    let (one, two) = tokio::join!(
        cache.prepare(&url, Some(&sum), Some(8 * MIB as u64)),
        cache.prepare(&url, Some(&sum), None),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.format, ImageFormat::Raw);
    assert_eq!(one.virtual_size, Some(raw.len() as u64));
    assert_eq!(
        one.image.sha256(),
        sha256(&raw),
        "conversion is not the original disk"
    );
    assert_eq!(two.image.sha256(), one.image.sha256());
    assert_eq!(
        files(&dir.path().join("blobs")).len(),
        2,
        "qcow2 + one raw conversion"
    );
    assert_eq!(up.hits("a.qcow2"), 1);
}

#[tokio::test]
async fn corrupt_or_unsafe_qcow2_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let q = qcow2(work.path(), &raw_image(2 * MIB, 5));
    let mut bad_header = q.clone();
    bad_header[4..8].copy_from_slice(&[0, 0, 0, 0x7f]); // qcow2 version 127
    let cut_short = q[..q.len() / 2].to_vec();
    let backing = work.path().join("backed.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname"])
        .arg(&backing)
        .arg("1M")
        .status()
        .unwrap();
    assert!(status.success());
    let backed = std::fs::read(&backing).unwrap();
    let up = server(
        vec![
            ("bad.qcow2", bad_header),
            ("cut.qcow2", cut_short),
            ("backed.qcow2", backed),
        ],
        Duration::ZERO,
    )
    .await;
    let cache = open(dir.path(), u64::MAX);
    for name in ["bad.qcow2", "cut.qcow2", "backed.qcow2"] {
        let err = cache
            .prepare(&up.url(name), None, None)
            .await
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains(&up.url(name)), "{name}: {text}");
        let ImageError::AtUrl { source, .. } = err else {
            panic!("{name}: {text}")
        };
        match (name, *source) {
            ("backed.qcow2", ImageError::UnsafeImage { reason, .. }) => {
                assert!(reason.contains("backing"))
            }
            ("bad.qcow2" | "cut.qcow2", ImageError::QemuImg { detail, .. }) => {
                assert!(!detail.is_empty(), "{name}: {text}")
            }
            (_, other) => panic!("{name}: unexpected {other:?}"),
        }
    }
    assert!(files(&dir.path().join("tmp")).is_empty());
}

#[tokio::test]
async fn image_larger_than_the_disk_is_refused_before_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let raw = raw_image(4 * MIB, 6);
    let q = qcow2(work.path(), &raw);
    let up = server(vec![("a.qcow2", q), ("a.raw", raw)], Duration::ZERO).await;
    let cache = open(dir.path(), u64::MAX);
    for name in ["a.qcow2", "a.raw"] {
        let err = cache
            .prepare(&up.url(name), None, Some(3 * MIB as u64))
            .await
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("4194304") && text.contains("3145728"),
            "{text}"
        );
    }
    // Only the two downloads: no conversion was made.
    assert_eq!(files(&dir.path().join("blobs")).len(), 2);
}

#[tokio::test]
async fn least_recently_used_unheld_blobs_are_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let images: Vec<Vec<u8>> = (0..3).map(|i| raw_image(MIB, 10 + i)).collect();
    let up = server(
        vec![
            ("a", images[0].clone()),
            ("b", images[1].clone()),
            ("c", images[2].clone()),
        ],
        Duration::ZERO,
    )
    .await;
    let cache = open(dir.path(), (2 * MIB + MIB / 2) as u64);
    let a = cache.fetch(&up.url("a"), None).await.unwrap();
    drop(cache.fetch(&up.url("b"), None).await.unwrap());
    let a_sha = a.sha256().to_owned();
    drop(a);
    // Use a again, so b is the least recently used.
    drop(cache.get(&a_sha).unwrap());
    let c = cache.fetch(&up.url("c"), None).await.unwrap();
    assert!(
        cache.get(&sha256(&images[1])).is_none(),
        "b should be evicted"
    );
    assert!(cache.get(&a_sha).is_some());
    assert_eq!(c.size(), MIB as u64);
    assert_eq!(cache.usage(), 2 * MIB as u64);
    // b is fetched again after its eviction.
    drop(cache.fetch(&up.url("b"), None).await.unwrap());
    assert_eq!(up.hits("b"), 2);
}

#[tokio::test]
async fn served_cache_answers_ranges_and_feeds_the_agent_path() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(3 * MIB, 7);
    let up = server(vec![("a.raw", raw.clone())], Duration::ZERO).await;
    let cache = open(dir.path(), u64::MAX);
    let image = cache.fetch(&up.url("a.raw"), None).await.unwrap();
    let base = spawn(ferrite_images::serve::router(cache.clone())).await;
    let url = format!("{base}/images/{}", image.sha256());
    let client = reqwest::Client::new();
    let part = client
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", raw.len())
    );
    assert_eq!(part.bytes().await.unwrap(), raw[1000..2000]);
    let tail = client
        .get(&url)
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), raw[raw.len() - 10..]);
    let unknown = format!("{base}/images/{}", sha256(b"absent"));
    assert_eq!(client.get(&unknown).send().await.unwrap().status(), 404);
    let bad = format!("{base}/images/..%2Findex.json");
    assert_eq!(client.get(&bad).send().await.unwrap().status(), 404);
    // The agent's path: download from the cache, verify by the blob's name.
    let expected = Checksum::new(HashAlgo::Sha256, image.sha256()).unwrap();
    let mut disk = Vec::new();
    let report = write_url(&url, Some(&expected), &mut disk, None)
        .await
        .unwrap();
    assert_eq!(report.bytes_written, raw.len() as u64);
    assert!(disk == raw);
}
