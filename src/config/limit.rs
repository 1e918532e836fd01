//! Limit expressions (`vault_limit`): comma-separated terms; per dimension (bytes, inodes)
//! the largest term wins; `0` or empty means unlimited. `N%` is N percent of the vault
//! filesystem's bytes, `iN%` percent of its inodes, `iN` an inode count, anything else a
//! size with an optional unit (`2000`, `500MiB`, `1.5 TB`, `2G`; a unit with `i` is
//! 1024-based, without it 1000-based; case and a trailing `B` do not matter).
//!
//! Parsed once ([`LimitExpr::from_str`]) and resolved against the vault filesystem's
//! capacity ([`LimitExpr::resolve`]).

use std::str::FromStr;

/// A parsed limit expression.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LimitExpr {
    terms: Vec<Term>,
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Bytes(u64),
    BytesPercent(f64),
    Inodes(u64),
    InodesPercent(f64),
}

pub use crate::fs::FsCapacity;

/// A resolved budget: `None` means unlimited in that dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Bytes of allocated blocks the job's vault folder may use.
    pub bytes: Option<u64>,
    /// Inodes the job's vault folder may use.
    pub inodes: Option<u64>,
}

/// A malformed limit expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad limit term `{term}`: {reason}")]
pub struct LimitError {
    /// The offending term.
    pub term: String,
    /// What is wrong with it.
    pub reason: String,
}

impl LimitExpr {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when no term limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.terms.is_empty()
    }

    /// Resolve against the vault filesystem: the largest term wins per dimension.
    pub fn resolve(&self, cap: FsCapacity) -> Budget {
        let mut budget = Budget::default();
        for term in &self.terms {
            let (slot, value) = match *term {
                Term::Bytes(n) => (&mut budget.bytes, n),
                Term::BytesPercent(p) => (&mut budget.bytes, percent(cap.bytes, p)),
                Term::Inodes(n) => (&mut budget.inodes, n),
                Term::InodesPercent(p) => (&mut budget.inodes, percent(cap.inodes, p)),
            };
            *slot = Some(slot.map_or(value, |old| old.max(value)));
        }
        budget
    }
}

/// `p` percent of `total`, rounded down; at least 1 when `total` is not 0 (a percentage of
/// a real filesystem never means "nothing allowed").
fn percent(total: u64, p: f64) -> u64 {
    let n = (total as f64 * p / 100.0).floor() as u64;
    if total > 0 {
        n.max(1)
    } else {
        n
    }
}

impl FromStr for LimitExpr {
    type Err = LimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut terms = Vec::new();
        for raw in s.split(',') {
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            if let Some(term) = parse_term(t)? {
                terms.push(term);
            }
        }
        Ok(LimitExpr {
            terms,
            text: s.to_owned(),
        })
    }
}

fn parse_term(t: &str) -> Result<Option<Term>, LimitError> {
    let err = |reason: &str| LimitError {
        term: t.to_owned(),
        reason: reason.to_owned(),
    };
    let lower = t.to_ascii_lowercase();
    let (inodes, body) = match lower.strip_prefix('i') {
        Some(rest) => (true, rest.trim()),
        None => (false, lower.as_str()),
    };
    if let Some(num) = body.strip_suffix('%') {
        let p: f64 = num
            .trim()
            .parse()
            .map_err(|_| err("not a number before `%`"))?;
        if !(0.0..=100.0).contains(&p) || !p.is_finite() {
            return Err(err("a percentage must be between 0 and 100"));
        }
        if p == 0.0 {
            return Ok(None);
        }
        return Ok(Some(if inodes {
            Term::InodesPercent(p)
        } else {
            Term::BytesPercent(p)
        }));
    }
    if inodes {
        let n: u64 = body
            .parse()
            .map_err(|_| err("an inode count is a whole number (`i20000`)"))?;
        return Ok((n != 0).then_some(Term::Inodes(n)));
    }
    let n =
        parse_size(body).ok_or_else(|| err("not a size (examples: 2000, 500MiB, 1.5 TB, 2G)"))?;
    Ok((n != 0).then_some(Term::Bytes(n)))
}

/// Parse `2000`, `500MiB`, `1.5 TB`, `2G` (lower-cased already) into bytes.
fn parse_size(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let (prefix, binary) = match unit.strip_suffix('i') {
        Some(p) => (p, true),
        None => (unit, false),
    };
    let power = match prefix {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let bytes = value * base.powi(power);
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then(|| bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_example() {
        let e: LimitExpr = "10%,i20%,2000".parse().unwrap();
        let b = e.resolve(FsCapacity {
            bytes: 10000,
            inodes: 100,
        });
        assert_eq!(
            b,
            Budget {
                bytes: Some(2000),
                inodes: Some(20)
            }
        );
    }

    #[test]
    fn units() {
        assert_eq!(parse_size("500mib"), Some(500 * 1024 * 1024));
        assert_eq!(parse_size("1.5 tb"), Some(1_500_000_000_000));
        assert_eq!(parse_size("2g"), Some(2_000_000_000));
        assert_eq!(parse_size("2000"), Some(2000));
        assert_eq!(parse_size("2x"), None);
    }

    #[test]
    fn largest_term_wins_per_dimension() {
        let e: LimitExpr = "1G, 50%, i10, i2%, 2000".parse().unwrap();
        let b = e.resolve(FsCapacity {
            bytes: 10_000_000_000,
            inodes: 1000,
        });
        assert_eq!(b.bytes, Some(5_000_000_000));
        assert_eq!(b.inodes, Some(20));
        let only_bytes: LimitExpr = "500MiB".parse().unwrap();
        let b = only_bytes.resolve(FsCapacity {
            bytes: 1,
            inodes: 1,
        });
        assert_eq!(
            b,
            Budget {
                bytes: Some(524_288_000),
                inodes: None
            }
        );
    }

    #[test]
    fn case_spaces_and_trailing_b_do_not_matter() {
        for text in ["2GiB", "2 gib", "2Gi", " 2 GIB "] {
            let e: LimitExpr = text.parse().unwrap();
            let cap = FsCapacity {
                bytes: 0,
                inodes: 0,
            };
            assert_eq!(e.resolve(cap).bytes, Some(2 << 30), "{text:?}");
        }
        assert_eq!(parse_size("1.5kb"), Some(1500));
        assert_eq!(parse_size("1kib"), Some(1024));
    }

    #[test]
    fn a_tiny_percentage_of_a_real_filesystem_is_at_least_one() {
        let e: LimitExpr = "0.001%, i0.5%".parse().unwrap();
        let b = e.resolve(FsCapacity {
            bytes: 100,
            inodes: 10,
        });
        assert_eq!(
            b,
            Budget {
                bytes: Some(1),
                inodes: Some(1)
            }
        );
        let b = e.resolve(FsCapacity {
            bytes: 0,
            inodes: 0,
        });
        assert_eq!(
            b,
            Budget {
                bytes: Some(0),
                inodes: Some(0)
            }
        );
    }

    #[test]
    fn bad_terms_are_named() {
        for (text, term) in [
            ("5%, 2x", "2x"),
            ("101%", "101%"),
            ("i1.5", "i1.5"),
            ("%", "%"),
            ("i", "i"),
            ("-3", "-3"),
            ("nan%", "nan%"),
            ("1.2.3", "1.2.3"),
        ] {
            let err = text.parse::<LimitExpr>().unwrap_err();
            assert_eq!(err.term, term, "{text:?}");
        }
    }

    #[test]
    fn the_text_is_kept() {
        let e: LimitExpr = "10%,i20%".parse().unwrap();
        assert_eq!(e.as_str(), "10%,i20%");
        assert!(!e.is_unlimited());
    }

    #[test]
    fn zero_and_empty_are_unlimited() {
        for text in ["", "0", " 0 , ", "0%"] {
            let e: LimitExpr = text.parse().unwrap();
            assert!(e.is_unlimited(), "{text:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_text_parses_or_names_a_term_and_resolves_without_panic(
            text in "[0-9iIkKmMgGtTpPeEbB%., \\-]{0,24}",
            bytes in proptest::prelude::any::<u64>(),
            inodes in proptest::prelude::any::<u64>(),
        ) {
            match text.parse::<LimitExpr>() {
                Ok(e) => {
                    let b = e.resolve(FsCapacity { bytes, inodes });
                    if e.is_unlimited() {
                        proptest::prop_assert_eq!(b, Budget::default());
                    }
                }
                Err(err) => proptest::prop_assert!(text.contains(err.term.as_str())),
            }
        }
    }
}
