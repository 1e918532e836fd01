//! Build a version from a ChangeSet under a hidden name and commit it by rename.
