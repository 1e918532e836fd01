//! A vault on ext4 with 1 KiB blocks, whose symlinks hold at most 1023 bytes: a structural
//! link longer than that is refused by the filesystem (`ENAMETOOLONG`) although it is under
//! the kernel's 4095, and the snapshot must then make the folder real (files hard-linked)
//! instead of failing. Every version must still dereference to its tree.

use std::path::PathBuf;

use super::{run, s, skip_reason, Loop, Mount};
use crate::util::{assert_all_versions, job_config, links_of, tree_state, TempTree};
use reverberator::vault::snapshot::{snapshot_with_scan, SnapshotOutcome};

#[test]
fn a_vault_with_short_symlinks_makes_longer_links_real() {
    require_mount!();
    let outer = tempfile::tempdir().expect("tempdir");
    let image = outer.path().join("small.img");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(16 << 20))
        .expect("image");
    run("mkfs.ext4", &["-F", "-q", "-b", "1024", s(&image)]).expect("mkfs.ext4");
    let vault = outer.path().join("vault");
    std::fs::create_dir(&vault).expect("mkdir");
    let lo = Loop::attach(&image).expect("losetup");
    let _mount = Mount::new(lo.dev(), &vault, &[]).expect("mount");

    let src = TempTree::new();
    let mut long = PathBuf::from("long");
    for i in 0..6 {
        long.push(format!("{i}{}", "n".repeat(199)));
    }
    src.file(long.join("same/f"), b"unchanged, ~1.2 KB deep")
        .file(long.join("change"), b"v0")
        .file("short/keep/f", b"unchanged, shallow");
    let job = job_config("small", src.path(), &vault);
    let job_dir = job.job_dir();
    let mut recorded = std::collections::BTreeMap::new();
    let mut snap = || match snapshot_with_scan(&job).expect("snapshot") {
        SnapshotOutcome::Committed(v) => {
            recorded.insert(v.name.to_string(), tree_state(src.path()));
        }
        SnapshotOutcome::Unchanged => panic!("nothing committed"),
    };
    snap();
    src.file(long.join("change"), b"v1!");
    snap();
    assert_all_versions(&job_dir, &recorded);
    let links = links_of(&job_dir, 1);
    assert!(links.contains(&PathBuf::from("short")), "{links:?}");
    assert!(!links.contains(&long.join("same")), "{links:?}");
    let folder = reverberator::vault::layout::JobFolder::open(&job_dir).expect("job folder");
    let problems = reverberator::vault::read::verify::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
}
