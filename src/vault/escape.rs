//! Escaping of path (and message) fields in the vault's TSV files.
//!
//! A file name may hold any byte but `/` and NUL, while a TSV field may hold no raw TAB,
//! LF or CR and should be UTF-8 text. [`escape`] maps a name to a field and [`unescape`]
//! maps it back, byte for byte:
//!
//! | in the name                 | in the field            |
//! |-----------------------------|-------------------------|
//! | `\`                         | `\\`                    |
//! | TAB                         | `\t`                    |
//! | LF                          | `\n`                    |
//! | CR                          | `\r`                    |
//! | a byte that is not UTF-8    | `\xHH` (lowercase hex)  |
//! | anything else               | itself                  |
//!
//! [`unescape`] also accepts uppercase hex digits. It refuses an unknown escape or a
//! dangling `\`. This module knows nothing about which files use it.
//!
//! It also holds the one csv configuration every vault TSV file uses ([`tsv_reader`],
//! [`tsv_writer`]): tab delimiter, no quoting, LF line ends; and [`read_table`], the one
//! reader of such a file's header and records (each file's module parses the fields).

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A field that is not valid escaped text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad escape at byte {offset} of {field:?}: {what}")]
pub struct EscapeError {
    /// The whole field as read.
    pub field: String,
    /// Byte offset of the offending `\`.
    pub offset: usize,
    /// What is wrong there.
    pub what: &'static str,
}

/// The TSV field for the name or path `name` (see the module docs).
pub fn escape(name: &OsStr) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// One valid character, escaped if it is `\`, TAB, LF or CR.
fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c => out.push(c),
    }
}

/// The name or path that [`escape`] turned into `field`.
pub fn unescape(field: &str) -> Result<OsString, EscapeError> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let (byte, used) = decode_escape(&bytes[i..]).map_err(|what| EscapeError {
            field: field.to_string(),
            offset: i,
            what,
        })?;
        out.push(byte);
        i += used;
    }
    Ok(OsString::from_vec(out))
}

/// Decode the escape at the start of `rest` (which starts with `\`): the byte it stands
/// for and how many input bytes it used.
fn decode_escape(rest: &[u8]) -> Result<(u8, usize), &'static str> {
    match rest.get(1) {
        Some(b'\\') => Ok((b'\\', 2)),
        Some(b't') => Ok((b'\t', 2)),
        Some(b'n') => Ok((b'\n', 2)),
        Some(b'r') => Ok((b'\r', 2)),
        Some(b'x') => {
            let hi = rest.get(2).and_then(|b| hex_value(*b));
            let lo = rest.get(3).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => Ok((hi * 16 + lo, 4)),
                _ => Err("\\x needs two hex digits"),
            }
        }
        Some(_) => Err("unknown escape"),
        None => Err("dangling backslash at the end"),
    }
}

/// The value of one hex digit.
fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The csv reader settings of every vault TSV file: tab-separated, a header line, no
/// quoting (escaping guarantees no raw separator in a field), every row the same width.
pub fn tsv_reader() -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.delimiter(b'\t')
        .quoting(false)
        .has_headers(true)
        .flexible(false);
    b
}

/// The csv writer settings matching [`tsv_reader`].
pub fn tsv_writer() -> csv::WriterBuilder {
    let mut b = csv::WriterBuilder::new();
    b.delimiter(b'\t')
        .quote_style(csv::QuoteStyle::Never)
        .terminator(csv::Terminator::Any(b'\n'))
        .has_headers(false);
    b
}

/// What is wrong with a vault TSV file before any field is looked at.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The text is not a well-formed TSV (bad UTF-8, a row of the wrong width, ...).
    #[error("line {line}: {source}")]
    Tsv {
        /// 1-based line number.
        line: u64,
        /// What the csv reader said.
        #[source]
        source: csv::Error,
    },
    /// The first line is not the expected header.
    #[error("the header is {found:?}, expected {expected:?}")]
    Header {
        /// The header line found.
        found: String,
        /// The header line the file must have.
        expected: String,
    },
}

impl TableError {
    /// A csv error with the line it names, else `fallback`.
    pub fn tsv(fallback: u64, source: csv::Error) -> TableError {
        let line = source.position().map_or(fallback, |p| p.line());
        TableError::Tsv { line, source }
    }
}

/// Read a vault TSV table from `r`: the first line must be `header` (empty input is no
/// rows), then `parse` turns each record into a row; the first error stops the read.
pub fn read_table<T, E: From<TableError>>(
    r: impl Read,
    header: &[&str],
    mut parse: impl FnMut(&csv::StringRecord) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut rdr = tsv_reader().from_reader(r);
    let found = rdr.headers().map_err(|e| TableError::tsv(1, e))?.clone();
    if found.is_empty() {
        return Ok(Vec::new());
    }
    if found.iter().ne(header.iter().copied()) {
        let found = found.iter().collect::<Vec<_>>().join("\t");
        let expected = header.join("\t");
        return Err(TableError::Header { found, expected }.into());
    }
    rdr.records()
        .map(|rec| parse(&rec.map_err(|e| TableError::tsv(0, e))?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn os(b: &[u8]) -> &OsStr {
        OsStr::from_bytes(b)
    }

    #[test]
    fn plain_names_are_unchanged() {
        for s in ["a", "dir/file.txt", "-leading dash", "späce ünïcode ✓", ""] {
            assert_eq!(escape(OsStr::new(s)), s);
        }
    }

    #[test]
    fn specials_are_escaped() {
        assert_eq!(escape(os(b"a\tb")), "a\\tb");
        assert_eq!(escape(os(b"a\nb\rc")), "a\\nb\\rc");
        assert_eq!(escape(os(b"back\\slash")), "back\\\\slash");
        assert_eq!(escape(os(b"bad\xff\xfe")), "bad\\xff\\xfe");
        // A truncated multi-byte sequence is escaped byte by byte.
        assert_eq!(escape(os(b"x\xc3")), "x\\xc3");
    }

    #[test]
    fn escaped_fields_hold_no_raw_separators() {
        let e = escape(os(b"\t\n\r\\\x80"));
        assert!(!e.contains(['\t', '\n', '\r']));
    }

    #[test]
    fn unescape_reads_literal_text() {
        assert_eq!(unescape("a\\tb").unwrap(), os(b"a\tb"));
        assert_eq!(unescape("\\xFF\\x41").unwrap(), os(b"\xffA"));
        assert_eq!(unescape("\\\\n").unwrap(), os(b"\\n"));
    }

    #[test]
    fn unescape_refuses_bad_escapes() {
        for (bad, offset) in [("abc\\", 3), ("\\q", 0), ("x\\x4", 1), ("\\xzz", 0)] {
            let err = unescape(bad).unwrap_err();
            assert_eq!(err.offset, offset, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trip_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let field = escape(os(&bytes));
            prop_assert!(!field.contains(['\t', '\n', '\r']));
            prop_assert_eq!(unescape(&field).unwrap(), os(&bytes));
        }

        #[test]
        fn round_trip_arbitrary_strings(s in "\\PC*") {
            let field = escape(OsStr::new(&s));
            prop_assert_eq!(unescape(&field).unwrap(), OsStr::new(&s));
        }
    }
}
