//! Mount awareness with loop-mounted images (root only; skipped with a reason otherwise).
//!
//! Each test builds its own ext4 images (`truncate` + `mkfs.ext4`), attaches them with
//! `losetup` and mounts them under its own temp dir. [`Loop`] and [`Mount`] undo that in
//! `Drop`, so a failing assertion still unmounts and detaches.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use reverberator::config::{Excludes, FsSpec, JobConfig, LimitExpr};
use reverberator::watch::mounts::{
    check_job_once, signature_of, spec_matches, MountCheck, MountGuard, MountTable, MountWatcher,
    Side,
};

// ---------------------------------------------------------------------------------------
// Harness: images, loop devices, mounts.

/// Run a command; its stdout, or its stderr as the error.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{program} {args:?}: {}", err.trim()))
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A loop device attached to an image file; detached on drop.
struct Loop {
    dev: PathBuf,
}

impl Loop {
    fn attach(image: &Path) -> Result<Loop, String> {
        let dev = run("losetup", &["--find", "--show", s(image)])?;
        Ok(Loop { dev: dev.into() })
    }

    fn dev(&self) -> &str {
        s(&self.dev)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // A busy device (lazily unmounted, file still open) is set to auto-clear instead.
        if let Err(e) = run("losetup", &["--detach", self.dev()]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A mount made by a test; unmounted on drop (lazily when busy).
struct Mount {
    point: PathBuf,
}

impl Mount {
    fn new(source: &str, point: &Path, extra: &[&str]) -> Result<Mount, String> {
        let mut args = extra.to_vec();
        args.extend([source, s(point)]);
        run("mount", &args)?;
        Ok(Mount {
            point: point.to_owned(),
        })
    }

    fn umount(self) {
        run("umount", &[s(&self.point)]).expect("umount");
        std::mem::forget(self);
    }

    fn umount_lazy(self) {
        run("umount", &["-l", s(&self.point)]).expect("umount -l");
        std::mem::forget(self);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if run("umount", &[s(&self.point)]).is_err() {
            if let Err(e) = run("umount", &["-l", s(&self.point)]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// An ext4 image on a loop device.
struct Ext4 {
    lo: Loop,
    uuid: String,
}

impl Ext4 {
    fn new(dir: &Path, name: &str, label: Option<&str>) -> Ext4 {
        let image = dir.join(format!("{name}.img"));
        File::create(&image)
            .and_then(|f| f.set_len(8 << 20))
            .expect("image");
        let mut args = vec!["-F", "-q"];
        if let Some(label) = label {
            args.extend(["-L", label]);
        }
        args.push(s(&image));
        run("mkfs.ext4", &args).expect("mkfs.ext4");
        let lo = Loop::attach(&image).expect("losetup");
        let uuid = run(
            "blkid",
            &["-c", "/dev/null", "-o", "value", "-s", "UUID", lo.dev()],
        )
        .expect("blkid");
        Ext4 { lo, uuid }
    }

    fn mount(&self, point: &Path) -> Mount {
        Mount::new(self.lo.dev(), point, &[]).expect("mount")
    }
}

/// Why these tests cannot run here, if they cannot (checked once, with a real loop mount).
fn skip_reason() -> Option<&'static str> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Some("not root".into());
            }
            let dir = tempfile::tempdir().ok()?;
            let image = dir.path().join("probe.img");
            let point = dir.path().join("mnt");
            fs::create_dir(&point).ok()?;
            File::create(&image).and_then(|f| f.set_len(4 << 20)).ok()?;
            let probe = || -> Result<(), String> {
                run("mkfs.ext4", &["-F", "-q", s(&image)])?;
                let lo = Loop::attach(&image)?;
                let _m = Mount::new(lo.dev(), &point, &[])?;
                Ok(())
            };
            probe().err()
        })
        .as_deref()
}

macro_rules! require_mount {
    () => {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: loop mounts are not permitted here: {reason}");
            return;
        }
    };
}

/// A unique temp dir holding `src`, `vault` and the images.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("rev-mounts-")
            .tempdir()
            .expect("tempdir");
        for d in ["src", "vault"] {
            fs::create_dir(dir.path().join(d)).expect("mkdir");
        }
        Env { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn job(&self, source_fs: Option<&str>, vault_fs: Option<&str>) -> JobConfig {
        let spec = |t: Option<&str>| t.map(|t| t.parse::<FsSpec>().expect("spec"));
        JobConfig {
            name: "mount test".into(),
            source: self.path("src"),
            vault: self.path("vault"),
            settle: Duration::from_secs(1),
            max_settle: Duration::from_secs(10),
            keep_versions: 10,
            vault_limit: LimitExpr::default(),
            keep_full_copy: true,
            attributes_only: false,
            exclude: Excludes::default(),
            source_fs: spec(source_fs),
            vault_fs: spec(vault_fs),
            rescan_interval: None,
        }
    }
}

fn check(guard: &mut MountGuard) -> MountCheck {
    guard.check(&MountTable::read().expect("mountinfo"))
}

#[track_caller]
fn assert_halted(got: MountCheck, want_side: Side, reason_has: &str) -> (String, String) {
    match got {
        MountCheck::Halted {
            side,
            awaiting,
            reason,
        } => {
            assert_eq!(side, want_side, "reason: {reason}");
            assert!(
                reason.contains(reason_has),
                "reason {reason:?} lacks {reason_has:?}"
            );
            (awaiting, reason)
        }
        MountCheck::Ready => panic!("expected Halted({want_side}), got Ready"),
    }
}

fn is_empty_dir(p: &Path) -> bool {
    fs::read_dir(p).expect("read_dir").next().is_none()
}

// ---------------------------------------------------------------------------------------
// Signatures.

#[test]
fn signature_of_a_loop_ext4_shows_its_uuid_and_label() {
    require_mount!();
    let env = Env::new();
    let fs_a = Ext4::new(env.dir.path(), "a", Some("revlabel"));
    let _m = fs_a.mount(&env.path("src"));
    fs::create_dir(env.path("src/sub")).unwrap();

    let sig = signature_of(&env.path("src/sub")).expect("signature");
    assert_eq!(sig.uuid.as_deref(), Some(fs_a.uuid.as_str()));
    assert_eq!(sig.label.as_deref(), Some("revlabel"));
    assert_eq!(sig.partuuid, None, "a loop image has no partition table");
    assert_eq!(sig.fstype.as_deref(), Some("ext4"));
    assert_eq!(sig.device.as_deref(), Some(fs_a.lo.dev.as_path()));
    assert_eq!(
        sig.mountpoint,
        Some(fs::canonicalize(env.path("src")).unwrap())
    );
    assert_eq!(sig.to_string(), format!("uuid={}", fs_a.uuid));

    let spec = |t: &str| t.parse::<FsSpec>().unwrap();
    assert!(spec_matches(
        &spec(&format!("uuid={}", fs_a.uuid.to_uppercase())),
        &sig
    ));
    assert!(spec_matches(&spec("label=revlabel"), &sig));
    assert!(spec_matches(&spec(&format!("dev={}", fs_a.lo.dev())), &sig));
    assert!(!spec_matches(&spec("partuuid=00000000-01"), &sig));
    assert!(!spec_matches(&spec("label=other"), &sig));
    assert!(!spec_matches(&spec("dev=/dev/null"), &sig));
}

#[test]
fn a_dd_clone_shares_uuid_and_label_with_its_original() {
    require_mount!();
    let env = Env::new();
    let fs_a = Ext4::new(env.dir.path(), "a", Some("twin"));
    fs::copy(env.path("a.img"), env.path("clone.img")).unwrap();
    let clone = Loop::attach(&env.path("clone.img")).unwrap();
    let _m = Mount::new(clone.dev(), &env.path("src"), &[]).unwrap();
    let sig = signature_of(&env.path("src")).unwrap();
    // The documented caveat: identity by UUID cannot tell a clone from its original.
    assert_eq!(sig.uuid.as_deref(), Some(fs_a.uuid.as_str()));
    assert_eq!(sig.label.as_deref(), Some("twin"));
    assert_ne!(sig.device.as_deref(), Some(fs_a.lo.dev.as_path()));
}

// ---------------------------------------------------------------------------------------
// Explicit specs on the source.

/// Ready on the right filesystem, halted when it leaves or another one is mounted there,
/// ready again when it returns.
fn explicit_source_spec_cycle(spec_of: impl Fn(&Ext4) -> String, label: Option<&str>) {
    let env = Env::new();
    let right = Ext4::new(env.dir.path(), "right", label);
    let wrong = Ext4::new(env.dir.path(), "wrong", Some("wrong"));
    let spec = spec_of(&right);
    let job = env.job(Some(&spec), None);
    let src = env.path("src");

    let m = right.mount(&src);
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert_eq!(check_job_once(&job), MountCheck::Ready);
    m.umount();

    let (awaiting, _) = assert_halted(check(&mut guard), Side::Source, "not");
    assert_eq!(awaiting, spec);
    assert!(!check_job_once(&job).is_ready());

    let m = wrong.mount(&src);
    let (_, reason) = assert_halted(check(&mut guard), Side::Source, &wrong.uuid);
    assert!(reason.contains(&spec), "{reason}");
    m.umount();

    let _m = right.mount(&src);
    assert_eq!(check(&mut guard), MountCheck::Ready);
}

#[test]
fn explicit_uuid_spec_halts_and_resumes_the_source() {
    require_mount!();
    explicit_source_spec_cycle(|fs| format!("uuid={}", fs.uuid), None);
}

#[test]
fn explicit_label_spec_halts_and_resumes_the_source() {
    require_mount!();
    explicit_source_spec_cycle(|_| "label=rightlabel".into(), Some("rightlabel"));
}

#[test]
fn explicit_dev_spec_halts_and_resumes_the_source() {
    require_mount!();
    explicit_source_spec_cycle(|fs| format!("dev={}", fs.lo.dev()), None);
}

// ---------------------------------------------------------------------------------------
// auto.

#[test]
fn auto_records_then_rejects_a_different_filesystem() {
    require_mount!();
    let env = Env::new();
    let (src, vault) = (env.path("src"), env.path("vault"));
    let right = Ext4::new(env.dir.path(), "right", None);
    let wrong = Ext4::new(env.dir.path(), "wrong", None);
    let vfs = Ext4::new(env.dir.path(), "vault", None);
    let _v = vfs.mount(&vault);
    let job = env.job(Some("auto"), Some("auto"));

    let m = right.mount(&src);
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert_eq!(
        guard.required(Side::Source),
        None,
        "nothing recorded before the first run"
    );
    assert!(guard.record_auto(&job).expect("record"));
    assert!(!guard.record_auto(&job).expect("second record is a no-op"));
    let record = |side: &str| fs::read_to_string(job.job_dir().join(".reverberator/fs").join(side));
    assert!(record("source")
        .unwrap()
        .starts_with(&format!("uuid={}\n", right.uuid)));
    assert!(record("vault")
        .unwrap()
        .starts_with(&format!("uuid={}\n", vfs.uuid)));
    m.umount();

    let m = wrong.mount(&src);
    let (awaiting, _) = assert_halted(check(&mut guard), Side::Source, &wrong.uuid);
    assert_eq!(awaiting, format!("uuid={}", right.uuid));
    // A new guard (daemon restart, one-shot snapshot) reads the record from the vault.
    assert_halted(check_job_once(&job), Side::Source, &wrong.uuid);
    m.umount();

    let _m = right.mount(&src);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert_eq!(check_job_once(&job), MountCheck::Ready);
}

#[test]
fn auto_ignores_a_vault_record_naming_another_filesystem() {
    require_mount!();
    let env = Env::new();
    let vault = env.path("vault");
    let vfs = Ext4::new(env.dir.path(), "vault", None);
    let _v = vfs.mount(&vault);
    let job = env.job(None, Some("auto"));
    // A job folder copied from another disk: its record names that disk.
    let fs_dir = job.job_dir().join(".reverberator/fs");
    fs::create_dir_all(&fs_dir).unwrap();
    fs::write(
        fs_dir.join("vault"),
        "uuid=00000000-dead-beef-0000-000000000000\n",
    )
    .unwrap();

    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert_eq!(guard.required(Side::Vault), None);
    assert!(guard.record_auto(&job).unwrap());
    let text = fs::read_to_string(fs_dir.join("vault")).unwrap();
    assert!(text.starts_with(&format!("uuid={}\n", vfs.uuid)), "{text}");
}

// ---------------------------------------------------------------------------------------
// Absent spec.

#[test]
fn absent_spec_halts_when_the_source_falls_back_to_its_parent() {
    require_mount!();
    let env = Env::new();
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let job = env.job(None, None);
    let m = fs_a.mount(&env.path("src"));
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    m.umount();

    let (awaiting, _) = assert_halted(check(&mut guard), Side::Source, "unmounted");
    assert!(awaiting.contains("ext4"), "{awaiting}");
    let _m = fs_a.mount(&env.path("src"));
    assert_eq!(check(&mut guard), MountCheck::Ready);
}

/// The vault leaves: halted, and nothing (not even the job folder) appears in the bare
/// mountpoint, whatever is called meanwhile.
fn vault_leaves(vault_fs: Option<&str>) {
    let env = Env::new();
    let vault = env.path("vault");
    let vfs = Ext4::new(env.dir.path(), "vault", Some("vaultlabel"));
    let spec = vault_fs.map(|t| t.replace("UUID", &vfs.uuid));
    let job = env.job(Some("auto"), spec.as_deref());

    let m = vfs.mount(&vault);
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    m.umount();

    assert_halted(check(&mut guard), Side::Vault, "");
    if spec.is_some() {
        assert_halted(check_job_once(&job), Side::Vault, "");
    }
    // Without a spec a fresh guard cannot tell a bare mountpoint from a plain vault folder
    // (docs/MOUNTS.md); the long-lived guard saw the vault leave and refuses.
    assert!(
        guard.record_auto(&job).is_err(),
        "recorded into a bare mountpoint"
    );
    assert!(
        is_empty_dir(&vault),
        "something was created in the bare mountpoint"
    );

    let _m = vfs.mount(&vault);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert!(guard.record_auto(&job).unwrap());
    assert!(job.job_dir().join(".reverberator/fs/source").is_file());
}

#[test]
fn vault_unmounted_with_absent_spec_halts_and_writes_nothing() {
    require_mount!();
    vault_leaves(None);
}

#[test]
fn vault_unmounted_with_uuid_spec_halts_and_writes_nothing() {
    require_mount!();
    vault_leaves(Some("uuid=UUID"));
}

#[test]
fn vault_unmounted_with_label_spec_halts_and_writes_nothing() {
    require_mount!();
    vault_leaves(Some("label=vaultlabel"));
}

#[test]
fn missing_source_or_vault_directory_is_halted_not_an_error() {
    let env = Env::new();
    let job = env.job(None, None);
    fs::remove_dir(env.path("src")).unwrap();
    let mut guard = MountGuard::new(&job);
    assert_halted(check(&mut guard), Side::Source, "not there");
    fs::create_dir(env.path("src")).unwrap();
    fs::remove_dir(env.path("vault")).unwrap();
    assert_halted(check(&mut guard), Side::Vault, "not there");
    let auto_job = env.job(None, Some("auto"));
    let mut auto_guard = MountGuard::new(&auto_job);
    assert_halted(check(&mut auto_guard), Side::Vault, "not there");
    assert!(auto_guard.record_auto(&auto_job).is_err());
    assert!(!env.path("vault").exists(), "the vault was created");
    fs::create_dir(env.path("vault")).unwrap();
    assert_eq!(check(&mut guard), MountCheck::Ready);
}

// ---------------------------------------------------------------------------------------
// What IN_UNMOUNT never reports.

fn lazy_umount_with_open_file(source_fs: impl Fn(&Ext4) -> Option<String>) {
    let env = Env::new();
    let src = env.path("src");
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let job = env.job(source_fs(&fs_a).as_deref(), None);
    let m = fs_a.mount(&src);
    fs::write(src.join("held"), b"open").unwrap();
    let held = File::open(src.join("held")).unwrap();
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);

    m.umount_lazy();
    assert_halted(check(&mut guard), Side::Source, "");
    drop(held);
}

#[test]
fn lazy_umount_with_a_file_held_open_halts_absent_spec() {
    require_mount!();
    lazy_umount_with_open_file(|_| None);
}

#[test]
fn lazy_umount_with_a_file_held_open_halts_uuid_spec() {
    require_mount!();
    lazy_umount_with_open_file(|fs| Some(format!("uuid={}", fs.uuid)));
}

fn mounted_over_source(source_fs: impl Fn(&Ext4) -> Option<String>, own_mount: bool) {
    let env = Env::new();
    let src = env.path("src");
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let over = Ext4::new(env.dir.path(), "over", None);
    let spec = if own_mount { source_fs(&fs_a) } else { None };
    let job = env.job(spec.as_deref(), None);
    let _base = own_mount.then(|| fs_a.mount(&src));
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);

    let top = over.mount(&src);
    assert_halted(check(&mut guard), Side::Source, "");
    top.umount();
    assert_eq!(check(&mut guard), MountCheck::Ready);

    // A tmpfs over it: no device identity at all.
    let top = Mount::new("tmpfs", &src, &["-t", "tmpfs"]).unwrap();
    assert_halted(check(&mut guard), Side::Source, "tmpfs");
    top.umount();
    assert_eq!(check(&mut guard), MountCheck::Ready);
}

#[test]
fn a_filesystem_mounted_over_the_source_halts_absent_spec() {
    require_mount!();
    mounted_over_source(|_| None, true);
}

#[test]
fn a_filesystem_mounted_over_a_plain_source_directory_halts() {
    require_mount!();
    mounted_over_source(|_| None, false);
}

#[test]
fn a_filesystem_mounted_over_the_source_halts_uuid_spec() {
    require_mount!();
    mounted_over_source(|fs| Some(format!("uuid={}", fs.uuid)), true);
}

#[test]
fn a_filesystem_mounted_over_the_source_halts_label_and_dev_specs() {
    require_mount!();
    let env = Env::new();
    let src = env.path("src");
    let base = Ext4::new(env.dir.path(), "base", Some("base"));
    let over = Ext4::new(env.dir.path(), "over", Some("base-over"));
    for spec in ["label=base".to_owned(), format!("dev={}", base.lo.dev())] {
        let job = env.job(Some(&spec), None);
        let _b = base.mount(&src);
        let mut guard = MountGuard::new(&job);
        assert_eq!(check(&mut guard), MountCheck::Ready, "{spec}");
        let top = over.mount(&src);
        let (awaiting, _) = assert_halted(check(&mut guard), Side::Source, "base-over");
        assert_eq!(awaiting, spec);
        top.umount();
        assert_eq!(check(&mut guard), MountCheck::Ready, "{spec}");
    }
}

#[test]
fn a_bind_mount_of_the_same_filesystem_over_the_source_halts_even_when_the_uuid_matches() {
    require_mount!();
    let env = Env::new();
    let src = env.path("src");
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let _m = fs_a.mount(&src);
    fs::create_dir(src.join("elsewhere")).unwrap();
    let job = env.job(Some(&format!("uuid={}", fs_a.uuid)), None);
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    let bind = Mount::new(s(&src.join("elsewhere")), &src, &["--bind"]).unwrap();
    assert_halted(check(&mut guard), Side::Source, "covers");
    bind.umount();
    assert_eq!(check(&mut guard), MountCheck::Ready);
}

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
        eprintln!("skipped: {mkfs} is not installed (apt-get install btrfs-progs xfsprogs)");
        return;
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
    job.attributes_only = true;

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
    use reverberator::vault::snapshot::{snapshot_with_scan, SnapshotOutcome};
    match snapshot_with_scan(job).expect("snapshot") {
        SnapshotOutcome::Committed(v) => v.name.to_string(),
        SnapshotOutcome::Unchanged => panic!("the change was not seen"),
    }
}

fn which(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
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

// ---------------------------------------------------------------------------------------
// Detection: the mount table (MountWatcher) sees what IN_UNMOUNT never reports.

const MOUNTS: mio::Token = mio::Token(1);

fn registered_watcher() -> (mio::Poll, MountWatcher) {
    let poll = mio::Poll::new().expect("poll");
    let mut watcher = MountWatcher::new().expect("mountinfo");
    poll.registry()
        .register(&mut watcher, MOUNTS, mio::Interest::PRIORITY)
        .expect("register");
    (poll, watcher)
}

/// Wait (bounded) until the watcher reports a table in which `gone` is no longer mounted.
fn wait_until_unmounted(poll: &mut mio::Poll, watcher: &mut MountWatcher, gone: &Path) -> bool {
    let gone = fs::canonicalize(gone).expect("canonicalize");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut events = mio::Events::with_capacity(8);
    while std::time::Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(200)))
            .expect("poll");
        let ours = events.iter().any(|e| e.token() == MOUNTS);
        if ours && watcher.drain() && !mounted_at(watcher.table(), &gone) {
            return true;
        }
    }
    false
}

fn mounted_at(table: &MountTable, point: &Path) -> bool {
    table.entries().iter().any(|e| e.mount_point == point)
}

/// An inotify instance watching `dir` for everything, non-blocking.
fn inotify_on(dir: &Path) -> inotify::Inotify {
    let ino = inotify::Inotify::init().expect("inotify");
    ino.watches()
        .add(dir, inotify::WatchMask::ALL_EVENTS)
        .expect("add watch");
    ino
}

/// Whether an IN_UNMOUNT is among the events queued now.
fn unmount_queued(ino: &mut inotify::Inotify) -> bool {
    let mut buf = [0u8; 4096];
    let mut seen = false;
    while let Ok(events) = ino.read_events(&mut buf) {
        let mut any = false;
        for e in events {
            any = true;
            seen |= e.mask.contains(inotify::EventMask::UNMOUNT);
        }
        if !any {
            break;
        }
    }
    seen
}

#[test]
fn lazy_umount_with_a_held_file_sends_no_in_unmount_but_the_table_shows_it() {
    require_mount!();
    let env = Env::new();
    let src = env.path("src");
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let job = env.job(Some(&format!("uuid={}", fs_a.uuid)), None);
    let m = fs_a.mount(&src);
    fs::write(src.join("held"), b"open").unwrap();
    let held = File::open(src.join("held")).unwrap();
    let mut ino = inotify_on(&src);
    let (mut poll, mut watcher) = registered_watcher();
    let mut guard = MountGuard::new(&job);
    assert_eq!(guard.check(watcher.table()), MountCheck::Ready);

    m.umount_lazy();
    assert!(
        wait_until_unmounted(&mut poll, &mut watcher, &src),
        "the watcher saw nothing"
    );
    assert_halted(guard.check(watcher.table()), Side::Source, "not uuid=");
    // umount(2) has returned and the mount is gone, yet inotify said nothing: the
    // superblock lives on while `held` is open.
    assert!(
        !unmount_queued(&mut ino),
        "IN_UNMOUNT came although a file is held open"
    );
    drop(held);
    // Once the last file closes the superblock dies and IN_UNMOUNT finally comes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut late = false;
    while !late && std::time::Instant::now() < deadline {
        late = unmount_queued(&mut ino);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(late, "IN_UNMOUNT never came after the last close");
}

#[test]
fn unmounting_one_of_two_bind_mounts_halts_without_in_unmount() {
    require_mount!();
    let env = Env::new();
    let (src, disk) = (env.path("src"), env.path("disk"));
    fs::create_dir(&disk).unwrap();
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let _d = fs_a.mount(&disk);
    fs::create_dir(disk.join("data")).unwrap();
    for spec in [None, Some(format!("uuid={}", fs_a.uuid))] {
        let job = env.job(spec.as_deref(), None);
        let bind = Mount::new(s(&disk.join("data")), &src, &["--bind"]).unwrap();
        let mut ino = inotify_on(&src);
        let (mut poll, mut watcher) = registered_watcher();
        let mut guard = MountGuard::new(&job);
        assert_eq!(guard.check(watcher.table()), MountCheck::Ready, "{spec:?}");
        bind.umount();
        assert!(wait_until_unmounted(&mut poll, &mut watcher, &src));
        assert_halted(guard.check(watcher.table()), Side::Source, "");
        assert!(
            !unmount_queued(&mut ino),
            "the other bind keeps the superblock alive"
        );
    }
}

// ---------------------------------------------------------------------------------------
// btrfs subvolumes: st_dev differs from the mount's; mount ids do not lie.

#[test]
fn btrfs_subvolumes_map_to_their_mount_by_id_and_over_mounts_still_halt() {
    require_mount!();
    let (Some(_), Some(_)) = (which("mkfs.btrfs"), which("btrfs")) else {
        eprintln!("skipped: btrfs-progs is not installed");
        return;
    };
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let (src, top) = (env.path("src"), env.path("top"));
    fs::create_dir(&top).unwrap();
    let image = env.path("btrfs.img");
    File::create(&image)
        .and_then(|f| f.set_len(512 << 20))
        .unwrap();
    run("mkfs.btrfs", &["-f", "-q", s(&image)]).unwrap();
    let lo = Loop::attach(&image).unwrap();
    let uuid = run(
        "blkid",
        &["-c", "/dev/null", "-o", "value", "-s", "UUID", lo.dev()],
    )
    .unwrap();
    let _t = Mount::new(lo.dev(), &top, &[]).unwrap();
    for sv in ["sv", "sv2"] {
        run("btrfs", &["-q", "subvolume", "create", s(&top.join(sv))]).unwrap();
    }
    fs::create_dir(top.join("sv/data")).unwrap();

    let table = MountTable::read().unwrap();
    let inside = top.join("sv/data");
    let entry = table.mount_of(&inside).expect("mount of a subvolume path");
    assert_eq!(entry.mount_point, fs::canonicalize(&top).unwrap());
    let st_dev = fs::metadata(&inside).unwrap().dev();
    assert_ne!(
        st_dev,
        libc::makedev(entry.major, entry.minor),
        "the caveat: st_dev lies"
    );
    assert_eq!(
        signature_of(&inside).unwrap().uuid.as_deref(),
        Some(uuid.as_str())
    );

    let job = env.job(Some(&format!("uuid={uuid}")), None);
    let _sv = Mount::new(lo.dev(), &src, &["-o", "subvol=sv"]).unwrap();
    let table = MountTable::read().unwrap();
    assert_eq!(table.mount_of(&src).unwrap().root, Path::new("/sv"));
    let mut guard = MountGuard::new(&job);
    assert_eq!(check(&mut guard), MountCheck::Ready);
    // Another subvolume of the same filesystem over it: same UUID, different files.
    // (A bind mount: util-linux refuses a second `-o subvol=` mount of a device on the
    // same target.)
    let over = Mount::new(s(&top.join("sv2")), &src, &["--bind"]).unwrap();
    assert_halted(check(&mut guard), Side::Source, "covers");
    over.umount();
    assert_eq!(check(&mut guard), MountCheck::Ready);
}
