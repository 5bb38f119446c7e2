//! The parser: turns tokens into an [`Expr`] tree by recursive descent with CEL's
//! precedence. It owns the nesting limit, counted as it descends, so hostile input such
//! as thousands of `(` is rejected before it can exhaust the stack. Spans are attached
//! in one place, [`Parser::node`].

use crate::ast::{BinaryOp, Expr, ExprKind, Name, Span, UnaryOp};
use crate::error::{Error, Result};
use crate::lexer::{Tok, Token};

/// Parses a whole condition from its tokens, which end with [`Tok::End`].
pub(crate) fn parse(tokens: &[Token], max_depth: usize) -> Result<Expr> {
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        max_depth,
    };
    let expr = parser.expr()?;
    match parser.peek() {
        Tok::End => Ok(expr),
        _ => Err(parser.unexpected("an operator or the end of the condition")),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    // ---- token access ----

    fn current(&self) -> Option<&Token> {
        self.tokens.get(self.pos).or_else(|| self.tokens.last())
    }

    fn peek(&self) -> &Tok {
        self.current().map_or(&Tok::End, |t| &t.kind)
    }

    fn span(&self) -> Span {
        self.current().map_or(Span::new(0, 0), |t| t.span)
    }

    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn at(&self, punct: &str) -> bool {
        matches!(self.peek(), Tok::Punct(p) if *p == punct)
    }

    fn eat(&mut self, punct: &str) -> bool {
        let found = self.at(punct);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, punct: &str) -> Result<()> {
        if self.eat(punct) {
            return Ok(());
        }
        Err(self.unexpected(&format!("`{punct}`")))
    }

    fn unexpected(&self, wanted: &str) -> Error {
        let found = self.peek();
        let message = match found {
            Tok::End => format!("unexpected end of condition, expected {wanted}"),
            _ => format!("unexpected {}, expected {wanted}", found.describe()),
        };
        Error::new(message, self.span())
    }

    /// The one place spans are attached: the node covers `start` to the last token read.
    fn node(&self, kind: ExprKind, start: usize) -> Expr {
        Expr {
            kind,
            span: Span::new(start, self.prev_end().max(start)),
        }
    }

    /// Counts one more level of nesting, failing past the limit.
    fn descend(&mut self, levels: usize) -> Result<()> {
        self.depth += levels;
        if self.depth > self.max_depth {
            let message = format!(
                "condition is nested deeper than the limit of {}",
                self.max_depth
            );
            return Err(Error::new(message, self.span())
                .with_hint("split it into several rules or simplify it"));
        }
        Ok(())
    }

    // ---- grammar, loosest binding first ----

    fn expr(&mut self) -> Result<Expr> {
        self.descend(1)?;
        let result = self.conditional();
        self.depth -= 1;
        result
    }

    fn conditional(&mut self) -> Result<Expr> {
        let start = self.span().start;
        let cond = self.logical("||")?;
        if !self.eat("?") {
            return Ok(cond);
        }

        let then = self.expr()?;
        self.expect(":")?;
        let otherwise = self.expr()?;
        let kind = ExprKind::Cond(Box::new(cond), Box::new(then), Box::new(otherwise));
        Ok(self.node(kind, start))
    }

    /// `a || b || ...` or `a && b && ...`, flattened into one node.
    fn logical(&mut self, op: &str) -> Result<Expr> {
        let start = self.span().start;
        let operand = |p: &mut Self| {
            if op == "||" {
                p.logical("&&")
            } else {
                p.relation()
            }
        };
        let first = operand(self)?;
        if !self.at(op) {
            return Ok(first);
        }

        let mut items = vec![first];
        while self.eat(op) {
            items.push(operand(self)?);
        }
        let kind = if op == "||" {
            ExprKind::Or(items)
        } else {
            ExprKind::And(items)
        };
        Ok(self.node(kind, start))
    }

    fn relation(&mut self) -> Result<Expr> {
        self.binary(Self::additive, |tok| match tok {
            Tok::Punct("==") => Some(BinaryOp::Eq),
            Tok::Punct("!=") => Some(BinaryOp::Ne),
            Tok::Punct("<") => Some(BinaryOp::Lt),
            Tok::Punct("<=") => Some(BinaryOp::Le),
            Tok::Punct(">") => Some(BinaryOp::Gt),
            Tok::Punct(">=") => Some(BinaryOp::Ge),
            Tok::In => Some(BinaryOp::In),
            _ => None,
        })
    }

    fn additive(&mut self) -> Result<Expr> {
        self.binary(Self::multiplicative, |tok| match tok {
            Tok::Punct("+") => Some(BinaryOp::Add),
            Tok::Punct("-") => Some(BinaryOp::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        self.binary(Self::unary, |tok| match tok {
            Tok::Punct("*") => Some(BinaryOp::Mul),
            Tok::Punct("/") => Some(BinaryOp::Div),
            Tok::Punct("%") => Some(BinaryOp::Rem),
            _ => None,
        })
    }

    /// A left-associative chain; each fold deepens the tree, so it counts as nesting.
    fn binary(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr>,
        op_of: fn(&Tok) -> Option<BinaryOp>,
    ) -> Result<Expr> {
        let start = self.span().start;
        let saved = self.depth;
        let mut left = operand(self)?;
        while let Some(op) = op_of(self.peek()) {
            self.advance();
            self.descend(1)?;
            let right = operand(self)?;
            left = self.node(ExprKind::Binary(op, Box::new(left), Box::new(right)), start);
        }
        self.depth = saved;
        Ok(left)
    }

    /// Prefix operators, read in a loop so that `!!!!...` cannot recurse.
    fn unary(&mut self) -> Result<Expr> {
        let saved = self.depth;
        let mut ops = Vec::new();
        while self.at("!") || self.at("-") {
            let op = if self.at("!") {
                UnaryOp::Not
            } else {
                UnaryOp::Neg
            };
            ops.push((op, self.span().start));
            self.advance();
            self.descend(1)?;
        }

        let mut expr = self.negated_literal(&mut ops)?;
        for (op, start) in ops.into_iter().rev() {
            expr = self.node(ExprKind::Unary(op, Box::new(expr)), start);
        }
        self.depth = saved;
        Ok(expr)
    }

    /// Folds a `-` directly before an integer literal into it, so that the most negative
    /// integer can be written.
    fn negated_literal(&mut self, ops: &mut Vec<(UnaryOp, usize)>) -> Result<Expr> {
        let negate = matches!(ops.last(), Some((UnaryOp::Neg, _)));
        if let (true, Tok::Int(n)) = (negate, self.peek().clone()) {
            let (_, start) = ops.pop().unwrap_or((UnaryOp::Neg, 0));
            let at = self.span();
            self.advance();
            let value = 0i64
                .checked_sub_unsigned(n)
                .ok_or_else(|| int_range(n, at))?;
            return self.member(self.node(ExprKind::Int(value), start));
        }
        let primary = self.primary()?;
        self.member(primary)
    }

    /// Postfix selections, indexes and method calls.
    fn member(&mut self, mut expr: Expr) -> Result<Expr> {
        let saved = self.depth;
        let start = expr.span.start;
        loop {
            if self.eat(".") {
                self.descend(1)?;
                let name = self.name()?;
                expr = if self.eat("(") {
                    let args = self.args(")")?;
                    self.node(ExprKind::Call(Some(Box::new(expr)), name, args), start)
                } else {
                    self.node(ExprKind::Select(Box::new(expr), name), start)
                };
            } else if self.eat("[") {
                self.descend(1)?;
                let index = self.expr()?;
                self.expect("]")?;
                expr = self.node(ExprKind::Index(Box::new(expr), Box::new(index)), start);
            } else {
                self.depth = saved;
                return Ok(expr);
            }
        }
    }

    fn name(&mut self) -> Result<Name> {
        let span = self.span();
        match self.peek().clone() {
            Tok::Ident(text) => {
                self.advance();
                Ok(Name { text, span })
            }
            _ => Err(self.unexpected("a field name")),
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let span = self.span();
        let kind = match self.advance() {
            Tok::Null => ExprKind::Null,
            Tok::True => ExprKind::Bool(true),
            Tok::False => ExprKind::Bool(false),
            Tok::Int(n) => ExprKind::Int(i64::try_from(n).map_err(|_| int_range(n, span))?),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(text) => return self.ident_or_call(Name { text, span }),
            Tok::Punct("(") => return self.parenthesized(),
            Tok::Punct("[") => ExprKind::List(self.args("]")?),
            Tok::Punct("{") => ExprKind::Map(self.entries()?),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.unexpected("a value, `resource` or `(`"));
            }
        };
        Ok(self.node(kind, span.start))
    }

    fn ident_or_call(&mut self, name: Name) -> Result<Expr> {
        let start = name.span.start;
        if self.eat("(") {
            let args = self.args(")")?;
            return Ok(self.node(ExprKind::Call(None, name, args), start));
        }
        Ok(self.node(ExprKind::Ident(name.text), start))
    }

    fn parenthesized(&mut self) -> Result<Expr> {
        let inner = self.expr()?;
        self.expect(")")?;
        Ok(inner)
    }

    /// Comma-separated expressions up to `close`, a trailing comma allowed.
    fn args(&mut self, close: &str) -> Result<Vec<Expr>> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.expr()?);
            if !self.eat(",") {
                self.expect(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn entries(&mut self) -> Result<Vec<(Expr, Expr)>> {
        let mut entries = Vec::new();
        while !self.eat("}") {
            let key = self.expr()?;
            self.expect(":")?;
            entries.push((key, self.expr()?));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        Ok(entries)
    }
}

fn int_range(n: u64, span: Span) -> Error {
    Error::new(format!("integer literal `{n}` is out of range"), span)
        .with_hint("integers must fit in 64 signed bits; write a float such as `1e19` instead")
}
