//! Write throughput of `stream::write_image` against a plain copy (and `dd`)
//! of the same image to the same file, each followed by fsync.
//!
//! `cargo run --release -p ferrite-images --example write_bench -- [MiB] [DIR] [RUNS]`
//! (defaults: 512 MiB in /var/tmp, 3 runs; the median is printed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferrite_images::stream::write_image;
use ferrite_images::{Checksum, HashAlgo};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Block size of the plain copy and of `dd`, equal to write_image's chunk.
const BLOCK: usize = 4 << 20;

/// Result type of the benchmark: any failure ends it with a message.
type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Outcome<()> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map_or(Ok(512), |a| a.parse())?;
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/var/tmp".into()));
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let image = dir.join("ferrite-bench-image.raw");
    let target = dir.join("ferrite-bench-target.raw");
    let sum = make_image(&image, mib)?;
    let bytes = (mib as u64) << 20;
    println!(
        "image: {mib} MiB raw in {}, {runs} runs, median of each",
        dir.display()
    );
    let plain = median(runs, || plain_copy(&image, &target)).await?;
    let dd = median(runs, || dd(&image, &target)).await?;
    let ours = median(runs, || via_write_image(&image, &target, &sum)).await?;
    for (name, took) in [
        ("plain copy (4 MiB blocks)", plain),
        ("dd bs=4M conv=fsync", dd),
        ("write_image + sha256", ours),
    ] {
        let rate = bytes as f64 / took.as_secs_f64() / (1 << 20) as f64;
        println!("{name:<28} {:>8.2} s {rate:>9.1} MiB/s", took.as_secs_f64());
    }
    println!(
        "write_image / plain copy: {:.1} %   write_image / dd: {:.1} %",
        100.0 * plain.as_secs_f64() / ours.as_secs_f64(),
        100.0 * dd.as_secs_f64() / ours.as_secs_f64()
    );
    for path in [&image, &target] {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// Writes a partly compressible image and returns its sha256.
fn make_image(path: &Path, mib: usize) -> Outcome<Checksum> {
    let mut hasher = Sha256::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&if i % 4 == 0 {
                [0; 8]
            } else {
                state.to_le_bytes()
            });
        }
        hasher.update(&block);
        std::io::Write::write_all(&mut file, &block)?;
    }
    std::io::Write::flush(&mut file)?;
    Ok(Checksum::new(
        HashAlgo::Sha256,
        &hex::encode(hasher.finalize()),
    )?)
}

/// Runs `job` `runs` times and returns the median duration.
async fn median<F, Fut>(runs: usize, mut job: F) -> Outcome<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome<Duration>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        times.push(job().await?);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Read 4 MiB, write 4 MiB, then fsync: what dd does, in-process.
async fn plain_copy(image: &Path, target: &Path) -> Outcome<Duration> {
    let start = Instant::now();
    let mut src = tokio::fs::File::open(image).await?;
    let mut dst = tokio::fs::File::create(target).await?;
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).await?;
    }
    dst.flush().await?;
    dst.sync_all().await?;
    Ok(start.elapsed())
}

/// The system's dd with the same block size and a final fsync.
async fn dd(image: &Path, target: &Path) -> Outcome<Duration> {
    let start = Instant::now();
    let status = Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", target.display()))
        .args(["bs=4M", "conv=fsync", "status=none"])
        .status()?;
    if !status.success() {
        return Err(format!("dd failed: {status}").into());
    }
    Ok(start.elapsed())
}

/// The agent's path: write_image with sha256 verification, then fsync.
async fn via_write_image(image: &Path, target: &Path, sum: &Checksum) -> Outcome<Duration> {
    let start = Instant::now();
    let src = tokio::fs::File::open(image).await?;
    let mut dst = tokio::fs::File::create(target).await?;
    let report = write_image(src, Some(sum), &mut dst).await?;
    dst.sync_all().await?;
    let took = start.elapsed();
    if report.bytes_written != std::fs::metadata(image)?.len() {
        return Err("write_image wrote a different length".into());
    }
    Ok(took)
}
