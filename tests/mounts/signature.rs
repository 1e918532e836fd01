//! Signatures of loop-mounted ext4 images, and the dd-clone caveat.

use super::*;

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
