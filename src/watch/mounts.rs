//! Mount table: /proc/self/mountinfo parsing and diffing, filesystem signatures of a path.
