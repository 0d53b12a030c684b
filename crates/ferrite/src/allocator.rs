//! glibc malloc tuning for the server process.
//!
//! A `detail=true` list page is a few megabytes of JSON built in a handful
//! of buffers. With glibc's defaults every buffer above 128 KiB is its own
//! `mmap`, so each request maps fresh pages, takes a page fault per 4 KiB
//! and zeroes them, then unmaps them again: about a quarter of the
//! request's CPU went there (perf, 1,000-node page). Raising the mmap
//! threshold keeps those buffers in the heap, and raising the trim
//! threshold keeps freed heap for the next request instead of returning it
//! to the kernel at once. Both are 8 MiB: a 1,000-node page needs a few.
//!
//! glibc also gives each thread that allocates concurrently an arena of
//! its own (up to 8 per core), and each arena keeps its own free memory:
//! with tokio's workers, the blocking pool and SQLite's threads that held
//! 25–35 MiB of peak RSS at 1,000 nodes for no measurable speed. Two arenas
//! keep the peak near what the data needs (measured: 77 → 41 MiB peak over
//! a 1,000-node lifecycle, list-detail unchanged).
//!
//! A different allocator (mimalloc) was measured too: similar CPU, about
//! 20 MiB more peak RSS at 10,000 nodes.

/// Largest single allocation served from the heap rather than by `mmap`.
const MMAP_THRESHOLD: libc::c_int = 8 << 20;
/// Free heap kept at the top before it is returned to the kernel.
const TRIM_THRESHOLD: libc::c_int = 8 << 20;
/// Most malloc arenas the process uses.
const ARENA_MAX: libc::c_int = 2;

/// Applies the tuning; call once, first thing in `main`, before threads
/// start allocating. Environment variables (`MALLOC_MMAP_THRESHOLD_`, …)
/// still win, because glibc reads them before `main`: an operator can undo
/// this without a rebuild.
pub fn tune() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_ARENA_MAX").is_some()
    {
        return;
    }
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before any other thread exists, as glibc requires for consistency.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}
