//! Unit tests on literal mountinfo, findmnt and blkid text, and the watcher in a real Poll.
//! nix makes and undoes the test mounts (`mount`, `umount2`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::config::FsSpec;

/// Root, a bind mount of a subdirectory, optional fields, escaped names, a btrfs subvolume
/// and a mount hidden under a later mount of its parent.
const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
42 27 7:0 / /mnt/my\\040disk rw,relatime shared:7 master:2 - ext4 /dev/loop0 rw
43 27 7:0 /photos /srv/photos rw,relatime - ext4 /dev/loop0 rw
44 27 0:45 /@home /home rw,relatime propagate_from:1 unbindable - btrfs /dev/sda2 rw,subvol=/@home
50 27 0:50 / /data rw - tmpfs tmpfs rw
51 50 0:51 / /data/inner rw - tmpfs tmpfs rw
52 50 0:52 / /data rw - tmpfs over rw
53 42 0:53 / /mnt/my\\040disk rw - tmpfs stacked rw
";

fn table() -> MountTable {
    MountTable::from_str(MOUNTINFO).unwrap()
}

#[test]
fn parses_fields_escapes_and_optional_fields() {
    let t = table();
    assert_eq!(t.entries().len(), 9);
    let disk = t.by_id(42).unwrap();
    assert_eq!(disk.parent_id, 27);
    assert_eq!((disk.major, disk.minor), (7, 0));
    assert_eq!(disk.devno(), "7:0");
    assert_eq!(disk.mount_point, Path::new("/mnt/my disk"));
    assert_eq!(disk.optional, ["shared:7", "master:2"]);
    assert_eq!(disk.fstype, "ext4");
    assert_eq!(disk.source, "/dev/loop0");
    assert_eq!(disk.options, "rw,relatime");
    assert_eq!(disk.super_options, "rw");
    let home = t.by_id(44).unwrap();
    assert_eq!(home.root, Path::new("/@home"));
    assert_eq!(home.optional, ["propagate_from:1", "unbindable"]);
    assert!(t.by_id(22).unwrap().optional.is_empty());
}

#[test]
fn a_bind_mount_shares_device_but_not_root() {
    let t = table();
    let (whole, bind) = (t.by_id(42).unwrap(), t.by_id(43).unwrap());
    assert_eq!(whole.devno(), bind.devno());
    assert_eq!(bind.root, Path::new("/photos"));
    assert!(!whole.same_content(bind));
}

#[test]
fn unescapes_tab_newline_backslash_and_keeps_other_backslashes() {
    let line = "60 27 0:60 / /a\\011b\\012c\\134d\\x rw - tmpfs sp\\040ace rw\n";
    let t = MountTable::from_str(line).unwrap();
    let e = t.by_id(60).unwrap();
    assert_eq!(e.mount_point, Path::new("/a\tb\nc\\d\\x"));
    assert_eq!(e.source, "sp ace");
}

#[test]
fn malformed_lines_name_their_line_number() {
    let err =
        MountTable::from_str("27 1 254:0 / / rw - ext4 /dev/vda rw\nbogus line\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(MountTable::from_str("27 1 254-0 / / rw - ext4 /dev/vda rw\n").is_err());
    assert!(MountTable::from_str("27 1 254:0 / / rw ext4 /dev/vda rw\n").is_err());
    // A missing super-options field (seen on some old kernels) is tolerated.
    let t = MountTable::from_str("27 1 254:0 / / rw - ext4 /dev/vda\n\n").unwrap();
    assert_eq!(t.by_id(27).unwrap().super_options, "");
}

#[test]
fn resolves_paths_through_visible_mounts_only() {
    let t = table();
    let id = |p: &str| t.resolve_by_path(Path::new(p)).map(|e| e.mount_id);
    assert_eq!(id("/"), Some(27));
    assert_eq!(id("/etc/passwd"), Some(27));
    assert_eq!(id("/proc/self"), Some(22));
    assert_eq!(id("/srv/photos/2024"), Some(43));
    assert_eq!(id("/srv/photosx"), Some(27));
    assert_eq!(id("/home/u"), Some(44));
    // /data/inner (51) sits on the first /data (50), which 52 covers: 52 is what shows.
    assert_eq!(id("/data/inner/f"), Some(52));
    // A stacked mount at the same mount point: the top one.
    assert_eq!(id("/mnt/my disk/x"), Some(53));
}

#[test]
fn diff_lists_mounted_and_unmounted() {
    let old = table();
    let newer = MountTable::from_str(
        &MOUNTINFO
            .lines()
            .filter(|l| !l.starts_with("53 "))
            .chain(["70 27 0:70 / /new rw - tmpfs tmpfs rw"])
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let diff = old.diff(&newer);
    let ids = |v: &[MountEntry]| v.iter().map(|e| e.mount_id).collect::<Vec<_>>();
    assert_eq!(ids(&diff.mounted), [70]);
    assert_eq!(ids(&diff.unmounted), [53]);
    let same = old.diff(&old);
    assert!(same.mounted.is_empty() && same.unmounted.is_empty());
}

#[test]
fn mount_of_finds_the_real_root_mount() {
    let t = MountTable::read().unwrap();
    let root = t.mount_of(Path::new("/")).unwrap();
    assert_eq!(root.mount_point, Path::new("/"));
    let proc_self = t.mount_of(Path::new("/proc/self")).unwrap();
    assert_eq!(proc_self.fstype, "proc");
    assert!(t.mount_of(Path::new("/no/such/path/here")).is_none());
}

const FINDMNT: &str = r#"{
   "filesystems": [
      {
         "id": 42,
         "source": "/dev/loop0",
         "target": "/tmp/lt/mnt",
         "fstype": "ext4",
         "uuid": "34c34a22-5811-4c07-a572-1db9ef225af3",
         "partuuid": null,
         "label": "tlab",
         "partlabel": null
      }
   ]
}"#;

#[test]
fn parses_findmnt_json_with_numbers_strings_and_nulls() {
    let sig = parse_findmnt(FINDMNT).unwrap();
    assert_eq!(
        sig.uuid.as_deref(),
        Some("34c34a22-5811-4c07-a572-1db9ef225af3")
    );
    assert_eq!(sig.label.as_deref(), Some("tlab"));
    assert_eq!(sig.partuuid, None);
    assert_eq!(sig.mount_id, Some(42));
    assert_eq!(sig.device.as_deref(), Some(Path::new("/dev/loop0")));
    let old = r#"{"filesystems": [{"id": "7", "source": "/dev/sda2[/@home]", "uuid": ""}]}"#;
    let sig = parse_findmnt(old).unwrap();
    assert_eq!(sig.mount_id, Some(7));
    assert_eq!(sig.device.as_deref(), Some(Path::new("/dev/sda2")));
    assert_eq!(sig.uuid, None);
    assert!(parse_findmnt("not json").is_none());
    assert!(parse_findmnt(r#"{"filesystems": []}"#).is_none());
}

#[test]
fn parses_blkid_export_with_escapes() {
    let text = "DEVNAME=/dev/sdb1\nUUID=ABCD-1234\nLABEL=my\\ backup\\$\nTYPE=vfat\n\
                PARTLABEL=Backup\nPARTUUID=0a1b2c3d-01\n";
    let sig = parse_blkid_export(text);
    assert_eq!(sig.uuid.as_deref(), Some("ABCD-1234"));
    assert_eq!(sig.label.as_deref(), Some("my backup$"));
    assert_eq!(sig.partlabel.as_deref(), Some("Backup"));
    assert_eq!(sig.partuuid.as_deref(), Some("0a1b2c3d-01"));
    assert_eq!(sig.fstype.as_deref(), Some("vfat"));
    assert_eq!(sig.device.as_deref(), Some(Path::new("/dev/sdb1")));
}

fn sig() -> FsSignature {
    FsSignature {
        uuid: Some("34C34A22-5811".into()),
        partuuid: None,
        label: Some("Backup".into()),
        partlabel: Some("part one".into()),
        device: Some(PathBuf::from("/dev/loop0")),
        fstype: Some("ext4".into()),
        mountpoint: Some(PathBuf::from("/mnt")),
        mount_id: Some(42),
    }
}

#[test]
fn spec_matching_per_kind() {
    let s = sig();
    let m = |spec: &str| spec_matches(&spec.parse::<FsSpec>().unwrap(), &s);
    assert!(m("uuid=34c34a22-5811"));
    assert!(!m("uuid=34c34a22-5812"));
    assert!(m("label=Backup"));
    assert!(!m("label=backup"));
    assert!(m("partlabel=part one"));
    assert!(!m("partuuid=0a1b2c3d-01"));
    assert!(m("dev=/dev/loop0"));
    assert!(!m("dev=/dev/loop1"));
    assert!(!m("auto"));
}

#[test]
fn display_follows_the_seed_order() {
    let mut s = sig();
    assert_eq!(s.to_string(), "uuid=34C34A22-5811");
    s.uuid = None;
    s.partuuid = Some("pu".into());
    assert_eq!(s.to_string(), "partuuid=pu");
    s.partuuid = None;
    assert_eq!(s.to_string(), "label=Backup");
    s.label = None;
    assert_eq!(s.to_string(), "partlabel=part one");
    s.partlabel = None;
    assert_eq!(s.to_string(), "dev=/dev/loop0");
    assert!(s.describe().contains("ext4 on /dev/loop0 at /mnt"));
}

#[test]
fn signature_of_the_root_filesystem_names_its_mount() {
    let sig = signature_of(Path::new("/")).unwrap();
    assert_eq!(sig.mountpoint.as_deref(), Some(Path::new("/")));
    assert!(sig.mount_id.is_some());
    assert!(sig.to_spec().is_some());
    assert!(matches!(
        signature_of(Path::new("/no/such/dir")),
        Err(MountError::NoMount { .. })
    ));
}

#[test]
fn watcher_drain_reports_no_change_when_nothing_changed() {
    let mut watcher = MountWatcher::new().unwrap();
    // Other processes (parallel tests) may mount meanwhile: drain must settle to false.
    let settled = (0..100).any(|_| !watcher.drain());
    assert!(settled, "drain() never reported an unchanged table");
    assert!(!watcher.table().entries().is_empty());
}

#[test]
fn a_bare_mountpoint_listed_in_fstab_is_halted_until_mounted() {
    let dir = tempfile::tempdir().unwrap();
    let (src, vault) = (dir.path().join("src"), dir.path().join("vault"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&vault).unwrap();
    let fstab = dir.path().join("fstab");
    let target = std::fs::canonicalize(&vault).unwrap();
    let line = format!("LABEL=backup {} ext4 noauto 0 2\n", target.display());
    std::fs::write(&fstab, line).unwrap();
    let job = crate::config::JobConfig {
        vault_fs: Some(FsSpec::Auto),
        ..crate::config::JobConfig::for_test("fstab test", &src, &vault)
    };
    let mut guard = MountGuard::with_fstab(&job, &fstab);
    let table = MountTable::read().unwrap();
    match guard.check(&table) {
        MountCheck::Halted { side, reason, .. } => {
            assert_eq!(side, Side::Vault);
            assert!(reason.contains("LABEL=backup"), "{reason}");
        }
        MountCheck::Ready => panic!("a bare fstab mountpoint was accepted"),
    }
    assert!(guard.record_auto(&job).is_err());
    assert_eq!(std::fs::read_dir(&vault).unwrap().count(), 0);
    let flags = nix::mount::MsFlags::empty();
    if let Err(e) = nix::mount::mount(Some("tmpfs"), &vault, Some("tmpfs"), flags, None::<&str>) {
        eprintln!("skipped the mounted half: cannot mount a tmpfs here ({e})");
        return;
    }
    let _mounted = BindMount(vault.clone());
    let table = MountTable::read().unwrap();
    assert_eq!(guard.check(&table), MountCheck::Ready);
}

/// A bind mount made by this test, undone on drop (also on panic).
struct BindMount(PathBuf);

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn watcher_in_a_poll_sees_a_bind_mount() {
    use mio::{Interest, Poll, Token};
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (dir.path().join("from"), dir.path().join("to"));
    std::fs::create_dir(&from).unwrap();
    std::fs::create_dir(&to).unwrap();

    let mut poll = Poll::new().unwrap();
    let mut watcher = MountWatcher::new().unwrap();
    poll.registry()
        .register(&mut watcher, Token(7), Interest::READABLE)
        .unwrap();
    let flags = nix::mount::MsFlags::MS_BIND;
    if let Err(e) = nix::mount::mount(Some(&from), &to, None::<&str>, flags, None::<&str>) {
        eprintln!("skipped: cannot bind-mount here ({e}); needs root in a mount namespace");
        return;
    }
    let bind = BindMount(to.clone());
    assert!(
        wait_for_change(&mut poll, &mut watcher),
        "no change seen after mount"
    );
    let point = std::fs::canonicalize(&to).unwrap();
    let listed = |w: &MountWatcher| w.table().entries().iter().any(|e| e.mount_point == point);
    assert!(listed(&watcher));
    drop(bind);
    assert!(
        wait_for_change(&mut poll, &mut watcher),
        "no change seen after umount"
    );
    assert!(!listed(&watcher));
}

/// Poll until the watcher reports a change (other processes may mount things too; that
/// only makes this pass sooner, and the caller checks the table for its own mount).
fn wait_for_change(poll: &mut mio::Poll, watcher: &mut MountWatcher) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = mio::Events::with_capacity(8);
    while Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(500)))
            .unwrap();
        let ours = events
            .iter()
            .any(|e| e.token() == mio::Token(7) && e.is_priority());
        if ours && watcher.drain() {
            return true;
        }
    }
    false
}

/// A table read before the path's mount was made may hold the path's (reused) mount id for
/// a mount elsewhere: that entry is not the path's mount (CI saw the guard halt a job as
/// "covered" by another test's tmpfs that had had the same id).
#[test]
fn a_reused_mount_id_elsewhere_is_not_the_paths_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let Ok(Some(id)) = crate::fs::mount_id(tmp.path(), crate::fs::MountId::Plain) else {
        eprintln!("skipped: no STATX_MNT_ID here");
        return;
    };
    let text = format!("{id} 1 0:99 / /no/such/elsewhere rw - tmpfs tmpfs rw\n");
    let table = MountTable::from_str(&text).unwrap();
    assert!(table.by_id(id).is_some());
    assert!(table.mount_of(tmp.path()).is_none());
    let text = format!("{id} 1 0:99 / / rw - ext4 /dev/x rw\n");
    let table = MountTable::from_str(&text).unwrap();
    assert!(table.mount_of(tmp.path()).is_some());
}
