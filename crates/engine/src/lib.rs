//! Policies, their validation, and the evaluation engine that turns a resource document
//! into decisions.
//!
//! - [`policy`]: the policy object of the Policies API and its parts.
//! - [`validate`]: turns a request body into a checked [`policy::PolicySpec`] or
//!   [`policy::PolicyPatch`], naming every field that is wrong.
//! - [`decision`]: what an evaluation answers.
//! - [`engine`]: compiled policies indexed by resource type, evaluated one resource at a time
//!   or a batch in parallel.
//!
//! This crate does no I/O: bodies arrive as bytes, decisions leave as values.

// Library code never unwraps, expects or panics: a server must not fall over on input.
// Tests may, and integration tests are separate crates that this does not reach.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod decision;
pub mod engine;
pub mod policy;
pub mod validate;

pub use decision::{Decision, Evaluation, Summary, Verdict, Violation};
pub use engine::{CompiledPolicy, PolicySet};
pub use policy::{Effect, Policy, PolicyPatch, PolicySpec, Rule, Severity};
pub use validate::{FieldError, Limits};
