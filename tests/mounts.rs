//! Mount awareness with loop-mounted images (root only; skipped with a reason otherwise).
