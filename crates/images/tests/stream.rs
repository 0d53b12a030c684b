//! The agent's disk-writing path against a real loopback HTTP server.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use ferrite_images::stream::{write_image, write_url};
use ferrite_images::{Checksum, HashAlgo, ImageError, ImageFormat};
use serde_json::json;

const MIB: usize = 1 << 20;

fn sum(algo: HashAlgo, hex: &str) -> Checksum {
    Checksum::new(algo, hex).unwrap()
}

async fn server(files: Vec<(&str, Vec<u8>)>) -> Upstream {
    let files: HashMap<String, Vec<u8>> = files
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes))
        .collect();
    upstream(files, Duration::ZERO).await
}

#[tokio::test]
async fn raw_gzip_and_zstd_are_verified_and_written_exactly() {
    let raw = raw_image(9 * MIB + 123, 7);
    let gz = gzip(&raw);
    let zst = zstd(&raw);
    let up = server(vec![
        ("a.raw", raw.clone()),
        ("a.raw.gz", gz.clone()),
        ("a.raw.zst", zst.clone()),
    ])
    .await;
    let cases = [
        (
            "a.raw",
            sum(HashAlgo::Sha256, &sha256(&raw)),
            ImageFormat::Raw,
            raw.len(),
        ),
        (
            "a.raw.gz",
            sum(HashAlgo::Sha512, &sha512(&gz)),
            ImageFormat::Gzip,
            gz.len(),
        ),
        (
            "a.raw.zst",
            sum(HashAlgo::Md5, &md5(&zst)),
            ImageFormat::Zstd,
            zst.len(),
        ),
    ];
    for (name, expected, format, read) in cases {
        let mut disk = Vec::new();
        let report = write_url(&up.url(name), Some(&expected), &mut disk, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.format, format, "{name}");
        assert_eq!(report.bytes_read, read as u64, "{name}");
        assert_eq!(report.bytes_written, raw.len() as u64, "{name}");
        assert_eq!(report.digest, expected, "{name}");
        assert!(disk == raw, "{name}: bytes on disk differ from the image");
    }
}

#[tokio::test]
async fn wrong_checksum_names_url_and_expected_value() {
    let raw = raw_image(MIB, 1);
    let up = server(vec![("a.raw", raw.clone())]).await;
    let wrong = sha256(b"something else");
    let err = write_url(
        &up.url("a.raw"),
        Some(&sum(HashAlgo::Sha256, &wrong)),
        Vec::new(),
        None,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&up.url("a.raw")), "{text}");
    assert!(text.contains(&wrong), "{text}");
    assert!(text.contains(&sha256(&raw)), "{text}");
    match err {
        ImageError::AtUrl { source, .. } => {
            assert!(matches!(*source, ImageError::ChecksumMismatch { .. }))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn truncated_download_is_an_error_even_without_checksum() {
    let body = raw_image(64 * 1024, 3);
    let url = truncating(200 * 1024, body).await;
    let err = write_url(&url, None, Vec::new(), None).await.unwrap_err();
    match &err {
        ImageError::Truncated {
            url: u,
            received,
            expected,
        } => {
            assert_eq!(u, &url);
            assert_eq!(*expected, 200 * 1024);
            assert!(*received <= 64 * 1024);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[tokio::test]
async fn http_errors_name_the_url_and_status() {
    let up = server(vec![]).await;
    let err = write_url(&up.url("missing.img"), None, Vec::new(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&up.url("missing.img")));
    let refused = write_url("http://127.0.0.1:9/x.img", None, Vec::new(), None).await;
    assert!(
        matches!(refused, Err(ImageError::Connect { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn qcow2_is_refused_before_writing_even_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let q = qcow2(dir.path(), &raw_image(2 * MIB, 5));
    for (name, bytes) in [("plain", q.clone()), ("zipped", gzip(&q))] {
        let mut disk = Vec::new();
        let err = write_image(&bytes[..], None, &mut disk).await.unwrap_err();
        assert!(
            matches!(err, ImageError::Qcow2NeedsConversion),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("converted"));
        assert!(disk.is_empty(), "{name}: bytes were written");
    }
}

#[tokio::test]
async fn image_larger_than_target_stops_with_a_clear_error() {
    let raw = raw_image(12 * MIB, 9);
    let gz = gzip(&raw);
    let err = ferrite_images::stream::write_image_limited(
        &gz[..],
        None,
        Vec::new(),
        Some(5 * MIB as u64),
    )
    .await
    .unwrap_err();
    match err {
        ImageError::TooLarge { needed, capacity } => {
            assert_eq!(capacity, 5 * MIB as u64);
            assert!(needed > capacity);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn announced_size_over_capacity_is_refused_before_writing() {
    let raw = raw_image(4 * MIB, 12);
    let up = server(vec![("a.raw", raw)]).await;
    let mut disk = Vec::new();
    let err = write_url(&up.url("a.raw"), None, &mut disk, Some(MIB as u64))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&up.url("a.raw")) && text.contains("4194304"),
        "{text}"
    );
    assert!(disk.is_empty(), "bytes were written");
}

#[tokio::test]
async fn corrupt_gzip_is_a_decompression_error() {
    let mut gz = gzip(&raw_image(2 * MIB, 2));
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let err = write_image(&gz[..], None, Vec::new()).await.unwrap_err();
    assert!(
        matches!(err, ImageError::Decompress { format: "gzip", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn local_files_by_path_and_file_url() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(3 * MIB, 4);
    let path = dir.path().join("disk.img");
    std::fs::write(&path, &raw).unwrap();
    let expected = sum(HashAlgo::Sha256, &sha256(&raw));
    for url in [
        path.display().to_string(),
        format!("file://{}", path.display()),
    ] {
        let mut disk = Vec::new();
        let report = write_url(&url, Some(&expected), &mut disk, None)
            .await
            .unwrap();
        assert_eq!(report.bytes_written, raw.len() as u64);
        assert!(disk == raw);
    }
    let missing = write_url("/nonexistent/disk.img", None, Vec::new(), None).await;
    assert!(
        matches!(missing, Err(ImageError::Read { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn instance_info_checksum_forms() {
    let raw = raw_image(MIB, 11);
    let listing = format!("{}  other.img\n{} *disk.img\n", md5(b"x"), sha512(&raw));
    let up = server(vec![
        ("disk.img", raw.clone()),
        ("SHA512SUMS", listing.into_bytes()),
    ])
    .await;
    let by_file = json!({
        "image_source": up.url("disk.img"),
        "image_checksum": up.url("SHA512SUMS"),
    });
    let by_os_hash = json!({
        "image_source": up.url("disk.img"),
        "image_os_hash_algo": "sha256",
        "image_os_hash_value": sha256(&raw),
    });
    let legacy_md5 = json!({"image_source": up.url("disk.img"), "image_checksum": md5(&raw)});
    for info in [by_file, by_os_hash, legacy_md5] {
        let map = info.as_object().unwrap();
        let expected = Checksum::from_instance_info(map).await.unwrap().unwrap();
        let report = write_url(&up.url("disk.img"), Some(&expected), Vec::new(), None)
            .await
            .unwrap_or_else(|e| panic!("{info}: {e}"));
        assert_eq!(report.digest, expected);
    }
    let no_line =
        json!({"image_source": up.url("absent.img"), "image_checksum": up.url("SHA512SUMS")});
    let err = Checksum::from_instance_info(no_line.as_object().unwrap()).await;
    assert!(
        matches!(err, Err(ImageError::InvalidChecksum(_))),
        "{err:?}"
    );
}
