//! Write throughput of `stream::write_image` against a plain copy (and `dd`)
//! of the same image to the same file, each followed by fsync.
//!
//! `cargo run --release -p ferrite-images --example write_bench -- [MiB] [DIR] [RUNS]`
//! (defaults: 512 MiB in /var/tmp, 5 runs, interleaved; medians are printed).

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
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let image = dir.join("ferrite-bench-image.raw");
    let target = dir.join("ferrite-bench-target.raw");
    let sum = make_image(&image, mib)?;
    let bytes = (mib as u64) << 20;
    println!(
        "image: {mib} MiB raw in {}, {runs} runs, median of each",
        dir.display()
    );
    // Interleaved, so a busy neighbour slows every method alike.
    let mut samples: [Vec<Sample>; 3] = Default::default();
    for _ in 0..runs.max(1) {
        samples[0].push(measure(libc::RUSAGE_SELF, plain_copy(&image, &target)).await?);
        samples[1].push(measure(libc::RUSAGE_CHILDREN, dd(&image, &target)).await?);
        samples[2].push(measure(libc::RUSAGE_SELF, via_write_image(&image, &target, &sum)).await?);
    }
    let [plain, dd, ours] = samples.map(median);
    println!(
        "{:<28} {:>8} {:>12} {:>8}",
        "method", "wall s", "MiB/s", "CPU s"
    );
    let names = [
        "plain copy (4 MiB blocks)",
        "dd bs=4M conv=fsync",
        "write_image + sha256",
    ];
    for (name, sample) in names.iter().zip([plain, dd, ours]) {
        let rate = bytes as f64 / sample.wall.as_secs_f64() / (1 << 20) as f64;
        println!(
            "{name:<28} {:>8.2} {rate:>12.1} {:>8.2}",
            sample.wall.as_secs_f64(),
            sample.cpu.as_secs_f64()
        );
    }
    println!(
        "write_image / plain copy: {:.1} %   write_image / dd: {:.1} %",
        100.0 * plain.wall.as_secs_f64() / ours.wall.as_secs_f64(),
        100.0 * dd.wall.as_secs_f64() / ours.wall.as_secs_f64()
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

/// One timed run: wall-clock time and the CPU time (user + system) it used.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    /// Elapsed time, including the final fsync.
    wall: Duration,
    /// CPU time of the process (or of its children, for dd).
    cpu: Duration,
}

/// The sample with the median wall time.
fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort();
    samples[samples.len() / 2]
}

/// CPU time used so far by `who` (RUSAGE_SELF or RUSAGE_CHILDREN).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs one timed job and records its wall and CPU time.
async fn measure(
    who: libc::c_int,
    job: impl std::future::Future<Output = Outcome<Duration>>,
) -> Outcome<Sample> {
    let before = cpu_time(who);
    let wall = job.await?;
    Ok(Sample {
        wall,
        cpu: cpu_time(who).saturating_sub(before),
    })
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
