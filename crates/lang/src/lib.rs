//! The PolicyCortex condition language (API skeleton; the implementation replaces this file).
//!
//! `compile` turns a condition's source into a [`Program`] or a [`CompileError`] with a
//! 1-based line and column; [`Program::holds`] evaluates it against a JSON resource.

use std::fmt;

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

/// A checked, compiled condition, ready to evaluate any number of times.
#[derive(Debug, Clone)]
pub struct Program {
    source: String,
}

impl Program {
    /// The source text this program was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the condition holds (evaluates to exactly `true`) for `resource`.
    pub fn holds(&self, _resource: &serde_json::Value) -> bool {
        false
    }
}

/// Compiles `source` with the default [`Limits`].
pub fn compile(source: &str) -> Result<Program, CompileError> {
    compile_with(source, &Limits::default())
}

/// Compiles `source`, rejecting it when it breaks `limits`.
pub fn compile_with(source: &str, limits: &Limits) -> Result<Program, CompileError> {
    if source.trim().is_empty() || source.len() > limits.max_source_bytes {
        return Err(CompileError {
            message: "empty or too long".into(),
            line: 1,
            column: 1,
            span: 0..0,
            hint: None,
        });
    }
    Ok(Program {
        source: source.to_owned(),
    })
}
