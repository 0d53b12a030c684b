//! Shared fixtures: a loopback HTTP image server that counts requests, a
//! server that cuts transfers short, and test images in every format.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A running image server on 127.0.0.1.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Requests per file name.
    hits: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// Total requests.
    total: Arc<AtomicUsize>,
}

impl Upstream {
    /// URL of a served file.
    pub fn url(&self, name: &str) -> String {
        format!("{}/files/{name}", self.base)
    }

    /// How many times `name` was requested.
    pub fn hits(&self, name: &str) -> usize {
        self.hits.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    /// How many requests were served in all.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Files {
    files: Arc<HashMap<String, Vec<u8>>>,
    hits: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
    delay: Duration,
}

async fn file(State(s): State<Files>, UrlPath(name): UrlPath<String>) -> impl IntoResponse {
    s.total.fetch_add(1, Ordering::SeqCst);
    *s.hits.lock().unwrap().entry(name.clone()).or_default() += 1;
    tokio::time::sleep(s.delay).await;
    match s.files.get(&name) {
        Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `files` at `/files/{name}`; each answer waits `delay` first (so
/// concurrent requests really overlap).
pub async fn upstream(files: HashMap<String, Vec<u8>>, delay: Duration) -> Upstream {
    let hits = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let state = Files {
        files: Arc::new(files),
        hits: hits.clone(),
        total: total.clone(),
        delay,
    };
    let app = Router::new()
        .route("/files/{name}", get(file))
        .with_state(state);
    let base = spawn(app).await;
    Upstream { base, hits, total }
}

/// Serves `app` on a free loopback port; returns its base URL.
pub async fn spawn(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A server that announces `announce` bytes, sends `body`, then closes the
/// connection: a truncated download. Returns the URL.
pub async fn truncating(announce: usize, body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            read_request_head(&mut conn).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {announce}\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(&body).await;
            let _ = conn.shutdown().await;
        }
    });
    format!("http://{addr}/disk.img")
}

/// Reads an HTTP request up to the blank line ending its head.
async fn read_request_head(conn: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte).await {
            Ok(1) => seen.push(byte[0]),
            _ => return,
        }
    }
}

/// A pseudo-random but partly compressible disk image of `len` bytes,
/// starting with an MBR-like boot signature.
pub fn raw_image(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Half the 4 KiB blocks are zero, as in real disk images.
        let block = (out.len() / 4096) % 2 == 0;
        out.extend_from_slice(&if block { state.to_le_bytes() } else { [0; 8] });
    }
    out.truncate(len);
    if len >= 512 {
        out[510] = 0x55;
        out[511] = 0xaa;
    }
    out
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// zstd of `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// qcow2 of `data`, made by the real `qemu-img`.
pub fn qcow2(dir: &Path, data: &[u8]) -> Vec<u8> {
    let raw = dir.join("src.raw");
    let out = dir.join("src.qcow2");
    std::fs::write(&raw, data).unwrap();
    let status = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "qemu-img convert failed");
    std::fs::read(&out).unwrap()
}

/// Hex sha256 of `data`.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Hex sha512 of `data`.
pub fn sha512(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

/// Hex md5 of `data`.
pub fn md5(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}
