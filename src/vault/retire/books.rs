//! The bookkeeping a retire rewrites: the refs files of the versions that repointed and
//! carried links point into now, and the links files of the receivers (moved links gone,
//! carried links added) and of the versions whose link was made a real copy. The files
//! are edited as lines of bytes, not parsed into paths: at N=300 a retire rewrites those
//! of ~150 versions, each listing up to thousands of links, and parsing, sorting and
//! formatting them was a quarter of its CPU. [`apply`](super::apply) writes the results
//! in one batch ([`write_atomic_batch`](crate::fs::write_atomic_batch)).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::plan::RetirePlan;
use super::RetireError;
use crate::error::IoContext;
use crate::vault::layout::{links_text, refs_text, JobFolder};

/// Give the refs file of every version a repointed, carried or left-behind link points
/// into now a line for each: appended in place at the length the intent recorded for it
/// ([`RetirePlan::refs_at`]: a replay cuts the file back there and writes the same lines
/// again), not synced (the caller syncs). Returns the whole new text of those the intent
/// has no length for (an intent written before lengths were recorded), for the atomic
/// batch. Lines are not deduplicated: every reader takes them as a set. (Rewriting each
/// file whole, with a pass over every old line, was a sixth of a retire's CPU at N=300,
/// where ~150 refs files of thousands of lines each gain a few lines.)
pub(super) fn write_refs(
    folder: &JobFolder,
    plan: &RetirePlan,
) -> Result<Vec<(PathBuf, Vec<u8>)>, RetireError> {
    let at: HashMap<u64, u64> = plan.refs_at.iter().copied().collect();
    let mut files = Vec::new();
    for (target, lines) in plan.new_refs() {
        let path = folder.refs_file(target);
        if let Some(&len) = at.get(&target) {
            folder
                .put_refs_at(target, len, &refs_text(lines))
                .at(&path)?;
            continue;
        }
        let mut text = folder.refs_bytes(target).at(&path)?;
        if text.last().is_some_and(|b| *b != b'\n') {
            text.push(b'\n');
        }
        text.extend_from_slice(&refs_text(lines));
        files.push((path, text));
    }
    Ok(files)
}

/// The new text of the links file of every version whose links changed: a receiver loses
/// the links its moved (or split) folders replaced and gains the carried links and the
/// links splits leave in it; a version whose link was made a real copy loses it.
/// Unchanged files are left out.
pub(super) fn new_links_files(
    folder: &JobFolder,
    plan: &RetirePlan,
) -> Result<Vec<(PathBuf, Vec<u8>)>, RetireError> {
    let mut change: BTreeMap<u64, (Vec<&Path>, Vec<&Path>)> = BTreeMap::new();
    for m in &plan.moves {
        change.entry(m.receiver.number).or_default().0.push(&m.to);
    }
    for m in &plan.materialize {
        change.entry(m.version.number).or_default().0.push(&m.path);
    }
    for c in &plan.carried {
        change.entry(c.receiver.number).or_default().1.push(&c.path);
    }
    for s in &plan.splits {
        change.entry(s.receiver.number).or_default().0.push(&s.to);
        change.entry(s.holder.number).or_default().1.push(&s.at);
    }
    let mut files = Vec::new();
    for (number, (gone, added)) in change {
        let path = folder.links_file(number);
        let old = folder.links_bytes(number).at(&path)?;
        if let Some(text) = edit_lines(&old, &links_text(gone), &links_text(added)) {
            files.push((path, text));
        }
    }
    Ok(files)
}

/// The non-empty lines of a bookkeeping text.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

/// `old`'s lines without those in `gone`, then each line of `add` it lacks (once); `None`
/// when that is what `old` holds already. Lines compare as bytes: every writer escapes a
/// path the one way [`escape`](crate::vault::escape::escape) does. `gone` and `add` are
/// the few lines of one retire and are looked up sorted; `old`'s lines (thousands, in a
/// receiver at N=300) are not hashed or deduplicated (every reader takes them as a set):
/// hashing each of them was most of this edit's time.
fn edit_lines(old: &[u8], gone: &[u8], add: &[u8]) -> Option<Vec<u8>> {
    let sorted = |text| {
        let mut v: Vec<&[u8]> = lines(text).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (gone, add) = (sorted(gone), sorted(add));
    let mut present = vec![false; add.len()];
    let mut out = Vec::with_capacity(old.len() + add.len());
    let mut changed = false;
    for line in lines(old) {
        if gone.binary_search(&line).is_ok() {
            changed = true;
            continue;
        }
        if let Ok(i) = add.binary_search(&line) {
            present[i] = true;
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    for (line, _) in add.iter().zip(&present).filter(|(_, p)| !**p) {
        changed = true;
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_added_once_and_gone_lines_removed() {
        let old = b"a/b\nc\n\nd\n";
        let edited = edit_lines(old, b"c\n", b"e\na/b\ne\n").unwrap();
        assert_eq!(edited, b"a/b\nd\ne\n");
    }

    #[test]
    fn old_lines_are_kept_as_they_are() {
        // Not deduplicated (readers take a set); only an added line already there is not
        // added again.
        assert_eq!(
            edit_lines(b"b\nb\na\n", b"", b"a\nc\n").unwrap(),
            b"b\nb\na\nc\n"
        );
    }

    #[test]
    fn an_edit_that_changes_nothing_is_none() {
        assert_eq!(edit_lines(b"a\nb\n", b"x\n", b"b\n"), None);
        assert_eq!(edit_lines(b"", b"", b""), None);
    }

    #[test]
    fn a_line_both_gone_and_added_stays() {
        // As before: the links kept are the old ones without the gone ones, plus the added.
        assert_eq!(edit_lines(b"a\n", b"a\n", b"a\n").unwrap(), b"a\n");
    }

    #[test]
    fn a_last_line_without_its_newline_is_kept_whole() {
        assert_eq!(
            edit_lines(b"1\ta", b"", b"2\tb\n").unwrap(),
            b"1\ta\n2\tb\n"
        );
    }
}
