//! The per-job flock shared by the daemon and the one-shot commands.
