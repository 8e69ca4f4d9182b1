//! Nothing: the check is `tests/bindings.rs`.
