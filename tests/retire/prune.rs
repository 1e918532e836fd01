//! `reverberator prune`: keep_versions, byte and inode budgets, `%`/`i%` budgets on a
//! small loop-mounted ext4, the newest version over budget, `--dry-run`.
