//! What the recursive walks over versions need for trees of any depth. A source path may be
//! any length and any depth (the kernel bounds only one path *argument*), so the walks that
//! recurse once per folder level (`diff`, the history and restore plans, the retire's real
//! copies) run on a thread with a large stack; every walk that keeps a folder open per
//! level (those, and the iterative snapshot builder and tar export) stops, with an error
//! naming the folder, past [`MAX_DEPTH`] levels instead of overflowing the stack or running
//! out of fds. The other iterative walks (the delta scan, the watcher, removing a tree)
//! need neither. This knows nothing about what the walks do.

use std::io;

/// Folder levels a recursive walk descends into.
pub(crate) const MAX_DEPTH: usize = 10_000;

/// Stack of the thread a recursive walk runs on: room for [`MAX_DEPTH`] levels (about
/// 1.5 KiB each unoptimized, less in a release build). Only touched pages are committed.
pub(crate) const WALK_STACK: usize = 64 << 20;

/// Run `work` on a thread with a [`WALK_STACK`] stack and wait for it (a panic in `work`
/// is resumed here). Fails only when no thread can be started.
pub(crate) fn on_walk_stack<T: Send>(work: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("walk".into())
            .stack_size(WALK_STACK)
            .spawn_scoped(scope, work)?;
        Ok(handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// The error of a walk that reached [`MAX_DEPTH`].
pub(crate) fn too_deep() -> io::Error {
    io::Error::other(format!(
        "more than {MAX_DEPTH} folders deep (the limit of the walks)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_and_panics_come_back() {
        assert_eq!(on_walk_stack(|| 7).unwrap(), 7);
        let caught = std::panic::catch_unwind(|| on_walk_stack(|| panic!("boom")));
        assert!(caught.is_err());
    }

    #[test]
    fn the_stack_holds_deep_recursion() {
        fn down(n: usize) -> usize {
            let pad = std::hint::black_box([0u8; 1024]);
            if n == 0 {
                pad[0] as usize
            } else {
                down(n - 1) + pad[1] as usize
            }
        }
        assert_eq!(on_walk_stack(|| down(MAX_DEPTH * 3)).unwrap(), 0);
    }
}
