//! mio tokens: fixed ones for global sources, a never-reused counter for per-job sources.
//!
//! A job's inotify fd gets a fresh token every time the job (re)starts, so an event that
//! was queued for a watcher that is gone (a job removed or restarted by a reload) carries a
//! token nobody owns any more and is ignored, never delivered to its successor.

use mio::Token;

/// The signal handle (SIGHUP, SIGTERM, SIGINT).
pub const SIGNALS: Token = Token(0);
/// The `Waker` that worker threads use when a result is ready.
pub const WAKER: Token = Token(1);
/// The status socket's listener.
pub const STATUS: Token = Token(2);
/// The mount-table watcher (`/proc/self/mountinfo`).
pub const MOUNTS: Token = Token(3);

/// The first token handed out to per-job sources.
const FIRST_DYNAMIC: usize = 16;
// Every fixed token lies below the per-job ones (checked when this compiles).
const _: () = assert!(SIGNALS.0 < FIRST_DYNAMIC && WAKER.0 < FIRST_DYNAMIC);
const _: () = assert!(STATUS.0 < FIRST_DYNAMIC && MOUNTS.0 < FIRST_DYNAMIC);

/// Hands out per-job tokens; a token is never handed out twice.
#[derive(Debug)]
pub struct TokenCounter {
    next: usize,
}

impl Default for TokenCounter {
    fn default() -> Self {
        TokenCounter {
            next: FIRST_DYNAMIC,
        }
    }
}

impl TokenCounter {
    /// A counter starting after the fixed tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token never handed out before.
    pub fn next_token(&mut self) -> Token {
        let t = Token(self.next);
        self.next += 1;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_reused_and_never_fixed() {
        let mut c = TokenCounter::new();
        let a = c.next_token();
        let b = c.next_token();
        assert_ne!(a, b);
        for t in [a, b] {
            assert!(t.0 >= FIRST_DYNAMIC);
            assert!(![SIGNALS, WAKER, STATUS, MOUNTS].contains(&t));
        }
    }
}
