//! Retire the oldest versions: plan (pure) then apply, crash-safe.
