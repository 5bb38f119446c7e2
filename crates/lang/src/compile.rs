//! The compiler: lowers a checked [`Expr`] into the [`Node`] tree that `eval` walks. It
//! owns everything done once so evaluation stays cheap: paths pre-split into key and
//! index steps, constant sub-expressions folded into JSON values, regexes compiled with
//! their size limit, and `x in [literal list]` turned into a lookup set.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::ast::{BinaryOp, Expr, ExprKind, Name, Span, UnaryOp};
use crate::checker::{is_macro, RESOURCE};
use crate::error::{Error, Result};
use crate::eval;

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A constant, literal or folded.
    Const(Value),
    /// The resource document.
    Resource,
    /// A macro variable, by how many macros out it was bound (0 is the innermost).
    Var(usize),
    /// Selection steps applied to a base.
    Path(Box<Node>, Box<[Step]>),
    /// `target[index]` where the index is computed.
    Index(Box<Node>, Box<Node>),
    /// A list literal with computed elements.
    List(Vec<Node>),
    /// `!x`
    Not(Box<Node>),
    /// `-x`
    Neg(Box<Node>),
    /// `a && b && ...`
    And(Vec<Node>),
    /// `a || b || ...`
    Or(Vec<Node>),
    /// `a == b`
    Eq(Box<Node>, Box<Node>),
    /// `a != b`
    Ne(Box<Node>, Box<Node>),
    /// `<`, `<=`, `>`, `>=`
    Order(Order, Box<Node>, Box<Node>),
    /// `+`, `-`, `*`, `/`, `%`
    Arith(Arith, Box<Node>, Box<Node>),
    /// `x in y` with a computed `y`.
    In(Box<Node>, Box<Node>),
    /// `x in [literal list]`.
    InSet(Box<Node>, Box<ConstSet>),
    /// `c ? a : b`
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// `has(path)`
    Has(Box<Node>),
    /// `size(x)` and `x.size()`
    Size(Box<Node>),
    /// `startsWith`, `endsWith`, `contains`
    Text(Text, Box<Node>, Box<Node>),
    /// `s.matches(re)` and `matches(s, re)`
    Matches(Box<Node>, Regex),
    /// `s.lowerAscii()`
    LowerAscii(Box<Node>),
    /// `range.exists(x, body)` and friends; the body sees `x` as `Var(0)`.
    Macro(Macro, Box<Node>, Box<Node>),
}

/// One selection step of a path.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// An object key.
    Key(Box<str>),
    /// A list index.
    Index(i64),
}

/// The ordering comparisons.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Order {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The arithmetic operators.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arith {
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

/// The string predicates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text {
    /// `startsWith`
    StartsWith,
    /// `endsWith`
    EndsWith,
    /// `contains`
    Contains,
}

/// The comprehension macros.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Macro {
    /// `exists`
    Exists,
    /// `all`
    All,
    /// `exists_one`
    ExistsOne,
}

/// The elements of a literal list, arranged for membership tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConstSet {
    /// String elements, sorted for binary search.
    pub strings: Vec<Box<str>>,
    /// Every other element.
    pub others: Vec<Value>,
}

impl ConstSet {
    fn new(items: &[Value]) -> Self {
        let mut set = ConstSet::default();
        for item in items {
            match item {
                Value::String(s) => set.strings.push(s.as_str().into()),
                other => set.others.push(other.clone()),
            }
        }
        set.strings.sort_unstable();
        set.strings.dedup();
        set
    }
}

/// Lowers a checked expression.
pub(crate) fn compile(expr: &Expr, max_regex_bytes: usize) -> Result<Node> {
    Compiler {
        scope: Vec::new(),
        max_regex_bytes,
    }
    .lower(expr)
}

struct Compiler<'e> {
    /// Macro variables in scope, innermost last.
    scope: Vec<&'e str>,
    max_regex_bytes: usize,
}

impl<'e> Compiler<'e> {
    fn lower(&mut self, expr: &'e Expr) -> Result<Node> {
        let node = self.lower_kind(expr)?;
        Ok(fold(node))
    }

    fn boxed(&mut self, expr: &'e Expr) -> Result<Box<Node>> {
        self.lower(expr).map(Box::new)
    }

    fn lower_kind(&mut self, expr: &'e Expr) -> Result<Node> {
        Ok(match &expr.kind {
            ExprKind::Null => Node::Const(Value::Null),
            ExprKind::Bool(b) => Node::Const(Value::Bool(*b)),
            ExprKind::Int(n) => Node::Const(Value::from(*n)),
            ExprKind::Float(f) => Node::Const(Value::from(*f)),
            ExprKind::Str(s) => Node::Const(Value::String(s.clone())),
            ExprKind::List(items) => Node::List(self.lower_all(items)?),
            ExprKind::Map(entries) => self.map(entries)?,
            ExprKind::Ident(name) => self.ident(name),
            ExprKind::Select(target, name) => {
                select(self.lower(target)?, Step::Key(name.text.as_str().into()))
            }
            ExprKind::Index(target, index) => self.index(target, index)?,
            ExprKind::Unary(UnaryOp::Not, x) => Node::Not(self.boxed(x)?),
            ExprKind::Unary(UnaryOp::Neg, x) => Node::Neg(self.boxed(x)?),
            ExprKind::And(items) => logical(true, self.lower_all(items)?),
            ExprKind::Or(items) => logical(false, self.lower_all(items)?),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b)?,
            ExprKind::Cond(c, a, b) => Node::Cond(self.boxed(c)?, self.boxed(a)?, self.boxed(b)?),
            ExprKind::Call(None, name, args) => self.function(name, args)?,
            ExprKind::Call(Some(target), name, args) => self.method(target, name, args)?,
        })
    }

    fn lower_all(&mut self, items: &'e [Expr]) -> Result<Vec<Node>> {
        items.iter().map(|item| self.lower(item)).collect()
    }

    fn ident(&self, name: &str) -> Node {
        match self.scope.iter().rev().position(|v| *v == name) {
            Some(up) => Node::Var(up),
            None if name == RESOURCE => Node::Resource,
            None => Node::Const(Value::Null),
        }
    }

    /// Map literals become JSON objects, so their values must fold to constants.
    fn map(&mut self, entries: &'e [(Expr, Expr)]) -> Result<Node> {
        let mut object = serde_json::Map::new();
        for (key, value) in entries {
            let ExprKind::Str(key) = &key.kind else {
                return Err(Error::new("map keys must be string literals", key.span));
            };
            let Node::Const(value_json) = self.lower(value)? else {
                return Err(Error::new("map values must be constants", value.span)
                    .with_hint("a map literal cannot refer to `resource`"));
            };
            object.insert(key.clone(), value_json);
        }
        Ok(Node::Const(Value::Object(object)))
    }

    /// A literal key or integer index becomes a path step; anything else is computed.
    fn index(&mut self, target: &'e Expr, index: &'e Expr) -> Result<Node> {
        let target = self.lower(target)?;
        let index = self.lower(index)?;
        let step = match &index {
            Node::Const(Value::String(key)) => Some(Step::Key(key.as_str().into())),
            Node::Const(Value::Number(n)) => n.as_i64().map(Step::Index),
            _ => None,
        };
        Ok(match step {
            Some(step) => select(target, step),
            None => Node::Index(Box::new(target), Box::new(index)),
        })
    }

    fn binary(&mut self, op: BinaryOp, a: &'e Expr, b: &'e Expr) -> Result<Node> {
        let (a, b) = (self.boxed(a)?, self.boxed(b)?);
        Ok(match op {
            BinaryOp::Eq => Node::Eq(a, b),
            BinaryOp::Ne => Node::Ne(a, b),
            BinaryOp::Lt => Node::Order(Order::Lt, a, b),
            BinaryOp::Le => Node::Order(Order::Le, a, b),
            BinaryOp::Gt => Node::Order(Order::Gt, a, b),
            BinaryOp::Ge => Node::Order(Order::Ge, a, b),
            BinaryOp::In => membership(a, b),
            BinaryOp::Add => Node::Arith(Arith::Add, a, b),
            BinaryOp::Sub => Node::Arith(Arith::Sub, a, b),
            BinaryOp::Mul => Node::Arith(Arith::Mul, a, b),
            BinaryOp::Div => Node::Arith(Arith::Div, a, b),
            BinaryOp::Rem => Node::Arith(Arith::Rem, a, b),
        })
    }

    fn function(&mut self, name: &Name, args: &'e [Expr]) -> Result<Node> {
        match (name.text.as_str(), args) {
            ("has", [path]) => Ok(Node::Has(self.boxed(path)?)),
            ("size", [x]) => Ok(Node::Size(self.boxed(x)?)),
            ("matches", [s, pattern]) => self.matches(s, pattern),
            _ => Err(Error::new(
                format!("unknown function `{}`", name.text),
                name.span,
            )),
        }
    }

    fn method(&mut self, target: &'e Expr, name: &Name, args: &'e [Expr]) -> Result<Node> {
        if is_macro(&name.text) {
            return self.comprehension(target, name, args);
        }
        let text = |op, this: &mut Self, arg: &'e Expr| -> Result<Node> {
            Ok(Node::Text(op, this.boxed(target)?, this.boxed(arg)?))
        };
        match (name.text.as_str(), args) {
            ("size", []) => Ok(Node::Size(self.boxed(target)?)),
            ("lowerAscii", []) => Ok(Node::LowerAscii(self.boxed(target)?)),
            ("startsWith", [arg]) => text(Text::StartsWith, self, arg),
            ("endsWith", [arg]) => text(Text::EndsWith, self, arg),
            ("contains", [arg]) => text(Text::Contains, self, arg),
            ("matches", [pattern]) => self.matches(target, pattern),
            _ => Err(Error::new(
                format!("unknown method `{}`", name.text),
                name.span,
            )),
        }
    }

    fn matches(&mut self, subject: &'e Expr, pattern: &Expr) -> Result<Node> {
        let subject = self.boxed(subject)?;
        let ExprKind::Str(source) = &pattern.kind else {
            return Err(Error::new(
                "the pattern of `matches` must be a string literal",
                pattern.span,
            ));
        };
        let regex = compile_regex(source, pattern.span, self.max_regex_bytes)?;
        Ok(Node::Matches(subject, regex))
    }

    fn comprehension(&mut self, target: &'e Expr, name: &Name, args: &'e [Expr]) -> Result<Node> {
        let ([var, body], Some(kind)) = (args, macro_kind(&name.text)) else {
            return Err(Error::new(
                format!("unknown method `{}`", name.text),
                name.span,
            ));
        };
        let ExprKind::Ident(var) = &var.kind else {
            return Err(Error::new(
                "a macro variable must be a plain name",
                var.span,
            ));
        };
        let range = self.boxed(target)?;

        self.scope.push(var);
        let body = self.boxed(body);
        self.scope.pop();
        Ok(Node::Macro(kind, range, body?))
    }
}

fn macro_kind(name: &str) -> Option<Macro> {
    match name {
        "exists" => Some(Macro::Exists),
        "all" => Some(Macro::All),
        "exists_one" => Some(Macro::ExistsOne),
        _ => None,
    }
}

/// `&&` (when `all`) or `||` without its constant operands: evaluation has no side
/// effects, so a constant either decides the whole or can be dropped.
fn logical(all: bool, items: Vec<Node>) -> Node {
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::Const(value) if (value == Value::Bool(true)) == all => {}
            Node::Const(_) => return Node::Const(Value::Bool(!all)),
            other => kept.push(other),
        }
    }
    match (kept.is_empty(), all) {
        (true, _) => Node::Const(Value::Bool(all)),
        (false, true) => Node::And(kept),
        (false, false) => Node::Or(kept),
    }
}

/// Appends a step, extending an existing path rather than nesting a new one.
fn select(target: Node, step: Step) -> Node {
    match target {
        Node::Path(base, steps) => {
            let mut steps = steps.into_vec();
            steps.push(step);
            Node::Path(base, steps.into_boxed_slice())
        }
        base => Node::Path(Box::new(base), Box::new([step])),
    }
}

fn membership(item: Box<Node>, range: Box<Node>) -> Node {
    match range.as_ref() {
        Node::Const(Value::Array(items)) => Node::InSet(item, Box::new(ConstSet::new(items))),
        _ => Node::In(item, range),
    }
}

fn compile_regex(source: &str, span: Span, max_bytes: usize) -> Result<Regex> {
    let built = RegexBuilder::new(source).size_limit(max_bytes).build();
    built.map_err(|err| {
        let reason = match err {
            regex::Error::CompiledTooBig(limit) => {
                format!("it compiles to more than the limit of {limit} bytes")
            }
            regex::Error::Syntax(text) => syntax_reason(&text),
            _ => "it is not a valid pattern".to_owned(),
        };
        Error::new(
            format!("invalid regular expression `{source}`: {reason}"),
            span,
        )
        .with_hint("patterns use the syntax of the Rust `regex` crate, without look-around")
    })
}

/// The `regex` crate's syntax errors end with a line `error: reason`.
fn syntax_reason(text: &str) -> String {
    let last = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(text);
    last.trim().trim_start_matches("error: ").to_owned()
}

/// Replaces a node whose operands are all constant by its value.
fn fold(node: Node) -> Node {
    if !foldable(&node) {
        return node;
    }
    Node::Const(eval::constant(&node))
}

fn foldable(node: &Node) -> bool {
    match node {
        Node::Const(_) | Node::Resource | Node::Var(_) | Node::Macro(..) => false,
        _ => node.children().iter().all(|n| matches!(n, Node::Const(_))),
    }
}

impl Node {
    /// The nodes this one evaluates directly.
    fn children(&self) -> Vec<&Node> {
        match self {
            Node::Const(_) | Node::Resource | Node::Var(_) => Vec::new(),
            Node::List(items) | Node::And(items) | Node::Or(items) => items.iter().collect(),
            Node::Path(x, _)
            | Node::Not(x)
            | Node::Neg(x)
            | Node::Has(x)
            | Node::Size(x)
            | Node::LowerAscii(x)
            | Node::Matches(x, _)
            | Node::InSet(x, _) => vec![x],
            Node::Index(a, b)
            | Node::Eq(a, b)
            | Node::Ne(a, b)
            | Node::Order(_, a, b)
            | Node::Arith(_, a, b)
            | Node::In(a, b)
            | Node::Text(_, a, b)
            | Node::Macro(_, a, b) => vec![a, b],
            Node::Cond(c, a, b) => vec![c, a, b],
        }
    }

    /// The fixed paths read from the resource, in order of first appearance.
    pub fn resource_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.collect_paths(&mut paths);
        paths
    }

    fn collect_paths(&self, paths: &mut Vec<String>) {
        if let Node::Path(base, steps) = self {
            if let Node::Resource = **base {
                let text = path_text(steps);
                if !paths.contains(&text) {
                    paths.push(text);
                }
            }
        }
        for child in self.children() {
            child.collect_paths(paths);
        }
    }
}

/// A path as a condition would write it after `resource`: `a.b`, `tags["x-y"]`, `r[0]`.
fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) if is_plain_name(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Key(key) => text.push_str(&format!("[{}]", Value::String(key.to_string()))),
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

fn is_plain_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
