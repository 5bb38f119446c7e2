//! The lexer: turns source text into tokens with byte spans. It owns literal syntax
//! (numbers, the four string quotings, escapes) and rejects characters the language
//! does not use.

use crate::ast::Span;
use crate::error::{Error, Result};

/// A token and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// What was read.
    pub kind: Tok,
    /// Where it is in the source.
    pub span: Span,
}

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier that is not a keyword.
    Ident(String),
    /// An integer literal's magnitude; the parser checks its range, since `-` may apply.
    Int(u64),
    /// A floating point literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// `true`
    True,
    /// `false`
    False,
    /// `null`
    Null,
    /// `in`
    In,
    /// Punctuation and operators, as written.
    Punct(&'static str),
    /// The end of the source.
    End,
}

impl Tok {
    /// Whether the token can end an operand (a name, a literal, a closing bracket).
    fn ends_operand(&self) -> bool {
        match self {
            Tok::Ident(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::True
            | Tok::False
            | Tok::Null => true,
            Tok::Punct(p) => matches!(*p, ")" | "]" | "}"),
            Tok::In | Tok::End => false,
        }
    }

    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Float(_) => "number".to_owned(),
            Tok::Str(_) => "string".to_owned(),
            Tok::True => "`true`".to_owned(),
            Tok::False => "`false`".to_owned(),
            Tok::Null => "`null`".to_owned(),
            Tok::In => "`in`".to_owned(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::End => "end of condition".to_owned(),
        }
    }
}

/// Operators, longest first so that `<=` wins over `<`.
const PUNCTS: [&str; 24] = [
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "-",
    "+", "*", "/", "%", "<", ">",
];

/// Splits `source` into tokens, ending with [`Tok::End`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer {
        src: source,
        pos: 0,
        after_operand: false,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let end = token.kind == Tok::End;
        lexer.after_operand = token.kind.ends_operand();
        tokens.push(token);
        if end {
            return Ok(tokens);
        }
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    /// Whether the last token ended an operand, after which `.` selects a field: `a.b`,
    /// but `.5` is a number.
    after_operand: bool,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn token(&self, kind: Tok, start: usize) -> Token {
        Token {
            kind,
            span: Span::new(start, self.pos),
        }
    }

    fn next_token(&mut self) -> Result<Token> {
        self.skip_blanks();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(self.token(Tok::End, start));
        };

        let starts_fraction =
            c == '.' && !self.after_operand && self.peek_at(1).is_some_and(|c| c.is_ascii_digit());
        if c.is_ascii_digit() || starts_fraction {
            return self.number();
        }
        if matches!(c, 'r' | 'R') && matches!(self.peek_at(1), Some('\'' | '"')) {
            self.bump();
            return self.string(start, true);
        }
        if c == '_' || c.is_ascii_alphabetic() {
            return Ok(self.word());
        }
        if c == '\'' || c == '"' {
            return self.string(start, false);
        }
        self.punct(c)
    }

    /// Skips whitespace and `//` comments.
    fn skip_blanks(&mut self) {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                let len = rest.find('\n').unwrap_or(rest.len());
                self.pos += len;
            } else if let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else {
                return;
            }
        }
    }

    fn word(&mut self) -> Token {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
        {
            self.bump();
        }
        let kind = match &self.src[start..self.pos] {
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            "in" => Tok::In,
            word => Tok::Ident(word.to_owned()),
        };
        self.token(kind, start)
    }

    fn punct(&mut self, c: char) -> Result<Token> {
        let start = self.pos;
        if let Some(p) = PUNCTS.iter().find(|p| self.rest().starts_with(**p)) {
            self.pos += p.len();
            return Ok(self.token(Tok::Punct(p), start));
        }

        let span = Span::new(start, start + c.len_utf8());
        let err = Error::new(format!("unexpected character `{c}`"), span);
        Err(match c {
            '=' => err.with_hint("compare with `==`"),
            '&' => err.with_hint("logical and is `&&`"),
            '|' => err.with_hint("logical or is `||`"),
            _ => err,
        })
    }

    fn number(&mut self) -> Result<Token> {
        let start = self.pos;
        let rest = self.rest();
        if rest.starts_with("0x") || rest.starts_with("0X") {
            return self.hex_number(start);
        }

        self.digits();
        let mut float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            float |= self.exponent();
        }
        let text = &self.src[start..self.pos];

        if float {
            let value = text.parse::<f64>().unwrap_or(f64::INFINITY);
            if !value.is_finite() {
                return Err(self.out_of_range("float", start));
            }
            return Ok(self.token(Tok::Float(value), start));
        }
        let value = text
            .parse::<u64>()
            .map_err(|_| self.out_of_range("integer", start))?;
        if matches!(self.peek(), Some('u' | 'U')) {
            self.bump();
        }
        Ok(self.token(Tok::Int(value), start))
    }

    fn hex_number(&mut self, start: usize) -> Result<Token> {
        self.pos += 2;
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.bump();
        }
        let digits = &self.src[digits_start..self.pos];
        if digits.is_empty() {
            let span = Span::new(start, self.pos);
            return Err(Error::new("hexadecimal literal has no digits", span));
        }
        let value =
            u64::from_str_radix(digits, 16).map_err(|_| self.out_of_range("integer", start))?;
        if matches!(self.peek(), Some('u' | 'U')) {
            self.bump();
        }
        Ok(self.token(Tok::Int(value), start))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// Consumes an exponent if one follows; `1e` alone leaves the `e` for the parser.
    fn exponent(&mut self) -> bool {
        let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
        if !self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
            return false;
        }
        self.pos += 1 + sign;
        self.digits();
        true
    }

    fn out_of_range(&self, what: &str, start: usize) -> Error {
        let text = &self.src[start..self.pos];
        Error::new(
            format!("{what} literal `{text}` is out of range"),
            Span::new(start, self.pos),
        )
    }

    /// Reads a quoted string; `start` includes a raw prefix when there is one.
    fn string(&mut self, start: usize, raw: bool) -> Result<Token> {
        let quote = if self.rest().starts_with("'''") {
            "'''"
        } else if self.rest().starts_with("\"\"\"") {
            "\"\"\""
        } else if self.rest().starts_with('\'') {
            "'"
        } else {
            "\""
        };
        self.pos += quote.len();

        let mut text = String::new();
        loop {
            if self.rest().starts_with(quote) {
                self.pos += quote.len();
                return Ok(self.token(Tok::Str(text), start));
            }
            let at = self.pos;
            match self.bump() {
                None => return Err(unterminated(start, self.pos, quote)),
                Some('\n' | '\r') if quote.len() == 1 => {
                    return Err(unterminated(start, at, quote));
                }
                Some('\\') if !raw => text.push(self.escape(at)?),
                Some(c) => text.push(c),
            }
        }
    }

    /// Reads the escape whose backslash is at `at`.
    fn escape(&mut self, at: usize) -> Result<char> {
        let c = self
            .bump()
            .ok_or_else(|| bad_escape(self.src, at, self.pos))?;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' | '\'' | '"' | '`' | '?' => Some(c),
            _ => None,
        };
        if let Some(ch) = simple {
            return Ok(ch);
        }

        let code = match c {
            'x' | 'X' => self.hex_digits(2),
            'u' => self.hex_digits(4),
            'U' => self.hex_digits(8),
            '0'..='3' => Some(self.octal(c)),
            _ => None,
        };
        code.and_then(char::from_u32)
            .ok_or_else(|| bad_escape(self.src, at, self.pos))
    }

    fn hex_digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.rest().get(..n)?;
        let value = u32::from_str_radix(digits, 16).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += n;
        Some(value)
    }

    /// Three octal digits as in CEL; a lone `\0` is also accepted as NUL.
    fn octal(&mut self, first: char) -> u32 {
        let next: Vec<char> = self.rest().chars().take(2).collect();
        let is_octal = |c: &char| matches!(c, '0'..='7');
        if next.len() == 2 && next.iter().all(is_octal) {
            self.pos += 2;
            let digits = [first, next[0], next[1]];
            return digits
                .iter()
                .fold(0, |acc, d| acc * 8 + d.to_digit(8).unwrap_or(0));
        }
        if first == '0' {
            return 0;
        }
        u32::MAX
    }
}

fn unterminated(start: usize, end: usize, quote: &str) -> Error {
    Error::new("unterminated string", Span::new(start, end))
        .with_hint(format!("close it with `{quote}`"))
}

fn bad_escape(src: &str, at: usize, end: usize) -> Error {
    let text = src.get(at..end).unwrap_or("\\");
    Error::new(format!("invalid escape `{text}`"), Span::new(at, end)).with_hint(
        "escapes are \\n \\t \\r \\\\ \\' \\\" \\xHH \\uHHHH \\UHHHHHHHH and octal \\OOO",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Tok> {
        tokenize(source)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn non_ascii_outside_strings_is_rejected_at_that_character() {
        let error = tokenize("ab é").err();
        assert_eq!(
            error.map(|e| (e.message, e.span)),
            Some(("unexpected character `é`".into(), Span::new(3, 5)))
        );
        assert_eq!(kinds("'é'"), [Tok::Str("é".into()), Tok::End]);
    }

    #[test]
    fn longest_operator_wins() {
        assert_eq!(
            kinds("a<=b"),
            [
                Tok::Ident("a".into()),
                Tok::Punct("<="),
                Tok::Ident("b".into()),
                Tok::End
            ]
        );
        assert_eq!(
            kinds("!!x"),
            [
                Tok::Punct("!"),
                Tok::Punct("!"),
                Tok::Ident("x".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn keywords_are_not_identifiers() {
        assert_eq!(
            kinds("true false null in"),
            [Tok::True, Tok::False, Tok::Null, Tok::In, Tok::End]
        );
        assert_eq!(kinds("inx"), [Tok::Ident("inx".into()), Tok::End]);
    }

    #[test]
    fn a_dangling_exponent_is_left_for_the_parser() {
        assert_eq!(kinds("1e"), [Tok::Int(1), Tok::Ident("e".into()), Tok::End]);
        assert_eq!(
            kinds("1.x"),
            [
                Tok::Int(1),
                Tok::Punct("."),
                Tok::Ident("x".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn strings_span_their_quotes_and_prefix() {
        let tokens = tokenize("r'a' \"b\"").unwrap_or_default();
        let spans: Vec<(usize, usize)> =
            tokens.iter().map(|t| (t.span.start, t.span.end)).collect();
        assert_eq!(spans, [(0, 4), (5, 8), (8, 8)]);
    }
}
