//! The delta scan: walk a job's source against its newest version and return the
//! ChangeSet between them (type, size, mtime ns, mode, uid, gid; equal size with a different
//! mtime compares xxh3 hashes: equal content is attribute-only). Used by the `snapshot`
//! command, the daemon's start, inotify overflow, resume after a remount and
//! `rescan_interval`.
