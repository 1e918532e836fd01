//! Diagnostics: byte span -> line:col, rendering with source line and caret.
