//! mio tokens: fixed ones for global sources, a never-reused counter for per-job sources.
