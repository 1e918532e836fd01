//! Detection through the mount table where IN_UNMOUNT says nothing; btrfs subvolumes.

use super::*;

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
        crate::skip_test!("btrfs-progs is not installed");
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
