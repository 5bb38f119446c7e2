//! The syntax tree the parser builds: expressions, each with the byte span of the source
//! it came from. The checker and the compiler read it; nothing evaluates it directly.

/// A byte range of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// An expression and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is in the source.
    pub span: Span,
}

/// A name as written, with its own span (function names, fields, macro variables).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Name {
    /// The identifier.
    pub text: String,
    /// Where it is in the source.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer literal.
    Int(i64),
    /// A floating point literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `{"k": v}`.
    Map(Vec<(Expr, Expr)>),
    /// A bare identifier: `resource` or a macro variable.
    Ident(String),
    /// `target.field`.
    Select(Box<Expr>, Name),
    /// `target[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// `name(args)` or `target.name(args)`.
    Call(Option<Box<Expr>>, Name, Vec<Expr>),
    /// `!x` or `-x`.
    Unary(UnaryOp, Box<Expr>),
    /// A binary operator other than `&&` and `||`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `a && b && ...`, flattened.
    And(Vec<Expr>),
    /// `a || b || ...`, flattened.
    Or(Vec<Expr>),
    /// `cond ? then : otherwise`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Binary operators other than the logical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}
