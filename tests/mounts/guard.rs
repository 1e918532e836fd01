//! MountGuard rules: explicit specs, `auto`, absent spec, the vault leaving, over-mounts.

use super::*;

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
    // Changed while mounted elsewhere: the source path is still a bare directory.
    let elsewhere = env.path("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let m = fs_a.mount(&elsewhere);
    fs::write(elsewhere.join("changed-elsewhere"), b"x").unwrap();
    assert_halted(check(&mut guard), Side::Source, "unmounted");
    m.umount();
    let _m = fs_a.mount(&env.path("src"));
    assert_eq!(check(&mut guard), MountCheck::Ready);
    assert!(env.path("src/changed-elsewhere").is_file());
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

#[test]
fn a_table_older_than_the_mount_is_read_again() {
    require_mount!();
    let env = Env::new();
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let job = env.job(Some(&format!("uuid={}", fs_a.uuid)), None);
    let stale = MountTable::read().unwrap();
    let _m = fs_a.mount(&env.path("src"));
    let mut guard = MountGuard::new(&job);
    // The path's mount id is not in the stale table: the guard reads a fresh one.
    assert_eq!(guard.check(&stale), MountCheck::Ready);
}
