//! xxh3-128 of a regular file's content, read through the same safe open as the copy
//! (never a FIFO or device, never through a symlink).

use std::ffi::OsStr;
use std::io::{self, Read};

use xxhash_rust::xxh3::Xxh3;

use super::copy::open_regular;
use super::data::CHUNK;
use super::Dir;

/// xxh3-128 of the content of regular file `name` (opened `O_NOFOLLOW | O_NONBLOCK`,
/// checked to be a regular file after open).
pub fn hash_file(dir: &Dir, name: &OsStr) -> io::Result<u128> {
    let (file, _) = open_regular(dir, name)?;
    hash_reader(file)
}

/// xxh3-128 of everything `r` yields, read in [`CHUNK`]-sized pieces.
fn hash_reader(mut r: impl Read) -> io::Result<u128> {
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hasher.digest128()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_one_shot() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let want = xxhash_rust::xxh3::xxh3_128(&data);
        assert_eq!(hash_reader(&data[..]).unwrap(), want);
        assert_eq!(
            hash_reader(&[][..]).unwrap(),
            xxhash_rust::xxh3::xxh3_128(b"")
        );
    }
}
