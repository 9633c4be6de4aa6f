//! Formulas in fixest syntax: `y ~ x1 + x2 + i(t, ref=-1) + C(g) + x1:x2 | fe1 + fe2`.

use std::fmt;

use crate::error::{AnalysisError, Result};

/// One factor of a term.
#[derive(Debug, Clone, PartialEq)]
pub enum Factor {
    /// A numeric column.
    Var(String),
    /// `i(var, [by,] ref=v)`: indicators for each level of `var` except `ref`, each
    /// multiplied by the numeric column `by` when given.
    I {
        /// The factor column.
        var: String,
        /// A numeric column to interact with.
        by: Option<String>,
        /// Levels left out, as written (`-1`, `'a'`).
        refs: Vec<String>,
    },
    /// `C(var)`: dummies for the levels of `var`; the first level is left out when the
    /// model has an intercept or fixed effects.
    C(String),
}

/// A right-hand-side term: a product of factors (`x1:x2`, `i(t):x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The factors multiplied together.
    pub factors: Vec<Factor>,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// The text as given.
    pub text: String,
    /// The dependent variable.
    pub depvar: String,
    /// The regressors, in order.
    pub terms: Vec<Term>,
    /// Fixed effects to absorb; `a^b` combines columns into one effect.
    pub fixef: Vec<Vec<String>>,
    /// Whether the model has an intercept: yes without fixed effects unless `0` or `-1`
    /// is written (fixest's rule: fixed effects absorb the intercept).
    pub intercept: bool,
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    Sym(char),
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
        } else if c.is_alphabetic() || c == '_' || c == '.' {
            let mut s = String::new();
            while let Some(&(_, d)) = it.peek() {
                if d.is_alphanumeric() || d == '_' || d == '.' {
                    s.push(d);
                    it.next();
                } else {
                    break;
                }
            }
            out.push((Tok::Ident(s), i));
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            while let Some(&(_, d)) = it.peek() {
                if d.is_ascii_digit() || d == '.' {
                    s.push(d);
                    it.next();
                } else {
                    break;
                }
            }
            out.push((Tok::Num(s), i));
        } else if c == '`' || c == '\'' || c == '"' {
            it.next();
            let mut s = String::new();
            let mut closed = false;
            for (_, d) in it.by_ref() {
                if d == c {
                    closed = true;
                    break;
                }
                s.push(d);
            }
            if !closed {
                return Err(AnalysisError::Formula { message: format!("unclosed {c}"), at: i });
            }
            out.push((if c == '`' { Tok::Ident(s) } else { Tok::Str(s) }, i));
        } else if "~+|:(),=-^[]".contains(c) {
            out.push((Tok::Sym(c), i));
            it.next();
        } else {
            return Err(AnalysisError::Formula { message: format!("unexpected character `{c}`"), at: i });
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    len: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(_, i)| *i)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(AnalysisError::Formula { message: message.into(), at: self.at() })
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Consumes `c`, or reports a syntax error at the current token.
    fn require(&mut self, c: char) -> Result<()> {
        if self.eat(c) { Ok(()) } else { self.err(format!("expected `{c}`")) }
    }
    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => self.err(format!("expected {what}")),
        }
    }
    /// A level as written: a number (possibly negative), a string, or a name.
    fn level(&mut self) -> Result<String> {
        let neg = self.eat('-');
        let v = match self.peek().cloned() {
            Some(Tok::Num(n)) => n,
            Some(Tok::Str(s) | Tok::Ident(s)) if !neg => s,
            _ => return self.err("expected a reference level such as -1"),
        };
        self.pos += 1;
        Ok(if neg { format!("-{v}") } else { v })
    }

    fn factor(&mut self) -> Result<Factor> {
        let name = self.ident("a column name, i(...) or C(...)")?;
        if !self.eat('(') {
            return Ok(Factor::Var(name));
        }
        match name.as_str() {
            "C" => {
                let var = self.ident("a column name")?;
                self.require(')')?;
                Ok(Factor::C(var))
            }
            "i" => {
                let var = self.ident("a column name")?;
                let mut by = None;
                let mut refs = Vec::new();
                while self.eat(',') {
                    match self.peek().cloned() {
                        Some(Tok::Ident(k))
                            if k == "ref" && self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::Sym('=')) =>
                        {
                            self.pos += 2;
                            if self.eat('[')
                                || (self.peek() == Some(&Tok::Ident("c".into())) && {
                                    self.pos += 1;
                                    self.eat('(')
                                })
                            {
                                loop {
                                    refs.push(self.level()?);
                                    if !self.eat(',') {
                                        break;
                                    }
                                }
                                if !self.eat(']') {
                                    self.require(')')?;
                                }
                            } else {
                                refs.push(self.level()?);
                            }
                        }
                        Some(Tok::Ident(_)) if by.is_none() => by = Some(self.ident("a column name")?),
                        _ => return self.err("expected `ref=LEVEL` or a column to interact with"),
                    }
                }
                self.require(')')?;
                Ok(Factor::I { var, by, refs })
            }
            other => self.err(format!("unknown function `{other}(...)`; the formula knows i(...) and C(...)")),
        }
    }
}

/// Parses a formula in fixest syntax.
pub fn parse(text: &str) -> Result<Formula> {
    let toks = lex(text)?;
    let mut p = P { toks, pos: 0, len: text.len() };
    let depvar = p.ident("the dependent variable before `~`")?;
    p.require('~')?;
    let mut terms = Vec::new();
    let mut intercept = true;
    let mut explicit_zero = false;
    loop {
        match p.peek().cloned() {
            Some(Tok::Num(n)) if n == "0" || n == "1" => {
                p.pos += 1;
                if n == "0" {
                    explicit_zero = true;
                }
            }
            Some(Tok::Sym('-')) => {
                p.pos += 1;
                match p.peek().cloned() {
                    Some(Tok::Num(n)) if n == "1" => {
                        p.pos += 1;
                        explicit_zero = true;
                    }
                    _ => return p.err("only `-1` (no intercept) may be subtracted"),
                }
            }
            _ => {
                let mut factors = vec![p.factor()?];
                while p.eat(':') {
                    factors.push(p.factor()?);
                }
                terms.push(Term { factors });
            }
        }
        if !p.eat('+') && p.peek() != Some(&Tok::Sym('-')) {
            break;
        }
    }
    let mut fixef = Vec::new();
    if p.eat('|') {
        loop {
            let mut combo = vec![p.ident("a fixed-effect column")?];
            while p.eat('^') {
                combo.push(p.ident("a fixed-effect column")?);
            }
            fixef.push(combo);
            if !p.eat('+') {
                break;
            }
        }
    }
    if p.pos < p.toks.len() {
        return p.err("unexpected text; terms are joined with `+`, fixed effects follow `|`");
    }
    if !fixef.is_empty() || explicit_zero {
        intercept = false;
    }
    Ok(Formula { text: text.trim().to_string(), depvar, terms, fixef, intercept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixest_syntax() {
        let f = parse("y ~ x1 + x2:x3 + i(rel, ref=-1) + C(region) | unit + year").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.depvar, "y");
        assert_eq!(f.terms.len(), 4);
        assert_eq!(f.terms[1].factors, vec![Factor::Var("x2".into()), Factor::Var("x3".into())]);
        assert_eq!(f.terms[2].factors, vec![Factor::I { var: "rel".into(), by: None, refs: vec!["-1".into()] }]);
        assert_eq!(f.fixef, vec![vec!["unit".to_string()], vec!["year".to_string()]]);
        assert!(!f.intercept);
        let g = parse("y ~ i(t, treat, ref=c(-1, -5)) + x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            g.terms[0].factors,
            vec![Factor::I { var: "t".into(), by: Some("treat".into()), refs: vec!["-1".into(), "-5".into()] }]
        );
        assert!(g.intercept);
        assert!(!parse("y ~ 0 + x").unwrap_or_else(|e| panic!("{e}")).intercept);
        assert!(!parse("y ~ x - 1").unwrap_or_else(|e| panic!("{e}")).intercept);
        assert_eq!(
            parse("y ~ x | a^b").unwrap_or_else(|e| panic!("{e}")).fixef,
            vec![vec!["a".to_string(), "b".to_string()]]
        );
    }

    #[test]
    fn errors_point_into_the_formula() {
        for (text, at) in [("y x", 2), ("y ~ x +", 7), ("y ~ f(x)", 6), ("y ~ x | ", 8), ("y ~ x x", 6), ("~ x", 0)] {
            match parse(text) {
                Err(AnalysisError::Formula { at: got, .. }) => assert_eq!(got, at, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Any text: a formula or an error whose offset lies inside the text.
        #[test]
        fn parse_never_panics(text in "[ -~]{0,60}") {
            if let Err(crate::error::AnalysisError::Formula { at, .. }) = super::parse(&text) {
                prop_assert!(at <= text.len());
            }
        }

        /// Long and deeply nested formulas (the bounded fuzz run; see ENDLINE_FUZZ_CASES in
        /// endline-survey's fuzz tests for a longer one).
        #[test]
        fn long_formulas_never_panic(depth in 0usize..20_000, parts in prop::collection::vec(prop::sample::select(vec!["x", "+", "|", "^", ":", "i(", "C(", ")", "(", ","]), 0..5_000)) {
            let _ = super::parse(&format!("y ~ {}x{}", "(".repeat(depth), ")".repeat(depth)));
            let _ = super::parse(&format!("y ~ {}x{}", "i(".repeat(depth), ")".repeat(depth)));
            let _ = super::parse(&format!("y ~ {}", parts.join(" ")));
        }

        #[test]
        fn formula_like_text_never_panics(parts in prop::collection::vec(prop::sample::select(vec!["y", "x", "~", "+", "|", ":", "^", "i(", "C(", ")", ",", "ref=", "-1", "c(", "0", "1", "-", "`a b`", "'s'"]), 0..20)) {
            let _ = super::parse(&parts.join(" "));
        }
    }
}
