//! Lexer and recursive-descent parser for XLSForm expressions.
//!
//! Precedence, loosest first (as XPath 1.0): `or`, `and`, `= !=`, `< <= > >=`,
//! `+ -`, `* div mod`, unary `-`.

use endline_diag::Span;

use super::ast::{BinOp, Expr, ExprKind};

/// A syntax error in an expression, with its span in the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where, in the expression text.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Dec(f64),
    Str(String),
    Ref(String),
    Dot,
    Name(String),
    Op(BinOp),
    Minus,
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Int(_) | Tok::Dec(_) => "a number".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Ref(n) => format!("`${{{n}}}`"),
            Tok::Dot => "`.`".into(),
            Tok::Name(n) => format!("`{n}`"),
            Tok::Op(op) => format!("`{}`", op.as_str()),
            Tok::Minus => "`-`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')
}

fn lex(src: &str) -> Result<Vec<(Tok, Span)>, SyntaxError> {
    let mut toks = Vec::new();
    let mut chars = src.char_indices().peekable();
    let err = |message: String, start: usize, end: usize| SyntaxError { message, span: Span::new(start, end) };
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let one = |t: Tok| (t, Span::new(i, i + c.len_utf8()));
        match c {
            '(' | ')' | ',' | '+' | '*' | '=' | '-' => {
                chars.next();
                toks.push(one(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '+' => Tok::Op(BinOp::Add),
                    '*' => Tok::Op(BinOp::Mul),
                    '=' => Tok::Op(BinOp::Eq),
                    _ => Tok::Minus,
                }));
            }
            '!' | '<' | '>' => {
                chars.next();
                let eq = chars.next_if(|&(_, n)| n == '=').is_some();
                let (tok, len) = match (c, eq) {
                    ('!', true) => (Tok::Op(BinOp::Ne), 2),
                    ('<', true) => (Tok::Op(BinOp::Le), 2),
                    ('>', true) => (Tok::Op(BinOp::Ge), 2),
                    ('<', false) => (Tok::Op(BinOp::Lt), 1),
                    ('>', false) => (Tok::Op(BinOp::Gt), 1),
                    _ => {
                        return Err(err("`!` must be followed by `=`; for negation write `not(...)`".into(), i, i + 1));
                    }
                };
                toks.push((tok, Span::new(i, i + len)));
            }
            '$' => {
                chars.next();
                if chars.next_if(|&(_, n)| n == '{').is_none() {
                    return Err(err("`$` must start a reference such as `${name}`".into(), i, i + 1));
                }
                let mut name = String::new();
                let mut end = None;
                for (j, n) in chars.by_ref() {
                    if n == '}' {
                        end = Some(j + 1);
                        break;
                    }
                    name.push(n);
                }
                let Some(end) = end else {
                    return Err(err("unclosed reference: `${` has no matching `}`".into(), i, src.len()));
                };
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(err("empty reference `${}`: name a question".into(), i, end));
                }
                toks.push((Tok::Ref(name), Span::new(i, end)));
            }
            '\'' | '"' => {
                chars.next();
                let mut s = String::new();
                let mut end = None;
                for (j, n) in chars.by_ref() {
                    if n == c {
                        end = Some(j + 1);
                        break;
                    }
                    s.push(n);
                }
                let Some(end) = end else {
                    return Err(err(format!("unclosed string: no matching {c}"), i, src.len()));
                };
                toks.push((Tok::Str(s), Span::new(i, end)));
            }
            '0'..='9' | '.' => {
                let mut end = i;
                let mut text = String::new();
                while let Some(&(j, n)) = chars.peek() {
                    if n.is_ascii_digit() || n == '.' {
                        text.push(n);
                        end = j + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                if text == "." {
                    toks.push((Tok::Dot, Span::new(i, end)));
                } else if let Ok(v) = text.parse::<i64>() {
                    toks.push((Tok::Int(v), Span::new(i, end)));
                } else if let Ok(v) = text.parse::<f64>() {
                    toks.push((Tok::Dec(v), Span::new(i, end)));
                } else {
                    return Err(err(format!("`{text}` is not a number"), i, end));
                }
            }
            c if is_name_start(c) => {
                let mut end = i;
                let mut name = String::new();
                while let Some(&(j, n)) = chars.peek() {
                    if is_name_char(n) {
                        name.push(n);
                        end = j + n.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let tok = match name.as_str() {
                    "and" => Tok::Op(BinOp::And),
                    "or" => Tok::Op(BinOp::Or),
                    "div" => Tok::Op(BinOp::Div),
                    "mod" => Tok::Op(BinOp::Mod),
                    _ => Tok::Name(name),
                };
                toks.push((tok, Span::new(i, end)));
            }
            _ => {
                let hint = match c {
                    '/' => "; XLSForm divides with `div`",
                    '%' => "; XLSForm takes the remainder with `mod`",
                    '&' | '|' => "; XLSForm writes `and` and `or`",
                    _ => "",
                };
                return Err(err(format!("unexpected character `{c}`{hint}"), i, i + c.len_utf8()));
            }
        }
    }
    toks.push((Tok::End, Span::point(src.len())));
    Ok(toks)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
    /// Whether a bare name is a choice column (in a `choice_filter`).
    names: bool,
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

impl Parser {
    fn peek(&self) -> &(Tok, Span) {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.min(last)]
    }

    fn bump(&mut self) -> (Tok, Span) {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, wanted: &str) -> SyntaxError {
        let (tok, span) = self.peek();
        SyntaxError { message: format!("expected {wanted}, found {}", tok.describe()), span: *span }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, SyntaxError> {
        const LEVELS: [&[BinOp]; 6] = [
            &[BinOp::Or],
            &[BinOp::And],
            &[BinOp::Eq, BinOp::Ne],
            &[BinOp::Lt, BinOp::Le, BinOp::Gt, BinOp::Ge],
            &[BinOp::Add, BinOp::Sub],
            &[BinOp::Mul, BinOp::Div, BinOp::Mod],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut lhs = self.binary(level + 1)?;
        loop {
            let op = match &self.peek().0 {
                Tok::Op(op) if ops.contains(op) => *op,
                Tok::Minus if ops.contains(&BinOp::Sub) => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.binary(level + 1)?;
            let span = lhs.span.cover(rhs.span);
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if matches!(self.peek().0, Tok::Minus) {
            let (_, start) = self.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(SyntaxError {
                    message: format!("expression nests deeper than {MAX_DEPTH} levels"),
                    span: start,
                });
            }
            let inner = self.unary()?;
            self.depth -= 1;
            let span = start.cover(inner.span);
            return Ok(Expr { kind: ExprKind::Neg(Box::new(inner)), span });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                message: format!("expression nests deeper than {MAX_DEPTH} levels"),
                span: self.peek().1,
            });
        }
        let (tok, span) = self.peek().clone();
        let kind = match tok {
            Tok::Int(v) => ExprKind::Int(v),
            Tok::Dec(v) => ExprKind::Dec(v),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ref(n) => ExprKind::Ref(n),
            Tok::Dot => ExprKind::SelfRef,
            Tok::LParen => {
                self.bump();
                let inner = self.binary(0)?;
                let close = self.expect_rparen()?;
                self.depth -= 1;
                return Ok(Expr { kind: inner.kind, span: span.cover(close) });
            }
            Tok::Name(name) => {
                self.bump();
                if !matches!(self.peek().0, Tok::LParen) && self.names {
                    self.depth -= 1;
                    return Ok(Expr { kind: ExprKind::Name(name), span });
                }
                if !matches!(self.peek().0, Tok::LParen) {
                    let hint = if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        format!("; to refer to a question write `${{{name}}}`, to compare with text quote it: '{name}'")
                    } else {
                        String::new()
                    };
                    return Err(SyntaxError {
                        message: format!("bare name `{name}` is not an expression{hint}"),
                        span,
                    });
                }
                self.bump();
                let mut args = Vec::new();
                if !matches!(self.peek().0, Tok::RParen) {
                    loop {
                        args.push(self.binary(0)?);
                        if matches!(self.peek().0, Tok::Comma) {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                let close = self.expect_rparen()?;
                self.depth -= 1;
                return Ok(Expr { kind: ExprKind::Call { name, name_span: span, args }, span: span.cover(close) });
            }
            _ => return Err(self.unexpected("a value, a reference such as `${name}`, or `(`")),
        };
        self.bump();
        self.depth -= 1;
        Ok(Expr { kind, span })
    }

    fn expect_rparen(&mut self) -> Result<Span, SyntaxError> {
        if matches!(self.peek().0, Tok::RParen) { Ok(self.bump().1) } else { Err(self.unexpected("`)`")) }
    }
}

/// Longer expressions are refused: they belong in several `calculate` questions, and the
/// limit bounds the depth of every tree walk over the syntax tree.
pub const MAX_TOKENS: usize = 2_000;

/// Parses an expression. The error, if any, carries a span in `src`.
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    parse_with(src, false)
}

/// Parses a `choice_filter`, where a bare name is a column of the choices sheet.
pub fn parse_filter(src: &str) -> Result<Expr, SyntaxError> {
    parse_with(src, true)
}

fn parse_with(src: &str, names: bool) -> Result<Expr, SyntaxError> {
    let toks = lex(src)?;
    if toks.len() > MAX_TOKENS {
        return Err(SyntaxError {
            message: format!(
                "expression has {} tokens, more than the {MAX_TOKENS} allowed; split it into `calculate` questions",
                toks.len() - 1
            ),
            span: Span::new(0, src.len()),
        });
    }
    let mut p = Parser { toks, pos: 0, depth: 0, names };
    if matches!(p.peek().0, Tok::End) {
        return Err(SyntaxError { message: "empty expression".into(), span: Span::point(0) });
    }
    let e = p.binary(0)?;
    if !matches!(p.peek().0, Tok::End) {
        return Err(p.unexpected("an operator or the end of the expression"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Dec(v) => format!("{v:?}"),
            ExprKind::Str(s) => format!("'{s}'"),
            ExprKind::Ref(n) => format!("${{{n}}}"),
            ExprKind::SelfRef => ".".into(),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Neg(x) => format!("(-{})", show(x)),
            ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.as_str(), show(b)),
            ExprKind::Call { name, args, .. } => {
                format!("{name}({})", args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
        }
    }

    #[test]
    fn a_bare_name_is_a_choice_column_only_in_a_filter() {
        let f = parse_filter("county = ${county} and name != 3").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(show(&f), "((county = ${county}) and (name != 3))");
        let e = parse("county = ${county}").err().map(|e| e.message).unwrap_or_default();
        assert!(e.starts_with("bare name `county` is not an expression"), "{e}");
    }

    #[test]
    fn precedence_follows_xpath() {
        let cases = [
            ("1 + 2 * 3", "(1 + (2 * 3))"),
            ("${a} > 1 and ${b} < 2 or . = 'x'", "(((${a} > 1) and (${b} < 2)) or (. = 'x'))"),
            ("-${x} - 3 div 4 mod 2", "((-${x}) - ((3 div 4) mod 2))"),
            ("(1 + 2) * 3", "((1 + 2) * 3)"),
            ("count-selected(${crops}) >= 1", "(count-selected(${crops}) >= 1)"),
            ("if(${a} = 1, 'yes', \"no\")", "if((${a} = 1), 'yes', 'no')"),
            ("today()", "today()"),
            ("${x}-1", "(${x} - 1)"),
            ("2.5 != .5", "(2.5 != 0.5)"),
            ("1 = 2 = 3", "((1 = 2) = 3)"),
        ];
        for (src, want) in cases {
            let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
            assert_eq!(show(&e), want, "{src}");
        }
    }

    #[test]
    fn spans_point_at_tokens() {
        let e = parse("${age} >= 18").unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(e.references(), vec![("age", Span::new(0, 6))]);
        assert_eq!(e.span, Span::new(0, 12));
    }

    #[test]
    fn errors_say_what_was_expected() {
        let cases = [
            ("", "empty expression", 0),
            ("1 +", "expected a value, a reference such as `${name}`, or `(`, found the end of the expression", 3),
            ("(1 + 2", "expected `)`, found the end of the expression", 6),
            ("${a} > 3 3", "expected an operator or the end of the expression, found a number", 9),
            ("${a", "unclosed reference: `${` has no matching `}`", 0),
            ("'abc", "unclosed string: no matching '", 0),
            ("${a} / 2", "unexpected character `/`; XLSForm divides with `div`", 5),
            ("${a} ! 2", "`!` must be followed by `=`; for negation write `not(...)`", 5),
            (
                "yes",
                "bare name `yes` is not an expression; to refer to a question write `${yes}`, to compare with text quote it: 'yes'",
                0,
            ),
            ("${}", "empty reference `${}`: name a question", 0),
            ("1..2", "`1..2` is not a number", 0),
        ];
        for (src, msg, at) in cases {
            let err = parse(src).err().unwrap_or_else(|| panic!("{src} parsed"));
            assert_eq!((err.message.as_str(), err.span.start), (msg, at), "{src}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&src).is_err());
        let src = format!("{}1", "-".repeat(100_000));
        let _ = parse(&src);
    }
}
