//! The checker: decides whether a parsed condition means something. It owns name
//! resolution (`resource` and macro variables), the table of functions, methods and
//! macros with their arities, and the shape rules (`has` takes a field selection,
//! `matches` takes a literal pattern, a macro's variable is a plain name).

use crate::ast::{Expr, ExprKind, Name, Span};
use crate::error::{Error, Result};

/// The only free variable of a condition.
pub(crate) const RESOURCE: &str = "resource";

/// Global functions and how many arguments each takes.
const FUNCTIONS: [(&str, usize); 3] = [("has", 1), ("size", 1), ("matches", 2)];

/// Methods (`x.name(...)`) and how many arguments each takes, macros included.
const METHODS: [(&str, usize); 9] = [
    ("size", 0),
    ("startsWith", 1),
    ("endsWith", 1),
    ("contains", 1),
    ("matches", 1),
    ("lowerAscii", 0),
    ("exists", 2),
    ("all", 2),
    ("exists_one", 2),
];

/// Whether a method name is one of the comprehension macros.
pub(crate) fn is_macro(name: &str) -> bool {
    matches!(name, "exists" | "all" | "exists_one")
}

/// Checks `expr`, returning the first problem found in source order.
pub(crate) fn check(expr: &Expr) -> Result<()> {
    Checker { scope: Vec::new() }.expr(expr)
}

struct Checker<'e> {
    /// Macro variables in scope, innermost last.
    scope: Vec<&'e str>,
}

impl<'e> Checker<'e> {
    fn expr(&mut self, expr: &'e Expr) -> Result<()> {
        match &expr.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_) => Ok(()),
            ExprKind::Ident(name) => self.ident(name, expr.span),
            ExprKind::List(items) | ExprKind::And(items) | ExprKind::Or(items) => self.all(items),
            ExprKind::Map(entries) => self.map(entries),
            ExprKind::Select(target, _) | ExprKind::Unary(_, target) => self.expr(target),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => self.both(a, b),
            ExprKind::Cond(c, a, b) => {
                self.expr(c)?;
                self.both(a, b)
            }
            ExprKind::Call(None, name, args) => self.function(name, args),
            ExprKind::Call(Some(target), name, args) => self.method(target, name, args),
        }
    }

    fn all(&mut self, items: &'e [Expr]) -> Result<()> {
        items.iter().try_for_each(|item| self.expr(item))
    }

    fn both(&mut self, a: &'e Expr, b: &'e Expr) -> Result<()> {
        self.expr(a)?;
        self.expr(b)
    }

    fn ident(&self, name: &str, span: Span) -> Result<()> {
        if name == RESOURCE || self.scope.contains(&name) {
            return Ok(());
        }
        Err(
            Error::new(format!("unknown identifier `{name}`"), span).with_hint(format!(
                "conditions start from `resource`, as in `resource.{name}`"
            )),
        )
    }

    /// Map keys must be string literals, since the values are JSON objects.
    fn map(&mut self, entries: &'e [(Expr, Expr)]) -> Result<()> {
        for (key, value) in entries {
            if !matches!(key.kind, ExprKind::Str(_)) {
                return Err(Error::new("map keys must be string literals", key.span));
            }
            self.expr(value)?;
        }
        Ok(())
    }

    fn function(&mut self, name: &'e Name, args: &'e [Expr]) -> Result<()> {
        let Some(&(_, arity)) = FUNCTIONS.iter().find(|(n, _)| *n == name.text) else {
            return Err(unknown("function", name, &FUNCTIONS));
        };
        check_arity(name, arity, args.len())?;

        match name.text.as_str() {
            "has" => check_selection(&args[0])?,
            "matches" => check_pattern(&args[1])?,
            _ => {}
        }
        self.all(args)
    }

    fn method(&mut self, target: &'e Expr, name: &'e Name, args: &'e [Expr]) -> Result<()> {
        let Some(&(_, arity)) = METHODS.iter().find(|(n, _)| *n == name.text) else {
            return Err(unknown("method", name, &METHODS));
        };
        check_arity(name, arity, args.len())?;
        self.expr(target)?;

        if is_macro(&name.text) {
            return self.comprehension(name, &args[0], &args[1]);
        }
        if name.text == "matches" {
            check_pattern(&args[0])?;
        }
        self.all(args)
    }

    /// `range.exists(x, pred)` and friends: `x` is in scope only inside `pred`.
    fn comprehension(&mut self, name: &Name, var: &'e Expr, body: &'e Expr) -> Result<()> {
        let ExprKind::Ident(var_name) = &var.kind else {
            let message = format!(
                "the first argument of `{}` must be a variable name",
                name.text
            );
            return Err(Error::new(message, var.span)
                .with_hint(format!("write it as `list.{}(x, x > 0)`", name.text)));
        };
        if var_name == RESOURCE {
            let message = format!("the variable of `{}` cannot be named `resource`", name.text);
            return Err(Error::new(message, var.span).with_hint("pick another name, such as `x`"));
        }

        self.scope.push(var_name);
        let result = self.expr(body);
        self.scope.pop();
        result
    }
}

fn check_arity(name: &Name, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        return Ok(());
    }
    let plural = if expected == 1 {
        "argument"
    } else {
        "arguments"
    };
    let message = format!("`{}` takes {expected} {plural}, found {found}", name.text);
    Err(Error::new(message, name.span))
}

/// `has` needs a field selection such as `resource.a.b` or `resource["a-b"]`.
fn check_selection(arg: &Expr) -> Result<()> {
    if matches!(arg.kind, ExprKind::Select(..) | ExprKind::Index(..)) {
        return Ok(());
    }
    Err(Error::new("`has` takes a field selection", arg.span)
        .with_hint("write it as `has(resource.a.b)`"))
}

/// Patterns are compiled when the condition is, so they must be literals.
fn check_pattern(arg: &Expr) -> Result<()> {
    if matches!(arg.kind, ExprKind::Str(_)) {
        return Ok(());
    }
    Err(Error::new(
        "the pattern of `matches` must be a string literal",
        arg.span,
    )
    .with_hint(
        "patterns are compiled when the policy is written; write one in quotes, as in \
         `s.matches('^prod-')`",
    ))
}

/// An unknown name, with a near miss suggested or else the list of known names.
fn unknown(what: &str, name: &Name, known: &[(&str, usize)]) -> Error {
    let error = Error::new(format!("unknown {what} `{}`", name.text), name.span);
    let near = known
        .iter()
        .map(|(n, _)| *n)
        .find(|n| is_near(n, &name.text));
    match near {
        Some(n) => error.with_hint(format!("did you mean `{n}`?")),
        None => {
            let list: Vec<String> = known.iter().map(|(n, _)| format!("`{n}`")).collect();
            error.with_hint(format!("available {what}s: {}", list.join(", ")))
        }
    }
}

/// Same name ignoring case and underscores, or a couple of edits away.
fn is_near(known: &str, written: &str) -> bool {
    let fold = |s: &str| s.to_ascii_lowercase().replace('_', "");
    let limit = if known.len() > 4 { 2 } else { 1 };
    fold(known) == fold(written) || edit_distance(known, written) <= limit
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("exists", "exists"), 0);
        assert_eq!(edit_distance("exists", "exist"), 1);
        assert_eq!(edit_distance("size", "siez"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn near_misses_ignore_case_and_underscores() {
        assert!(is_near("startsWith", "starts_with"));
        assert!(is_near("exists_one", "existsOne"));
        assert!(is_near("lowerAscii", "lowerascii"));
        assert!(!is_near("has", "x"));
    }
}
