//! `.reverberator/retire.intent`: a retire plan written down (and fsynced) before the first
//! change to disk, so a retire cut short by a crash can be finished by the next writer.
//!
//! Format: a header line, then one record per line, fields separated by TAB (shown as `→`
//! below), paths and link texts escaped like every vault TSV field ([`crate::vault::escape`]):
//!
//! ```text
//! reverberator-retire-intent → 2
//! retired → V3--2026-11-23_10-00-00_+0100
//! heir → V4--2026-11-23_10-05-12_+0100
//! reason → keep_versions → 12 → 10
//! move → a/b → V9--2026-11-23_11-30-00_+0100 → a/b
//! split → a/b/c → V10--… → a/b/c → ../../../V3--…/a/b/c → V9--… → a/b/c → .reverberator/retire-stage/0/s → /vault/job/.reverberator/retire-stage/0/s → ../../../V10--…/a/b/c
//! repoint → V7--2026-11-23_11-00-00_+0100 → x → ../V3--…/a/b/x → ../V9--…/a/b/x
//! real → V8--2026-11-23_12-00-00_+0100 → y → ../V3--…/a/b/y → a/b/y → V9--… → (long path)/y
//! carry → V9--… → a/b/c → deep/a/b/c → V1--… → ../../../V1--…/a/b/c → ../../../../V1--…/a/b/c → /vault/job/V1--…/a/b/c
//! refs_at → 9 → 4180
//! times → V9--2026-11-23_11-30-00_+0100 → a → 1795632435 → 556771217 → 1795632434 → 92771165
//! ```
//!
//! Version 2 (written before a retire could split a folder) is read as it is: it has no
//! `split` or `refs_at` records (its refs lines are then written by a whole-file rewrite).
//! Version 1 (written before a retire could choose its receivers) is still read: its
//! `move → from → to` records move into the heir, its `link` records are ignored (they
//! were always empty).
//!
//! The text is parsed by [`from_str`] and written by [`to_string`] (pure), the file by
//! [`write`], [`read`] and [`remove`].

use std::io;
use std::path::{Path, PathBuf};

use super::plan::{Carry, DirTimes, Materialize, Move, Repoint, RetirePlan, RetireReason, Split};
use super::RetireError;
use crate::fs::write_atomic;
use crate::fs::Timestamp;
use crate::vault::escape::{escape, unescape};
use crate::vault::layout::{JobFolder, VersionName, PRIVATE_DIR};

/// The intent file's name inside `.reverberator/`.
pub const INTENT_FILE: &str = "retire.intent";
const HEADER: &str = "reverberator-retire-intent\t3";
const HEADER_V2: &str = "reverberator-retire-intent\t2";
const HEADER_V1: &str = "reverberator-retire-intent\t1";

/// The intent file of `folder`.
pub fn path(folder: &JobFolder) -> PathBuf {
    folder.root().join(PRIVATE_DIR).join(INTENT_FILE)
}

/// Write `plan` as the intent of `folder` (temp file, fsync, rename, fsync the folder).
pub fn write(folder: &JobFolder, plan: &RetirePlan) -> Result<(), RetireError> {
    let path = path(folder);
    write_atomic(&path, to_string(plan).as_bytes()).map_err(|e| io_err(&path, e))
}

/// The pending intent of `folder`, if any.
pub fn read(folder: &JobFolder) -> Result<Option<RetirePlan>, RetireError> {
    let path = path(folder);
    match std::fs::read_to_string(&path) {
        Ok(text) => from_str(&text)
            .map(Some)
            .map_err(|(line, message)| RetireError::Intent {
                path,
                line,
                message,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// Remove the intent of `folder` (the retire is complete) and make that durable.
pub fn remove(folder: &JobFolder) -> Result<(), RetireError> {
    let path = path(folder);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path, e)),
    }
    let dir = folder.root().join(PRIVATE_DIR);
    std::fs::File::open(&dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(&dir, e))
}

fn io_err(path: &Path, e: io::Error) -> RetireError {
    RetireError::Io(crate::error::PathError::new(path, e))
}

fn esc(p: &Path) -> String {
    escape(p.as_os_str())
}

/// The intent text of `plan`.
pub fn to_string(plan: &RetirePlan) -> String {
    let mut out = format!("{HEADER}\nretired\t{}\nheir\t{}\n", plan.retired, plan.heir);
    for r in &plan.reasons {
        out.push_str(&format!("reason\t{}\n", reason_fields(r)));
    }
    for m in &plan.moves {
        out.push_str(&format!(
            "move\t{}\t{}\t{}\n",
            esc(&m.from),
            m.receiver,
            esc(&m.to)
        ));
    }
    for s in &plan.splits {
        out.push_str(&format!(
            "split\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            esc(&s.from),
            s.receiver,
            esc(&s.to),
            esc(&s.old_target),
            s.holder,
            esc(&s.at),
            esc(&s.stage),
            esc(&s.stage_text),
            esc(&s.link_text)
        ));
    }
    for r in &plan.repoints {
        out.push_str(&format!(
            "repoint\t{}\t{}\t{}\t{}\n",
            r.version,
            esc(&r.path),
            esc(&r.old_target),
            esc(&r.new_target)
        ));
    }
    for m in &plan.materialize {
        out.push_str(&format!(
            "real\t{}\t{}\t{}\t{}\t{}\t{}\n",
            m.version,
            esc(&m.path),
            esc(&m.old_target),
            esc(&m.from),
            m.holder,
            esc(&m.in_holder)
        ));
    }
    for c in &plan.carried {
        out.push_str(&format!(
            "carry\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.receiver,
            esc(&c.from),
            esc(&c.path),
            c.target,
            esc(&c.old_target),
            esc(&c.new_target),
            esc(&c.transit)
        ));
    }
    for (v, len) in &plan.refs_at {
        out.push_str(&format!("refs_at\t{v}\t{len}\n"));
    }
    for t in &plan.times {
        out.push_str(&format!(
            "times\t{}\t{}\t{}\t{}\t{}\t{}\n",
            t.version,
            esc(&t.dir),
            t.atime.sec,
            t.atime.nsec,
            t.mtime.sec,
            t.mtime.nsec
        ));
    }
    out
}

fn reason_fields(r: &RetireReason) -> String {
    match r {
        RetireReason::KeepVersions { count, keep } => format!("keep_versions\t{count}\t{keep}"),
        RetireReason::Bytes { used, budget } => format!("bytes\t{used}\t{budget}"),
        RetireReason::Inodes { used, budget } => format!("inodes\t{used}\t{budget}"),
        RetireReason::Requested => "requested".to_owned(),
        RetireReason::Rules {
            keep_versions,
            rules,
        } => format!(
            "rules\t{keep_versions}\t{}\t{}\t{}\t{}\t{}\t{}",
            rules.within.map_or(0, |w| w.as_millis()),
            rules.hourly,
            rules.daily,
            rules.weekly,
            rules.monthly,
            rules.yearly
        ),
        RetireReason::VaultLimit { kept_by } => {
            let names: Vec<&str> = kept_by.iter().map(|k| k.name()).collect();
            format!("vault_limit\t{}", names.join(","))
        }
    }
}

/// Parse an intent text; the error is (1-based line, message).
pub fn from_str(text: &str) -> Result<RetirePlan, (usize, String)> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let v1 = match lines.next() {
        Some((_, HEADER | HEADER_V2)) => false,
        Some((_, HEADER_V1)) => true,
        _ => return Err((1, format!("the first line is not `{HEADER}`"))),
    };
    let mut b = Builder {
        v1,
        ..Builder::default()
    };
    for (n, line) in lines.filter(|(_, l)| !l.is_empty()) {
        b.record(line).map_err(|m| (n, m))?;
    }
    b.finish().map_err(|m| (text.lines().count(), m))
}

#[derive(Default)]
struct Builder {
    /// A version 1 intent: moves go into the heir, `link` records are ignored.
    v1: bool,
    retired: Option<VersionName>,
    heir: Option<VersionName>,
    reasons: Vec<RetireReason>,
    /// Moves, the receiver `None` in a version 1 intent (the heir, known at the end).
    moves: Vec<(PathBuf, Option<VersionName>, PathBuf)>,
    splits: Vec<Split>,
    repoints: Vec<Repoint>,
    materialize: Vec<Materialize>,
    carried: Vec<Carry>,
    times: Vec<DirTimes>,
    refs_at: Vec<(u64, u64)>,
}

impl Builder {
    fn record(&mut self, line: &str) -> Result<(), String> {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["retired", v] => self.retired = Some(version(v)?),
            ["heir", v] => self.heir = Some(version(v)?),
            ["reason", rest @ ..] => self.reasons.push(reason(rest)?),
            ["move", from, to] if self.v1 => {
                self.moves.push((field_path(from)?, None, field_path(to)?))
            }
            ["move", from, v, to] => {
                self.moves
                    .push((field_path(from)?, Some(version(v)?), field_path(to)?))
            }
            ["split", from, r, to, old, h, at, stage, stage_text, text] => {
                self.splits.push(Split {
                    from: field_path(from)?,
                    receiver: version(r)?,
                    to: field_path(to)?,
                    old_target: field_path(old)?,
                    holder: version(h)?,
                    at: field_path(at)?,
                    stage: field_path(stage)?,
                    stage_text: field_path(stage_text)?,
                    link_text: field_path(text)?,
                })
            }
            ["repoint", v, p, old, new] => self.repoints.push(Repoint {
                version: version(v)?,
                path: field_path(p)?,
                old_target: field_path(old)?,
                new_target: field_path(new)?,
            }),
            ["real", v, p, old, from, holder, in_holder] => self.materialize.push(Materialize {
                version: version(v)?,
                path: field_path(p)?,
                old_target: field_path(old)?,
                from: field_path(from)?,
                holder: version(holder)?,
                in_holder: field_path(in_holder)?,
            }),
            ["real", v, p, old, from, in_heir] if self.v1 => {
                let heir = self
                    .heir
                    .clone()
                    .ok_or("a `real` line before the `heir` line")?;
                self.materialize.push(Materialize {
                    version: version(v)?,
                    path: field_path(p)?,
                    old_target: field_path(old)?,
                    from: field_path(from)?,
                    holder: heir,
                    in_holder: field_path(in_heir)?,
                })
            }
            ["link", _] if self.v1 => {}
            ["carry", r, from, p, t, old, new, transit] => self.carried.push(Carry {
                receiver: version(r)?,
                from: field_path(from)?,
                path: field_path(p)?,
                target: version(t)?,
                old_target: field_path(old)?,
                new_target: field_path(new)?,
                transit: field_path(transit)?,
            }),
            ["refs_at", v, len] => self.refs_at.push((
                v.parse().map_err(|_| format!("bad version number `{v}`"))?,
                len.parse().map_err(|_| format!("bad length `{len}`"))?,
            )),
            ["times", v, d, a, an, m, mn] => self.times.push(DirTimes {
                version: version(v)?,
                dir: field_path(d)?,
                atime: Timestamp::new(int(a)?, int(an)?),
                mtime: Timestamp::new(int(m)?, int(mn)?),
            }),
            _ => return Err(format!("unknown record `{line}`")),
        }
        Ok(())
    }

    fn finish(self) -> Result<RetirePlan, String> {
        let heir = self.heir.ok_or("no `heir` line")?;
        let moves = self
            .moves
            .into_iter()
            .map(|(from, receiver, to)| Move {
                from,
                receiver: receiver.unwrap_or_else(|| heir.clone()),
                to,
            })
            .collect();
        Ok(RetirePlan {
            retired: self.retired.ok_or("no `retired` line")?,
            heir,
            reasons: self.reasons,
            moves,
            splits: self.splits,
            repoints: self.repoints,
            materialize: self.materialize,
            carried: self.carried,
            times: self.times,
            refs_at: self.refs_at,
        })
    }
}

fn version(text: &str) -> Result<VersionName, String> {
    text.parse()
        .map_err(|e: crate::vault::layout::VersionNameError| e.to_string())
}

fn field_path(text: &str) -> Result<PathBuf, String> {
    unescape(text).map(PathBuf::from).map_err(|e| e.to_string())
}

fn number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn int(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn reason(f: &[&str]) -> Result<RetireReason, String> {
    Ok(match f {
        ["keep_versions", c, k] => RetireReason::KeepVersions {
            count: number(c)? as usize,
            keep: u32::try_from(number(k)?).map_err(|e| e.to_string())?,
        },
        ["bytes", u, b] => RetireReason::Bytes {
            used: number(u)?,
            budget: number(b)?,
        },
        ["inodes", u, b] => RetireReason::Inodes {
            used: number(u)?,
            budget: number(b)?,
        },
        ["requested"] => RetireReason::Requested,
        ["rules", k, w, h, d, wk, m, y] => {
            let count = |t: &str| u32::try_from(number(t)?).map_err(|e| e.to_string());
            RetireReason::Rules {
                keep_versions: count(k)?,
                rules: crate::config::KeepRules {
                    within: Some(number(w)?)
                        .filter(|ms| *ms > 0)
                        .map(std::time::Duration::from_millis),
                    hourly: count(h)?,
                    daily: count(d)?,
                    weekly: count(wk)?,
                    monthly: count(m)?,
                    yearly: count(y)?,
                },
            }
        }
        ["vault_limit", names] => RetireReason::VaultLimit {
            kept_by: names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| super::policy::Keep::from_name(n).ok_or(format!("unknown rule `{n}`")))
                .collect::<Result<_, _>>()?,
        },
        _ => return Err(format!("unknown reason `{}`", f.join("\t"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    use crate::util::version as v;

    #[test]
    fn plans_round_trip_through_the_intent_text() {
        let odd = PathBuf::from(OsStr::from_bytes(b"we\tird/\xffname\n"));
        let plan = RetirePlan {
            retired: v(3),
            heir: v(4),
            reasons: vec![
                RetireReason::KeepVersions {
                    count: 12,
                    keep: 10,
                },
                RetireReason::Bytes { used: 5, budget: 4 },
                RetireReason::Inodes { used: 9, budget: 8 },
                RetireReason::Requested,
            ],
            moves: vec![Move {
                from: odd.clone(),
                receiver: v(9),
                to: PathBuf::from("x"),
            }],
            splits: vec![Split {
                from: odd.join("s"),
                receiver: v(6),
                to: PathBuf::from("x/s"),
                old_target: PathBuf::from("../../V3--x/s"),
                holder: v(9),
                at: PathBuf::from("x/s"),
                stage: PathBuf::from(".reverberator/retire-stage/0"),
                stage_text: PathBuf::from("/vault/job/.reverberator/retire-stage/0"),
                link_text: PathBuf::from("../../V10--x/x/s"),
            }],
            repoints: vec![Repoint {
                version: v(7),
                path: odd.join("y"),
                old_target: PathBuf::from("../../V3--x/a"),
                new_target: PathBuf::from("../../V4--x/a"),
            }],
            materialize: vec![Materialize {
                version: v(8),
                path: odd.join("z"),
                old_target: PathBuf::from("../../V3--x/b"),
                from: PathBuf::from("b"),
                holder: v(9),
                in_holder: odd.join("deep/b"),
            }],
            carried: vec![Carry {
                receiver: v(9),
                from: odd.join("c"),
                path: odd.join("deep/c"),
                target: v(1),
                old_target: PathBuf::from("../../V1--x/c"),
                new_target: PathBuf::from("../../../V1--x/c"),
                transit: PathBuf::from("/vault/job/V1--x/c"),
            }],
            refs_at: vec![(9, 4180), (3, 0)],
            times: vec![DirTimes {
                version: v(4),
                dir: odd,
                atime: Timestamp::new(-5, 999_999_999),
                mtime: Timestamp::new(1_700_000_000, 1),
            }],
        };
        let text = to_string(&plan);
        assert_eq!(from_str(&text).unwrap(), plan);
    }

    #[test]
    fn a_version_1_intent_moves_into_the_heir() {
        let text = format!(
            "{HEADER_V1}\nretired\t{}\nheir\t{}\nmove\ta\tb\nreal\t{}\ty\t../V3--x/a/y\ta/y\tb/y\nlink\tz\n",
            v(3),
            v(4),
            v(8)
        );
        let plan = from_str(&text).unwrap();
        assert_eq!(plan.moves[0].receiver, v(4));
        assert_eq!(plan.moves[0].to, Path::new("b"));
        assert_eq!(plan.materialize[0].holder, v(4));
        assert!(plan.carried.is_empty());
    }

    #[test]
    fn bad_intents_name_the_line() {
        assert_eq!(from_str("nope").unwrap_err().0, 1);
        let text = format!("{HEADER}\nretired\t{}\nbogus\tline\n", v(1));
        assert_eq!(from_str(&text).unwrap_err().0, 3);
        let text = format!("{HEADER}\nretired\t{}\n", v(1));
        assert!(from_str(&text).unwrap_err().1.contains("heir"));
    }
}
