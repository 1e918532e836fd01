//! Reflinks on btrfs and xfs: an attribute-only change of a 100 MiB file costs no data.

use super::*;

// ---------------------------------------------------------------------------------------
// Reflinks on btrfs and xfs: an attribute-only change of a big file costs no data blocks.

/// Bytes in use on the filesystem holding `path`, after flushing it.
fn used_bytes(path: &Path) -> u64 {
    let dir = File::open(path).expect("open");
    // SAFETY: a valid open fd; syncfs has no memory effects.
    unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    (st.blocks() - st.blocks_free()) * st.fragment_size()
}

/// 100 MiB of incompressible bytes (xorshift), so every block is really allocated.
fn write_big_file(path: &Path) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(File::create(path).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..100 {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&chunk).expect("write");
    }
    file.into_inner().expect("flush").sync_all().expect("fsync");
}

fn reflink_attributes_only(mkfs: &str, mkfs_args: &[&str]) {
    if which(mkfs).is_none() {
        crate::skip_test!("{mkfs} is not installed (apt-get install btrfs-progs xfsprogs)");
    }
    let env = Env::new();
    let image = env.path("cow.img");
    File::create(&image)
        .and_then(|f| f.set_len(512 << 20))
        .expect("image");
    let mut args = mkfs_args.to_vec();
    args.push(s(&image));
    run(mkfs, &args).expect("mkfs");
    let lo = Loop::attach(&image).expect("losetup");
    let mnt = env.path("cow");
    fs::create_dir(&mnt).unwrap();
    let _m = Mount::new(lo.dev(), &mnt, &[]).expect("mount");
    for d in ["src", "vault"] {
        fs::create_dir(mnt.join(d)).unwrap();
    }
    let big = mnt.join("src/big.bin");
    let empty = used_bytes(&mnt);
    write_big_file(&big);
    // The meter works: the source file itself allocates its 100 MiB.
    let written = used_bytes(&mnt).saturating_sub(empty);
    assert!(
        written >= 95 << 20,
        "{mkfs}: writing 100 MiB used only {written} bytes"
    );
    let mut job = env.job(None, None);
    job.source = mnt.join("src");
    job.vault = mnt.join("vault");
    job.settings.attributes_only = true;

    let before_v0 = used_bytes(&mnt);
    let v0 = snapshot(&job);
    let after_v0 = used_bytes(&mnt);
    fs::set_permissions(&big, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let v1 = snapshot(&job);
    let after_v1 = used_bytes(&mnt);

    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let (cost_v0, cost_v1) = (
        after_v0.saturating_sub(before_v0),
        after_v1.saturating_sub(after_v0),
    );
    eprintln!(
        "{mkfs}: 100 MiB file: V0 (full copy) added {:.2} MiB, V1 (chmod, attributes_only) added {:.2} MiB",
        mib(cost_v0),
        mib(cost_v1)
    );
    use std::os::unix::fs::MetadataExt;
    let stored = |v: &str| fs::metadata(job.job_dir().join(v).join("big.bin")).unwrap();
    assert_eq!(stored(&v1).mode() & 0o7777, 0o600);
    assert_ne!(
        stored(&v0).mode() & 0o7777,
        0o600,
        "V0 must keep the old mode"
    );
    assert_ne!(
        stored(&v0).ino(),
        stored(&v1).ino(),
        "V1 needs its own inode for its mode"
    );
    assert_eq!(
        fs::read(job.job_dir().join(&v1).join("big.bin")).unwrap(),
        fs::read(&big).unwrap()
    );
    assert!(
        cost_v0 < 8 << 20,
        "V0 copied data blocks: {:.2} MiB",
        mib(cost_v0)
    );
    assert!(
        cost_v1 < 8 << 20,
        "V1 copied data blocks: {:.2} MiB",
        mib(cost_v1)
    );
}

fn snapshot(job: &JobConfig) -> String {
    use reverberator::vault::snapshot::SnapshotOutcome;
    use reverberator::writer::snapshot_with_scan;
    match snapshot_with_scan(job).expect("snapshot") {
        SnapshotOutcome::Committed(v) => v.name.to_string(),
        SnapshotOutcome::Unchanged => panic!("the change was not seen"),
    }
}

#[test]
fn btrfs_reflinks_make_an_attribute_only_change_cost_no_data() {
    require_mount!();
    reflink_attributes_only("mkfs.btrfs", &["-f", "-q"]);
}

#[test]
fn xfs_reflinks_make_an_attribute_only_change_cost_no_data() {
    require_mount!();
    reflink_attributes_only("mkfs.xfs", &["-f", "-q", "-m", "reflink=1"]);
}
