//! The PolicyCortex condition language: CEL syntax over JSON documents, with the
//! semantics of the product design (a missing field is `null`, never an error).
//!
//! [`compile`] runs the pipeline, one module per stage:
//!
//! - `lexer`: source text to tokens with byte spans,
//! - `parser`: tokens to the `ast` tree, enforcing the nesting limit as it descends,
//! - `checker`: names, functions, arities and shape rules,
//! - `compile`: the tree lowered to a program (paths pre-split, constants folded,
//!   regexes compiled),
//! - `eval`: the program walked against a resource, with operator meanings in `value`.
//!
//! A failure at any stage is a [`CompileError`] with a 1-based line and column. A
//! [`Program`] then evaluates against any JSON document without failing.

// Library code never unwraps, expects or panics: a server must not fall over on input.
// Tests may, and integration tests are separate crates that this does not reach.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod ast;
mod checker;
mod compile;
mod error;
mod eval;
mod lexer;
mod parser;
mod value;

use std::fmt;
use std::sync::Arc;

use ast::Span;

/// Limits checked when a condition is compiled; they bound the cost of evaluation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest accepted source, in bytes.
    pub max_source_bytes: usize,
    /// Deepest accepted nesting of expressions.
    pub max_depth: usize,
    /// Largest compiled regex, in bytes (the `regex` crate's size limit).
    pub max_regex_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_source_bytes: 4096,
            max_depth: 64,
            max_regex_bytes: 1 << 20,
        }
    }
}

/// Why a condition was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// What is wrong, lowercase, with user input in backticks.
    pub message: String,
    /// 1-based line of the error.
    pub line: u32,
    /// 1-based column of the error, counted in characters.
    pub column: u32,
    /// Byte range of the offending text in the source.
    pub span: std::ops::Range<usize>,
    /// A suggestion, where one helps.
    pub hint: Option<String>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

impl CompileError {
    /// Places a stage's error in `source`.
    fn locate(source: &str, error: error::Error) -> Self {
        let start = floor_char_boundary(source, error.span.start);
        let end = floor_char_boundary(source, error.span.end.max(start));
        let before = &source[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        Self {
            message: error.message,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            span: start..end,
            hint: error.hint,
        }
    }
}

fn floor_char_boundary(source: &str, at: usize) -> usize {
    let mut at = at.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A checked, compiled condition, ready to evaluate any number of times.
///
/// Cloning is cheap: the compiled tree is shared.
#[derive(Debug, Clone)]
pub struct Program {
    source: String,
    compiled: Arc<compile::Node>,
}

impl Program {
    /// The source text this program was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the condition holds (evaluates to exactly `true`) for `resource`.
    pub fn holds(&self, resource: &serde_json::Value) -> bool {
        eval::run(&self.compiled, resource).is_true()
    }

    /// The value the condition evaluates to for `resource`, as JSON.
    pub fn evaluate(&self, resource: &serde_json::Value) -> serde_json::Value {
        eval::run(&self.compiled, resource).to_json()
    }

    /// The fields of the resource the condition reads through fixed paths, in order of
    /// first appearance and written as after `resource.`: `encryption.enabled`,
    /// `tags["team-name"]`, `rules[0].port`. Paths read through macro variables or
    /// computed indexes are not listed.
    pub fn paths(&self) -> Vec<String> {
        self.compiled.resource_paths()
    }
}

/// Compiles `source` with the default [`Limits`].
pub fn compile(source: &str) -> Result<Program, CompileError> {
    compile_with(source, &Limits::default())
}

/// Compiles `source`, rejecting it when it breaks `limits`.
pub fn compile_with(source: &str, limits: &Limits) -> Result<Program, CompileError> {
    let compiled = pipeline(source, limits).map_err(|e| CompileError::locate(source, e))?;
    Ok(Program {
        source: source.to_owned(),
        compiled: Arc::new(compiled),
    })
}

fn pipeline(source: &str, limits: &Limits) -> error::Result<compile::Node> {
    check_size(source, limits)?;
    let tokens = lexer::tokenize(source)?;
    let expr = parser::parse(&tokens, limits.max_depth)?;
    checker::check(&expr)?;
    compile::compile(&expr, limits.max_regex_bytes)
}

fn check_size(source: &str, limits: &Limits) -> error::Result<()> {
    if source.len() > limits.max_source_bytes {
        let message = format!(
            "condition is {} bytes long, more than the limit of {}",
            source.len(),
            limits.max_source_bytes
        );
        let at = floor_char_boundary(source, limits.max_source_bytes);
        return Err(error::Error::new(message, Span::new(at, source.len()))
            .with_hint("split it into several rules"));
    }
    if source.trim().is_empty() {
        let span = Span::new(0, source.len());
        return Err(error::Error::new("condition is empty", span)
            .with_hint("write an expression such as `resource.encrypted == true`"));
    }
    Ok(())
}
