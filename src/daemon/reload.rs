//! SIGHUP: diff the old and new Config into Keep / Restart / Add / Remove per job.
