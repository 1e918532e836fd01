//! Tests of the copy engine on real files in temp dirs.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nix::sys::stat::{utimensat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{mkfifo, Gid, Uid};

use super::copy::{copy_regular, Retry};
use super::*;

const GIB: u64 = 1 << 30;

/// A source and a destination directory with their fds.
struct Pair {
    _tmp: tempfile::TempDir,
    src_path: std::path::PathBuf,
    dst_path: std::path::PathBuf,
    src: Dir,
    dst: Dir,
}

fn pair() -> Pair {
    let tmp = tempfile::tempdir().unwrap();
    let (src_path, dst_path) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src_path).unwrap();
    fs::create_dir(&dst_path).unwrap();
    let (src, dst) = (Dir::open(&src_path).unwrap(), Dir::open(&dst_path).unwrap());
    Pair {
        _tmp: tmp,
        src_path,
        dst_path,
        src,
        dst,
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn copy(p: &Pair, name: &OsStr) -> Result<CopyOutcome, CopyError> {
    copy_as(p, name, name)
}

/// `copy_entry` of `src/name` to `dst/dst_name`, default options.
fn copy_as(p: &Pair, name: &OsStr, dst_name: &OsStr) -> Result<CopyOutcome, CopyError> {
    copy_entry(&p.src, name, &p.dst, dst_name, &CopyOptions::default())
}

/// `copy_attributes` of `meta` from `src/name` to `dst/name`, default options.
fn attributes(p: &Pair, name: &str, meta: &Meta) -> std::io::Result<()> {
    copy_attributes(
        &p.src,
        os(name),
        meta,
        &p.dst,
        os(name),
        &CopyOptions::default(),
    )
}

fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let (a, m) = (
        TimeSpec::new(atime.0, atime.1),
        TimeSpec::new(mtime.0, mtime.1),
    );
    utimensat(None, path, &a, &m, UtimensatFlags::NoFollowSymlink).unwrap();
}

/// `len` bytes of the file at `path` from `offset`.
fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Run `f` on a thread; fail the test if it has not finished within 20 s (a FIFO
/// opened for reading would block forever).
fn within_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("blocked: a FIFO or device was opened")
}

#[test]
fn regular_file_content_mode_and_times_are_copied() {
    let p = pair();
    let path = p.src_path.join("f");
    fs::write(&path, b"hello world").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o4751)).unwrap();
    set_times(
        &path,
        (1_600_000_000, 123_456_789),
        (1_500_000_000, 987_654_321),
    );
    let out = copy(&p, os("f")).unwrap();
    let CopyOutcome::Copied { meta, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(meta.size, 11);
    let got = fs::symlink_metadata(p.dst_path.join("f")).unwrap();
    assert_eq!(fs::read(p.dst_path.join("f")).unwrap(), b"hello world");
    assert_eq!(got.mode() & 0o7777, 0o4751);
    assert_eq!(
        (got.mtime(), got.mtime_nsec()),
        (1_500_000_000, 987_654_321)
    );
    assert_eq!(
        (got.atime(), got.atime_nsec()),
        (1_600_000_000, 123_456_789)
    );
}

#[test]
fn owner_is_copied_when_root() {
    if !is_root() {
        crate::skip_test!("changing owners needs root");
    }
    let p = pair();
    let path = p.src_path.join("owned");
    fs::write(&path, b"x").unwrap();
    let (uid, gid) = (Some(Uid::from_raw(1234)), Some(Gid::from_raw(5678)));
    nix::unistd::chown(&path, uid, gid).unwrap();
    symlink("owned", p.src_path.join("link")).unwrap();
    nix::unistd::fchownat(
        None,
        &p.src_path.join("link"),
        uid,
        gid,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    copy(&p, os("owned")).unwrap();
    copy(&p, os("link")).unwrap();
    for name in ["owned", "link"] {
        let got = fs::symlink_metadata(p.dst_path.join(name)).unwrap();
        assert_eq!((got.uid(), got.gid()), (1234, 5678), "{name}");
    }
}

#[test]
fn sparse_gib_file_keeps_its_holes() {
    let p = pair();
    let path = p.src_path.join("sparse");
    let f = fs::File::create(&path).unwrap();
    f.set_len(GIB).unwrap();
    f.write_all_at(&[7u8; 4096], GIB / 2).unwrap();
    f.write_all_at(b"end", GIB - 3).unwrap();
    drop(f);
    let out = copy(&p, os("sparse")).unwrap();
    let CopyOutcome::Copied { allocated, .. } = out else {
        panic!("{out:?}")
    };
    let dst = p.dst_path.join("sparse");
    let got = fs::metadata(&dst).unwrap();
    assert_eq!(got.len(), GIB);
    assert!(got.blocks() * 512 < 1 << 20, "{} blocks", got.blocks());
    assert!(allocated < 1 << 20);
    assert_eq!(
        read_at(&dst, GIB / 2 - 1, 4098),
        [&[0u8][..], &[7; 4096], &[0]].concat()
    );
    assert_eq!(read_at(&dst, GIB - 3, 3), b"end");
    assert_eq!(read_at(&dst, 12345, 3), [0, 0, 0]);
}

#[test]
fn every_data_method_copies_the_same_bytes_and_holes() {
    use super::data::{copy_data, Method};
    let p = pair();
    let path = p.src_path.join("mixed");
    let f = fs::File::create(&path).unwrap();
    f.set_len(64 << 20).unwrap();
    let block: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    f.write_all_at(&block, 0).unwrap();
    f.write_all_at(&block, 40 << 20).unwrap();
    drop(f);
    for (i, method) in [Method::Reflink, Method::CopyRange, Method::ReadWrite]
        .into_iter()
        .enumerate()
    {
        let src = fs::File::open(&path).unwrap();
        let dst_path = p.dst_path.join(format!("m{i}"));
        let dst = fs::File::create(&dst_path).unwrap();
        copy_data(&src, &dst, 64 << 20, method).unwrap();
        assert_eq!(
            fs::read(&dst_path).unwrap(),
            fs::read(&path).unwrap(),
            "{method:?}"
        );
        let blocks = fs::metadata(&dst_path).unwrap().blocks() * 512;
        assert!(blocks < 8 << 20, "{method:?}: {blocks} bytes allocated");
    }
}

#[test]
fn symlinks_are_stored_not_followed() {
    let p = pair();
    symlink("/etc", p.src_path.join("etc")).unwrap();
    symlink("../../nowhere", p.src_path.join("dangling")).unwrap();
    for name in ["etc", "dangling"] {
        let out = copy(&p, os(name)).unwrap();
        assert!(matches!(out, CopyOutcome::Copied { meta, .. } if meta.kind == FileKind::Symlink));
        let target = fs::read_link(p.dst_path.join(name)).unwrap();
        assert_eq!(target, fs::read_link(p.src_path.join(name)).unwrap());
        assert!(fs::symlink_metadata(p.dst_path.join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn symlink_times_are_copied() {
    let p = pair();
    let link = p.src_path.join("l");
    symlink("target", &link).unwrap();
    set_times(&link, (1_000_000_000, 5), (1_100_000_000, 6));
    copy(&p, os("l")).unwrap();
    let got = fs::symlink_metadata(p.dst_path.join("l")).unwrap();
    assert_eq!((got.mtime(), got.mtime_nsec()), (1_100_000_000, 6));
}

#[test]
fn fifo_is_recreated_without_blocking() {
    let p = Arc::new(pair());
    mkfifo(&p.src_path.join("pipe"), Mode::from_bits_truncate(0o640)).unwrap();
    let q = Arc::clone(&p);
    let out = within_timeout(move || copy(&q, os("pipe")).map_err(|e| e.to_string()));
    assert!(matches!(out, Ok(CopyOutcome::Copied { .. })), "{out:?}");
    let got = fs::symlink_metadata(p.dst_path.join("pipe")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&got.file_type()));
    assert_eq!(got.mode() & 0o7777, 0o640);
}

#[test]
fn specials_can_be_skipped() {
    let p = pair();
    mkfifo(&p.src_path.join("pipe"), Mode::from_bits_truncate(0o600)).unwrap();
    let opts = CopyOptions {
        specials: false,
        ..CopyOptions::default()
    };
    let out = copy_entry(&p.src, os("pipe"), &p.dst, os("pipe"), &opts).unwrap();
    assert!(matches!(out, CopyOutcome::Skipped { ref reason } if reason.contains("fifo")));
    assert!(fs::symlink_metadata(p.dst_path.join("pipe")).is_err());
}

#[test]
fn a_socket_is_recreated() {
    let p = pair();
    let _listener = std::os::unix::net::UnixListener::bind(p.src_path.join("sock")).unwrap();
    let out = copy(&p, os("sock")).unwrap();
    assert!(matches!(out, CopyOutcome::Copied { meta, .. } if meta.kind == FileKind::Socket));
    let got = fs::symlink_metadata(p.dst_path.join("sock")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&got.file_type()));
}

#[test]
fn a_device_node_is_recreated_or_skipped() {
    let p = pair();
    // /dev/null's numbers: 1,3.
    let made = nix::sys::stat::mknod(
        &p.src_path.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    if made.is_err() {
        crate::skip_test!("cannot create a device node here ({made:?})");
    }
    match copy(&p, os("null")).unwrap() {
        CopyOutcome::Copied { .. } => {
            let got = fs::symlink_metadata(p.dst_path.join("null")).unwrap();
            assert_eq!(got.rdev(), nix::sys::stat::makedev(1, 3));
        }
        CopyOutcome::Skipped { reason } => assert!(reason.contains("CAP_MKNOD")),
    }
}

#[test]
fn a_file_replaced_by_a_fifo_after_stat_is_never_read() {
    let p = Arc::new(pair());
    let path = p.src_path.join("swap");
    fs::write(&path, b"data").unwrap();
    let listed = p.src.stat(os("swap")).unwrap();
    fs::remove_file(&path).unwrap();
    mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
    let q = Arc::clone(&p);
    let retried = within_timeout(move || {
        let opts = CopyOptions::default();
        matches!(
            copy_regular(&q.src, os("swap"), &listed, &q.dst, os("swap"), &opts),
            Err(Retry::Changed)
        )
    });
    assert!(retried, "the swapped-in FIFO was not refused");
    assert!(fs::symlink_metadata(p.dst_path.join("swap")).is_err());
    // Reading it by name is refused too, without blocking.
    let q = Arc::clone(&p);
    let hashed = within_timeout(move || hash_file(&q.src, os("swap")).is_err());
    assert!(hashed);
    // The FIFO is only pinned (`O_PATH`), never opened for reading.
    match super::copy::open_source(&p.src, os("swap")) {
        Ok(Err(meta)) => assert_eq!(meta.kind, FileKind::Fifo),
        Ok(Ok(_)) => panic!("the FIFO was opened for reading"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_file_replaced_by_a_symlink_after_stat_is_not_followed() {
    let p = pair();
    let path = p.src_path.join("swap");
    fs::write(&path, b"data").unwrap();
    let listed = p.src.stat(os("swap")).unwrap();
    fs::remove_file(&path).unwrap();
    symlink("/etc/passwd", &path).unwrap();
    let opts = CopyOptions::default();
    let res = copy_regular(&p.src, os("swap"), &listed, &p.dst, os("swap"), &opts);
    assert!(matches!(res, Err(Retry::Changed)));
    // The full copy re-stats and stores the symlink as a symlink.
    copy(&p, os("swap")).unwrap();
    assert_eq!(
        fs::read_link(p.dst_path.join("swap")).unwrap(),
        Path::new("/etc/passwd")
    );
}

#[test]
fn a_growing_file_is_copied_whole_or_reported_changing() {
    let p = pair();
    let path = p.src_path.join("log");
    let mut f = fs::File::create(&path).unwrap();
    for i in 0..20_000 {
        writeln!(f, "line {i:08}").unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut i = 20_000u64;
        // One write() per line: the file never holds half a line.
        while !stop2.load(Ordering::Relaxed) && i < 400_000 {
            let _ = f.write_all(format!("line {i:08}\n").as_bytes());
            i += 1;
        }
    });
    let (mut copied, mut changing) = (0, 0);
    for round in 0..40 {
        let dst_name = OsString::from(format!("log{round}"));
        match copy_as(&p, os("log"), &dst_name) {
            Ok(CopyOutcome::Copied { meta, .. }) => {
                let text = fs::read(p.dst_path.join(&dst_name)).unwrap();
                assert_eq!(text.len() as u64, meta.size);
                assert_consistent_log(&text);
                copied += 1;
            }
            Err(CopyError::Changing { .. }) => {
                assert!(fs::symlink_metadata(p.dst_path.join(&dst_name)).is_err());
                changing += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!("growing file: {copied} consistent copies, {changing} reported changing");
}

#[test]
fn a_file_rewritten_all_the_time_is_reported_changing_and_leaves_nothing() {
    let p = pair();
    let path = p.src_path.join("hot");
    let f = fs::File::create(&path).unwrap();
    f.write_all_at(&vec![1u8; 64 << 20], 0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut n = 0u8;
        while !stop2.load(Ordering::Relaxed) {
            let _ = f.write_all_at(&[n], u64::from(n) * 4096);
            n = n.wrapping_add(1);
        }
    });
    let mut changing = 0;
    for round in 0..5 {
        let dst_name = OsString::from(format!("hot{round}"));
        match copy_as(&p, os("hot"), &dst_name) {
            Err(CopyError::Changing { name }) => {
                assert_eq!(name, "hot");
                assert!(fs::symlink_metadata(p.dst_path.join(&dst_name)).is_err());
                changing += 1;
            }
            Ok(CopyOutcome::Copied { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        changing > 0,
        "a file written during every copy was never reported changing"
    );
    assert_eq!(p.dst.entries().unwrap().len(), 5 - changing);
}

/// Every line complete and numbered in order from 0.
fn assert_consistent_log(text: &[u8]) {
    assert!(text.ends_with(b"\n"), "copy ends inside a line");
    for (i, line) in text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        assert_eq!(line, format!("line {i:08}").as_bytes());
    }
}

#[test]
fn xattrs_are_copied_where_supported() {
    let p = pair();
    let path = p.src_path.join("x");
    fs::write(&path, b"x").unwrap();
    if let Err(e) = xattr::set(&path, "user.reverberator", b"value") {
        crate::skip_test!("user xattrs not supported here: {e}");
    }
    fs::create_dir(p.src_path.join("d")).unwrap();
    xattr::set(p.src_path.join("d"), "user.dir", b"dv").unwrap();
    copy(&p, os("x")).unwrap();
    let got = xattr::get(p.dst_path.join("x"), "user.reverberator").unwrap();
    assert_eq!(got.as_deref(), Some(&b"value"[..]));
    fs::create_dir(p.dst_path.join("d")).unwrap();
    let meta = p.src.stat(os("d")).unwrap();
    attributes(&p, "d", &meta).unwrap();
    assert_eq!(
        xattr::get(p.dst_path.join("d"), "user.dir")
            .unwrap()
            .as_deref(),
        Some(&b"dv"[..])
    );
}

#[test]
fn symlink_xattrs_other_than_user_are_copied_when_root() {
    let p = pair();
    let link = p.src_path.join("l");
    symlink("target", &link).unwrap();
    if let Err(e) = xattr::set(&link, "trusted.reverberator", b"t") {
        crate::skip_test!("trusted xattrs on symlinks not possible here: {e}");
    }
    copy(&p, os("l")).unwrap();
    let got = xattr::get(p.dst_path.join("l"), "trusted.reverberator").unwrap();
    assert_eq!(got.as_deref(), Some(&b"t"[..]));
    assert!(fs::read_link(p.dst_path.join("l")).is_ok());
}

#[test]
fn copy_attributes_on_a_symlink_never_follows_it() {
    let p = pair();
    let outside = p.src_path.join("outside");
    fs::write(&outside, b"x").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).unwrap();
    symlink(&outside, p.src_path.join("l")).unwrap();
    symlink(&outside, p.dst_path.join("l")).unwrap();
    let mut meta = p.src.stat(os("l")).unwrap();
    meta.mode = 0o777;
    meta.mtime = Timestamp::new(1_000_000_000, 42);
    attributes(&p, "l", &meta).unwrap();
    let target = fs::metadata(&outside).unwrap();
    assert_eq!(target.mode() & 0o777, 0o600);
    assert_ne!(target.mtime(), 1_000_000_000);
    let link = fs::symlink_metadata(p.dst_path.join("l")).unwrap();
    assert_eq!((link.mtime(), link.mtime_nsec()), (1_000_000_000, 42));
}

#[test]
fn fifo_mode_is_never_set_through_a_symlink_swapped_in() {
    // A FIFO's attributes are set by name; a symlink planted at that name (a user racing a
    // root restore into their own folder) must not redirect the chmod to its target.
    let p = pair();
    let outside = p.src_path.join("outside");
    fs::write(&outside, b"x").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).unwrap();
    mkfifo(&p.src_path.join("pipe"), Mode::from_bits_truncate(0o666)).unwrap();
    symlink(&outside, p.dst_path.join("pipe")).unwrap();
    let mut meta = p.src.stat(os("pipe")).unwrap();
    meta.mode = 0o666;
    let err = attributes(&p, "pipe", &meta);
    assert!(err.is_err(), "a symlink in place of the FIFO was accepted");
    assert_eq!(fs::metadata(&outside).unwrap().mode() & 0o777, 0o600);
    fs::remove_file(p.dst_path.join("pipe")).unwrap();
    mkfifo(&p.dst_path.join("pipe"), Mode::from_bits_truncate(0o600)).unwrap();
    attributes(&p, "pipe", &meta).unwrap();
    let got = fs::symlink_metadata(p.dst_path.join("pipe")).unwrap();
    assert_eq!(got.mode() & 0o777, 0o666);
}

#[test]
fn copy_attributes_sets_directory_mode_and_times() {
    let p = pair();
    let d = p.src_path.join("d");
    fs::create_dir(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o1750)).unwrap();
    set_times(&d, (1_000_000_000, 1), (1_200_000_000, 999_999_999));
    fs::create_dir(p.dst_path.join("d")).unwrap();
    let meta = p.src.stat(os("d")).unwrap();
    attributes(&p, "d", &meta).unwrap();
    let got = fs::metadata(p.dst_path.join("d")).unwrap();
    assert_eq!(got.mode() & 0o7777, 0o1750);
    assert_eq!(
        (got.mtime(), got.mtime_nsec()),
        (1_200_000_000, 999_999_999)
    );
}

#[test]
fn clone_file_copies_data_only_and_keeps_holes() {
    let p = pair();
    let path = p.src_path.join("c");
    let f = fs::File::create(&path).unwrap();
    f.set_len(256 << 20).unwrap();
    f.write_all_at(b"abc", 100 << 20).unwrap();
    drop(f);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let allocated = clone_file(&p.src, os("c"), &p.dst, os("c2")).unwrap();
    assert!(allocated < 1 << 20);
    let got = fs::metadata(p.dst_path.join("c2")).unwrap();
    assert_eq!(got.len(), 256 << 20);
    assert_eq!(got.mode() & 0o777, 0o600);
    assert_eq!(
        read_at(&p.dst_path.join("c2"), (100 << 20) - 1, 5),
        b"\0abc\0"
    );
    // The destination must not exist.
    assert!(clone_file(&p.src, os("c"), &p.dst, os("c2")).is_err());
}

#[test]
fn odd_names_are_copied() {
    let p = pair();
    let long = "n".repeat(255);
    let names: Vec<&OsStr> = vec![
        OsStr::from_bytes(b"tab\there"),
        OsStr::from_bytes(b"new\nline"),
        OsStr::from_bytes(b"back\\slash"),
        OsStr::from_bytes(b"bad\xff\xfeutf8"),
        os("-leading-dash"),
        os("with space"),
        OsStr::new(long.as_str()),
    ];
    for (i, name) in names.iter().enumerate() {
        fs::write(p.src_path.join(name), format!("content {i}")).unwrap();
        copy(&p, name).unwrap();
        assert_eq!(
            fs::read(p.dst_path.join(name)).unwrap(),
            format!("content {i}").as_bytes()
        );
        assert_eq!(
            hash_file(&p.dst, name).unwrap(),
            hash_file(&p.src, name).unwrap()
        );
    }
    let listed: Vec<OsString> = p
        .dst
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed.len(), names.len());
}

#[test]
fn errors_are_typed() {
    let p = pair();
    assert!(matches!(
        copy(&p, os("missing")),
        Err(CopyError::Vanished { .. })
    ));
    fs::create_dir(p.src_path.join("dir")).unwrap();
    assert!(matches!(copy(&p, os("dir")), Err(CopyError::Io { .. })));
    fs::write(p.src_path.join("f"), b"1").unwrap();
    fs::write(p.dst_path.join("f"), b"old").unwrap();
    let err = copy(&p, os("f")).unwrap_err();
    assert!(
        matches!(err, CopyError::Io { ref name, .. } if name == "f"),
        "{err}"
    );
    assert_eq!(fs::read(p.dst_path.join("f")).unwrap(), b"old");
}

#[test]
fn hash_file_tells_contents_apart() {
    let p = pair();
    fs::write(p.src_path.join("a"), b"same").unwrap();
    fs::write(p.src_path.join("b"), b"same").unwrap();
    fs::write(p.src_path.join("c"), b"diff").unwrap();
    let h = |n| hash_file(&p.src, os(n)).unwrap();
    assert_eq!(h("a"), h("b"));
    assert_ne!(h("a"), h("c"));
    assert_eq!(h("a"), xxhash_rust::xxh3::xxh3_128(b"same"));
    symlink("a", p.src_path.join("l")).unwrap();
    assert!(hash_file(&p.src, os("l")).is_err());
}
