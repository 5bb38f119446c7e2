//! The error every stage reports: a message, the byte span it concerns and an optional
//! hint. `lib.rs` turns it into the public `CompileError` by adding line and column.

use crate::ast::Span;

/// A stage's complaint about the source, before line and column are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    /// What is wrong, lowercase, with user input in backticks.
    pub message: String,
    /// The offending bytes of the source.
    pub span: Span,
    /// A suggestion, where one helps.
    pub hint: Option<String>,
}

impl Error {
    /// An error about `span` without a hint.
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span,
            hint: None,
        }
    }

    /// The same error with a hint added.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The result type of every stage.
pub(crate) type Result<T> = std::result::Result<T, Error>;
