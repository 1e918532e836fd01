//! journal.tsv: append-only event log; the event names are a contract.
