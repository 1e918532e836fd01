//! JobMachine: the per-job state machine, pure (takes events and now, returns actions).
