//! The status socket: where it lives (derived from the config path) and what it answers.
