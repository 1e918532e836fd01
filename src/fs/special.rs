//! Symlinks, FIFOs, sockets and device nodes.
