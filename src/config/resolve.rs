//! Raw config -> Config: defaults merged, durations, limits, globs and paths checked.
