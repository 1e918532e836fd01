//! Copy throughput of each data method on a 1 GiB file (a benchmark, not a test: it is
//! `#[ignore]`d). Run it with
//!
//! ```text
//! REVERBERATOR_BENCH_DIRS=/mnt/xfs:/mnt/btrfs:/tmp \
//!   cargo test --lib fs::bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! For each directory (one per filesystem) it writes a 1 GiB file of incompressible
//! data, then copies it with each method (reflink, `copy_file_range`, read/write) and with
//! `copy_entry`, three times each, printing the median time to copy, the time of the
//! following `fsync`, and GiB/s over both. The source is in the page cache (warm) for
//! every copy.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::data::{copy_data, Method};
use super::{copy_entry, CopyOptions, Dir};

const SIZE: u64 = 1 << 30;
const REPS: usize = 3;

#[test]
#[ignore = "benchmark; see the module docs"]
fn copy_throughput_1gib() {
    let dirs = std::env::var_os("REVERBERATOR_BENCH_DIRS")
        .map(|v| std::env::split_paths(&v).collect::<Vec<PathBuf>>())
        .unwrap_or_else(|| vec![std::env::temp_dir()]);
    for dir in dirs {
        bench_dir(&dir);
    }
}

/// All methods on the filesystem holding `dir`.
fn bench_dir(dir: &Path) {
    let work = tempfile::tempdir_in(dir).unwrap();
    let src = work.path().join("src");
    write_source(&src);
    println!(
        "\n{} ({} MiB source, warm cache)",
        dir.display(),
        SIZE >> 20
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "method", "copy ms", "fsync ms", "GiB/s"
    );
    for method in [Method::Reflink, Method::CopyRange, Method::ReadWrite] {
        let runs: Vec<_> = (0..REPS)
            .map(|i| time_method(work.path(), &src, method, i))
            .collect();
        report(&format!("{method:?} (did: {:?})", runs[0].2), &runs);
    }
    let runs: Vec<_> = (0..REPS).map(|i| time_copy_entry(work.path(), i)).collect();
    report("copy_entry (default opts)", &runs);
}

/// 1 GiB of xorshift noise, fsynced.
fn write_source(path: &Path) {
    let mut f = File::create(path).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 4 << 20];
    for _ in 0..(SIZE / buf.len() as u64) {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    f.sync_all().unwrap();
}

/// One copy with `method`: (copy time, fsync time, method that did the work).
fn time_method(
    work: &Path,
    src: &Path,
    method: Method,
    rep: usize,
) -> (Duration, Duration, Method) {
    let dst_path = work.join(format!("dst-{method:?}-{rep}"));
    let (s, d) = (File::open(src).unwrap(), File::create(&dst_path).unwrap());
    let t = Instant::now();
    let did = copy_data(&s, &d, SIZE, method).unwrap();
    let copied = t.elapsed();
    d.sync_all().unwrap();
    let synced = t.elapsed() - copied;
    std::fs::remove_file(&dst_path).unwrap();
    (copied, synced, did)
}

/// One `copy_entry` of `src` with default options.
fn time_copy_entry(work: &Path, rep: usize) -> (Duration, Duration, Method) {
    let dir = Dir::open(work).unwrap();
    let name = format!("entry-{rep}");
    let t = Instant::now();
    copy_entry(
        &dir,
        OsStr::new("src"),
        &dir,
        OsStr::new(&name),
        &CopyOptions::default(),
    )
    .unwrap();
    let copied = t.elapsed();
    File::open(work.join(&name)).unwrap().sync_all().unwrap();
    let synced = t.elapsed() - copied;
    std::fs::remove_file(work.join(&name)).unwrap();
    (copied, synced, Method::Reflink)
}

/// Print the median run.
fn report(label: &str, runs: &[(Duration, Duration, Method)]) {
    let mut sorted: Vec<_> = runs.iter().map(|r| (r.0, r.1)).collect();
    sorted.sort();
    let (copy, sync) = sorted[sorted.len() / 2];
    let total = (copy + sync).as_secs_f64();
    let gibs = (SIZE >> 30) as f64 / total;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<28} {:>10.2} {:>10.2} {:>10.2}",
        ms(copy),
        ms(sync),
        gibs
    );
}
