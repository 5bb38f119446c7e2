//! The `policycortex` binary.

fn main() {}
