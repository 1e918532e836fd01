//! Where folders go in a retire: the splits inside a moving folder ([`splits_in`]), the
//! stage place of each ([`stage_place`]) and where every path of the retired version lives
//! after the moves and splits ([`Places`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{Gathered, Live, Move, Split, STAGE_DIR};
use crate::vault::layout::{link_fits, link_target, VersionName};

/// The splits inside the moving folder `top` (received at `to`), given the live links
/// `run` under it: walking the folders they show parents first, a folder whose newest
/// linker is newer than the holder of the folder around it goes to that linker (when at
/// least `data.split_min` links into it come from versions newer than that holder), when
/// that linker shows nothing else under it or around it, when it and every folder around
/// it keep their depth (the relative links inside stay valid at every place it passes)
/// and when it lies two levels down or deeper (its stage place then fits in
/// `.reverberator/retire-stage/`). Every other folder stays with the folder around it.
pub(super) fn splits_in(
    data: &Gathered,
    run: &[Live],
    (top, receiver, to): (&Path, &VersionName, &Path),
    out: &mut Vec<Split>,
) {
    let depth = |p: &Path| p.components().count();
    let mut newest: BTreeMap<&Path, (&VersionName, &Path)> = BTreeMap::new();
    let mut shown_by: HashMap<u64, Vec<&Path>> = HashMap::new();
    for &(v, p, q) in run {
        shown_by.entry(v.number).or_default().push(q);
        if q == top {
            continue;
        }
        match newest.entry(q) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((v, p));
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if v.number > e.get().0.number {
                    e.insert((v, p));
                }
            }
        }
    }
    // Each shown folder's holder after the retire, its path there, and whether it and
    // every folder around it keep their depth.
    let mut held: HashMap<&Path, (&VersionName, PathBuf, bool)> = HashMap::new();
    held.insert(top, (receiver, to.to_path_buf(), depth(top) == depth(to)));
    for (q, (v, p)) in newest {
        let Some((a, (holder, place, flat))) = q
            .ancestors()
            .skip(1)
            .find_map(|a| held.get(a).map(|h| (a, h.clone())))
        else {
            unreachable!("the top folder is around every folder of its run");
        };
        let at = place.join(q.strip_prefix(a).unwrap_or(q));
        let alone = shown_by[&v.number]
            .iter()
            .all(|s| *s == q || !(s.starts_with(q) || q.starts_with(s)));
        let link_text = link_target(&at, v, p);
        let newer = run
            .iter()
            .filter(|(w, _, s)| w.number > holder.number && s.starts_with(q))
            .count();
        if flat
            && newer >= data.split_min
            && alone
            && v.number > holder.number
            && depth(p) == depth(q)
            && depth(q) >= 2
            && link_fits(&link_text, v.number, data.limit)
        {
            out.push(Split {
                from: q.to_path_buf(),
                receiver: v.clone(),
                to: p.to_path_buf(),
                old_target: link_target(p, &data.retired, q),
                holder: holder.clone(),
                at,
                stage: PathBuf::new(),
                stage_text: PathBuf::new(),
                link_text,
            });
            held.insert(q, (v, p.to_path_buf(), true));
        } else {
            held.insert(q, (holder, at, flat));
        }
    }
}

/// The stage place of the `k`-th split of a folder `depth` levels down, relative to the
/// job folder: as many levels down as the folder is in a version (`V…/a/b` is three, so
/// is `.reverberator/retire-stage/k`).
pub(in crate::vault::retire) fn stage_place(k: usize, depth: usize) -> PathBuf {
    let mut out = Path::new(crate::vault::layout::PRIVATE_DIR).join(STAGE_DIR);
    out.push(k.to_string());
    for _ in 2..depth {
        out.push("s");
    }
    out
}

/// Where each folder of the retired version lives after the retire: in the innermost
/// move or split around it.
pub(in crate::vault::retire) struct Places<'p> {
    by_from: HashMap<&'p Path, (&'p VersionName, &'p Path)>,
}

impl<'p> Places<'p> {
    pub(in crate::vault::retire) fn new(moves: &'p [Move], splits: &'p [Split]) -> Places<'p> {
        let moved = moves
            .iter()
            .map(|m| (m.from.as_path(), (&m.receiver, m.to.as_path())));
        let split = splits
            .iter()
            .map(|s| (s.from.as_path(), (&s.receiver, s.to.as_path())));
        Places {
            by_from: moved.chain(split).collect(),
        }
    }

    /// The holder of `old` (a path inside the retired version) after the retire and its
    /// path there, with the path of the move or split it lies in, there.
    pub(in crate::vault::retire) fn find(
        &self,
        old: &Path,
    ) -> Option<(&'p VersionName, PathBuf, &'p Path)> {
        old.ancestors().find_map(|a| {
            let &(v, to) = self.by_from.get(a)?;
            let rest = old.strip_prefix(a).ok()?;
            let path = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            Some((v, path, to))
        })
    }
}
