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

use reverberator::config::{FsSpec, JobConfig, Settings};
use reverberator::watch::mounts::{
    check_job_once, signature_of, spec_matches, MountCheck, MountGuard, MountTable, MountWatcher,
    Side,
};

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
            $crate::skip_test!("loop mounts are not permitted here: {reason}");
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
            source_fs: spec(source_fs),
            vault_fs: spec(vault_fs),
            settings: Settings::for_test(),
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

fn which(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

mod cow;
mod daemon;
mod detection;
mod guard;
mod signature;
mod smallfs;
