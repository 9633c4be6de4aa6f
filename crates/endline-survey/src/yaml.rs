//! YAML with source spans, on top of `marked-yaml`.
//!
//! marked-yaml reports positions as character indices and gives scalars only a start;
//! this module turns those into byte [`Span`]s of the whole token, and maps byte offsets
//! inside a scalar's decoded text (an expression) back into the file, through quotes,
//! escapes and folded lines.

use endline_diag::{Diagnostic, SourceFile, Span};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, Node};
use marked_yaml::{LoadError, LoaderOptions};

use crate::codes;

/// How deeply mappings and lists may nest in a survey or plan (a group inside a group
/// takes two levels; real surveys use fewer than 20).
pub const MAX_DEPTH: usize = 128;

/// A parsed YAML document and the file it came from.
pub struct Doc<'f> {
    /// The file.
    pub file: &'f SourceFile,
    char_to_byte: Vec<usize>,
    kind: &'static str,
}

impl<'f> Doc<'f> {
    /// A survey file.
    pub fn new(file: &'f SourceFile) -> Self {
        Self::of_kind(file, "survey")
    }

    /// A file of another kind (`"plan"`), named so in parse errors.
    pub fn of_kind(file: &'f SourceFile, kind: &'static str) -> Self {
        let mut char_to_byte: Vec<usize> = file.text().char_indices().map(|(i, _)| i).collect();
        char_to_byte.push(file.text().len());
        Doc { file, char_to_byte, kind }
    }

    /// Parses the text; a failure is one diagnostic at the place the parser stopped.
    pub fn parse(&self) -> Result<Node, Box<Diagnostic>> {
        self.check_depth()?;
        let options = LoaderOptions::default().error_on_duplicate_keys(true).prevent_coercion(true);
        marked_yaml::parse_yaml_with_options(0, self.file.text(), options).map_err(|e| Box::new(self.load_error(e)))
    }

    /// Refuses a document nested deeper than [`MAX_DEPTH`] before marked-yaml builds its
    /// tree, which it does recursively (8 KB of block nesting overflowed the stack).
    /// yaml-rust2's event parser keeps its nesting on the heap, so counting its events is
    /// safe at any depth. Syntax errors are left to the parse that follows.
    fn check_depth(&self) -> Result<(), Box<Diagnostic>> {
        use yaml_rust2::parser::{Event, Parser};
        let mut parser = Parser::new_from_str(self.file.text());
        let mut depth = 0usize;
        loop {
            match parser.next_token() {
                Ok((Event::MappingStart(..) | Event::SequenceStart(..), m)) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        let at = self.file.offset_of(m.line(), m.col());
                        return Err(Box::new(Diagnostic::error(
                            codes::YAML_SYNTAX,
                            Span::new(at, self.file.clamp(at + 1)),
                            format!("this {} nests mappings and lists deeper than {MAX_DEPTH} levels", self.kind),
                        )));
                    }
                }
                Ok((Event::MappingEnd | Event::SequenceEnd, _)) => depth = depth.saturating_sub(1),
                Ok((Event::StreamEnd, _)) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    }

    fn at(&self, m: &marked_yaml::Marker) -> usize {
        self.file.offset_of(m.line(), m.column())
    }

    fn load_error(&self, e: LoadError) -> Diagnostic {
        let point = |m: &marked_yaml::Marker| {
            let at = self.at(m);
            Span::new(at, self.file.clamp(at + 1))
        };
        match e {
            LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => Diagnostic::error(
                codes::YAML_SYNTAX,
                point(&m),
                format!("a {} file must be a YAML mapping of keys to values", self.kind),
            ),
            LoadError::UnexpectedAnchor(m) => Diagnostic::error(
                codes::YAML_UNSUPPORTED,
                point(&m),
                format!("YAML anchors and aliases are not supported in {} files", self.kind),
            )
            .with_help("write the repeated part out; shared choices belong in a named list under `choices:`"),
            LoadError::UnexpectedTag(m) => Diagnostic::error(
                codes::YAML_UNSUPPORTED,
                point(&m),
                format!("YAML tags (`!name`) are not supported in {} files", self.kind),
            ),
            LoadError::MappingKeyMustBeScalar(m) => {
                Diagnostic::error(codes::YAML_SYNTAX, point(&m), "a mapping key must be a plain name")
            }
            LoadError::ScanError(m, err) => {
                Diagnostic::error(codes::YAML_SYNTAX, point(&m), format!("invalid YAML: {}", err.info()))
            }
            LoadError::DuplicateKey(inner) => {
                let span = self.scalar_span(&inner.key);
                let first = self.scalar_span(&inner.prev_key);
                Diagnostic::error(
                    codes::DUPLICATE_KEY,
                    span,
                    format!("`{}` is given twice in the same mapping", inner.key.as_str()),
                )
                .with_note(first, "first given here")
            }
        }
    }

    fn byte_of_char(&self, c: usize) -> usize {
        self.char_to_byte.get(c).copied().unwrap_or(self.file.text().len())
    }

    /// The span of a node: a scalar's whole token; a collection's start.
    pub fn span(&self, node: &Node) -> Span {
        match node {
            Node::Scalar(s) => self.scalar_span(s),
            other => self.marked_span(other.span()),
        }
    }

    /// A marked-yaml span in bytes (a missing end makes it empty).
    pub fn marked_span(&self, span: &marked_yaml::Span) -> Span {
        let start = span.start().map_or(0, |m| self.byte_of_char(m.character()));
        let end = span.end().map_or(start, |m| self.byte_of_char(m.character()));
        Span::new(start, end.max(start))
    }

    /// The span of a scalar token, quotes included.
    pub fn scalar_span(&self, s: &MarkedScalarNode) -> Span {
        let text = self.file.text();
        let start = s.span().start().map_or(0, |m| self.byte_of_char(m.character()));
        let rest = text.get(start..).unwrap_or("");
        let end = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => start + quoted_len(rest, q),
            Some('|' | '>') => start + rest.find('\n').unwrap_or(rest.len()),
            _ => {
                let first = s.as_str().lines().next().unwrap_or("");
                if !first.is_empty() && rest.starts_with(first) {
                    start + first.len()
                } else {
                    start
                        + rest
                            .find(['\n', '#'])
                            .unwrap_or(rest.len())
                            .min(rest.find(", ").unwrap_or(usize::MAX))
                            .min(rest.len())
                }
            }
        };
        Span::new(start, end.max(start + usize::from(!rest.is_empty() && end == start)))
    }

    /// For each byte of the scalar's decoded value (and one past its end), the byte in the
    /// file it came from. Decoded characters are matched to the raw token in order; a
    /// character with no raw counterpart nearby (an escape such as `\u00e9`) maps to the
    /// raw position reached so far, so no offset ever points outside the token's area.
    pub fn value_map(&self, s: &MarkedScalarNode) -> Vec<usize> {
        const WINDOW: usize = 24;
        let text = self.file.text();
        let value = s.as_str();
        let mut p = s.span().start().map_or(0, |m| self.byte_of_char(m.character()));
        let mut map = Vec::with_capacity(value.len() + 1);
        for c in value.chars() {
            let found = text.get(p..).and_then(|rest| {
                rest.char_indices()
                    .take(WINDOW)
                    .find(|&(_, r)| r == c || (c.is_whitespace() && r.is_whitespace()))
                    .map(|(i, r)| (p + i, r.len_utf8()))
            });
            let at = match found {
                Some((at, len)) => {
                    p = at + len;
                    at
                }
                None => p,
            };
            map.extend(std::iter::repeat_n(at, c.len_utf8()));
        }
        map.push(p);
        map
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    /// The value.
    pub v: T,
    /// Where it was written.
    pub span: Span,
}

/// Reads YAML nodes into values, recording every problem and going on, so that one run
/// reports them all. The survey reader and the analysis-plan reader build on it.
pub struct Reader<'d, 'f> {
    /// The document read.
    pub doc: &'d Doc<'f>,
    /// Every problem found so far.
    pub diags: Vec<Diagnostic>,
}

/// What a node is, for messages: "a scalar", "a mapping", "a list".
pub fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a scalar",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

impl Reader<'_, '_> {
    /// Records an `invalid-value` error at the node.
    pub fn invalid(&mut self, node: &Node, message: String) {
        let span = self.doc.span(node);
        self.diags.push(Diagnostic::error(codes::INVALID_VALUE, span, message));
    }

    /// The span of a mapping: from its first key to its end.
    pub fn mapping_span(&self, m: &MarkedMappingNode) -> Span {
        let start = m.keys().map(|k| self.doc.scalar_span(k).start).min();
        let own = self.doc.marked_span(m.span());
        start.map_or(own, |s| Span::new(s, own.end.max(s)))
    }

    /// The entries of a mapping; unknown keys are reported, with a suggestion.
    pub fn fields<'n>(
        &mut self,
        m: &'n MarkedMappingNode,
        allowed: &[&str],
        what: &str,
    ) -> Vec<(&'n MarkedScalarNode, &'n Node)> {
        let mut out = Vec::new();
        for (k, v) in m.iter() {
            if allowed.contains(&k.as_str()) {
                out.push((k, v));
            } else {
                let help =
                    endline_diag::suggest(k.as_str(), allowed.iter().copied()).map(|s| format!("did you mean `{s}`?"));
                let span = self.doc.scalar_span(k);
                self.diags.push(
                    Diagnostic::error(codes::UNKNOWN_KEY, span, format!("unknown key `{}` in {what}", k.as_str()))
                        .with_help_opt(
                            help.or_else(|| Some(format!("the keys of {what} are: {}", allowed.join(", ")))),
                        ),
                );
            }
        }
        out
    }

    /// The items of a list; anything else is an `invalid-value` error.
    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match node {
            Node::Sequence(s) => Some(s.as_slice()),
            other => {
                self.invalid(other, format!("{what} must be a list, but is {}", kind_of(other)));
                None
            }
        }
    }

    /// A scalar and its span.
    pub fn sp(&self, s: &MarkedScalarNode) -> Sp<String> {
        Sp { v: s.as_str().to_string(), span: self.doc.scalar_span(s) }
    }

    /// A scalar as a string; anything else is an `invalid-value` error.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match node {
            Node::Scalar(s) => Some(self.sp(s)),
            other => {
                self.invalid(other, format!("{what} must be a string, but is {}", kind_of(other)));
                None
            }
        }
    }

    /// `true`/`yes` or `false`/`no`.
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<Sp<bool>> {
        let s = self.string(node, what)?;
        match s.v.as_str() {
            "true" | "yes" => Some(Sp { v: true, span: s.span }),
            "false" | "no" => Some(Sp { v: false, span: s.span }),
            other => {
                self.diags.push(Diagnostic::error(
                    codes::INVALID_VALUE,
                    s.span,
                    format!("{what} must be true or false, but is `{other}`"),
                ));
                None
            }
        }
    }
}

/// The byte length of a quoted scalar starting at `rest[0] == q`, closing quote included.
fn quoted_len(rest: &str, q: char) -> usize {
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if q == '"' => {
                chars.next();
            }
            c if c == q => {
                if q == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                    continue;
                }
                return i + 1;
            }
            _ => {}
        }
    }
    rest.len()
}

/// Maps a span in a decoded scalar value to the file through a [`Doc::value_map`].
pub fn map_span(map: &[usize], span: Span) -> Span {
    let at = |i: usize| map.get(i).or(map.last()).copied().unwrap_or(0);
    let start = at(span.start);
    let end = if span.end > span.start { at(span.end - 1) + 1 } else { start };
    Span::new(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar<'n>(node: &'n Node, key: &str) -> &'n MarkedScalarNode {
        node.as_mapping().and_then(|m| m.get_scalar(key)).unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn spans_and_maps_follow_quotes_and_folding() {
        let src = "a: \"${x} > \\\"3\\\"\"\nb: 'it''s ${y}'\nc: plain ${z} here # note\nd: >-\n  ${w} and\n  ${v}\n";
        let f = SourceFile::new("t.yaml", src);
        let doc = Doc::new(&f);
        let node = doc.parse().unwrap_or_else(|e| panic!("{e:?}"));
        for (key, needle) in [("a", "${x}"), ("b", "${y}"), ("c", "${z}"), ("d", "${v}")] {
            let s = scalar(&node, key);
            let map = doc.value_map(s);
            let i = s.as_str().find(needle).unwrap_or_else(|| panic!("{key}"));
            let span = map_span(&map, Span::new(i, i + needle.len()));
            assert_eq!(&src[span.start..span.end], needle, "{key}");
        }
        let a = doc.scalar_span(scalar(&node, "a"));
        assert_eq!(&src[a.start..a.end], "\"${x} > \\\"3\\\"\"");
        let c = doc.scalar_span(scalar(&node, "c"));
        assert_eq!(&src[c.start..c.end], "plain ${z} here");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let f = SourceFile::new("t.yaml", "a: 1\na: 2\n");
        let err = Doc::new(&f).parse().err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.code, codes::DUPLICATE_KEY);
        assert_eq!(f.line_col(err.span.start).line, 2);
    }
}
