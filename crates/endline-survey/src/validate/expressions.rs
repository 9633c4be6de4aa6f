//! Expressions: the scope they are checked in, calculations' inferred types, each
//! property parsed and checked, and dependency cycles.

use super::*;

impl Validator {
    pub(super) fn scope(&self) -> Scope<'_> {
        Scope { symbols: &self.symbols, decls: &self.decls, lists: &self.lists }
    }

    /// Infers the value type of each `calculate` from its calculation (calculations may use
    /// each other in any order). A worklist: every calculation is checked once, and again
    /// only when a calculation it uses changes type, so a chain costs its length, not its
    /// length squared (declared backwards, the fixed point over all of them took as many
    /// passes as the chain is long). Types only move up a short lattice, so it ends; the
    /// bound guards against a cycle (reported elsewhere).
    pub(super) fn infer_calculations(&mut self, pre: &[Pre<'_>]) {
        let mut calcs = Vec::new();
        collect_calcs(pre, &mut calcs);
        let parsed: Vec<(String, Vec<usize>, Expr)> = calcs
            .iter()
            .filter_map(|p| {
                let e = parse(&p.raw.calculation.as_ref()?.text).ok()?;
                Some((p.name.clone(), p.repeats.clone(), e))
            })
            .collect();
        let index: HashMap<&str, usize> = parsed.iter().enumerate().map(|(i, (n, _, _))| (n.as_str(), i)).collect();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); parsed.len()];
        for (i, (_, _, e)) in parsed.iter().enumerate() {
            for (name, _) in e.references() {
                if let Some(&j) = index.get(name) {
                    users[j].push(i);
                }
            }
        }
        let mut queue: std::collections::VecDeque<usize> = (0..parsed.len()).collect();
        let mut queued = vec![true; parsed.len()];
        let mut budget = parsed.len().saturating_mul(8) + 16;
        while let Some(i) = queue.pop_front() {
            queued[i] = false;
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let (name, repeats, e) = &parsed[i];
            let ty = {
                let scope = self.scope();
                Checker::new(&scope, Ctx { repeats, self_ty: None, property: "calculation", columns: &[] }).check(e)
            };
            if let Some(sym) = self.symbols.get_mut(name)
                && sym.kind != SymbolKind::Value(ty)
            {
                sym.kind = SymbolKind::Value(ty);
                for &u in &users[i] {
                    if !queued[u] {
                        queued[u] = true;
                        queue.push_back(u);
                    }
                }
            }
        }
    }

    /// The columns a `choice_filter` on a question with list `list` may name: `name`
    /// (the choice's value) and the choices' `filter` keys, typed by their values.
    fn choice_columns(&self, list: Option<usize>) -> Vec<(String, Ty)> {
        let Some(l) = list.and_then(|i| self.lists.get(i)) else { return Vec::new() };
        let ty = |int: bool| if int { Ty::Int } else { Ty::Text };
        let mut cols = vec![("name".to_string(), ty(l.has_int_values()))];
        for c in &l.choices {
            for (col, v) in &c.filter {
                match cols.iter_mut().find(|(n, _)| n == col) {
                    Some((_, t)) => {
                        if !v.is_int() {
                            *t = Ty::Text;
                        }
                    }
                    None => cols.push((col.clone(), ty(v.is_int()))),
                }
            }
        }
        cols
    }

    pub(super) fn is_int(&self, name: &str) -> bool {
        matches!(self.symbols.get(name), Some(Symbol { kind: SymbolKind::Value(Ty::Int), .. }))
    }

    /// Parses and checks one expression property, recording its dependencies.
    pub(super) fn expression(
        &mut self,
        p: &Pre<'_>,
        raw: &RawExpr,
        repeats: &[usize],
        self_ty: Option<Ty>,
        property: &'static str,
    ) -> Option<Expression> {
        // A property that does not belong on this item was reported as misplaced; its
        // expression would only add noise.
        if p.qtype.is_some_and(|t| misplaced(t, property).is_some()) {
            return None;
        }
        let filter = property == "choice_filter";
        let ast = match if filter { parse_filter(&raw.text) } else { parse(&raw.text) } {
            Ok(ast) => ast,
            Err(e) => {
                let span = map_span(&raw.map, e.span);
                self.error(codes::EXPRESSION_SYNTAX, span, format!("invalid {property} expression: {}", e.message));
                return None;
            }
        };
        let (ty, problems) = {
            let scope = self.scope();
            let columns = if filter { self.choice_columns(p.list) } else { Vec::new() };
            let mut checker = Checker::new(&scope, Ctx { repeats, self_ty, property, columns: &columns });
            let ty = checker.check(&ast);
            (ty, checker.problems)
        };
        for ExprProblem { code, severity, span, message, help } in problems {
            let span = map_span(&raw.map, span);
            let d = match severity {
                Severity::Error => Diagnostic::error(code, span, message),
                Severity::Warning => Diagnostic::warning(code, span, message),
            };
            self.diags.push(d.with_help_opt(help));
        }
        if property != "constraint" {
            for (name, span) in ast.references() {
                self.edges.push(Edge {
                    from: p.name.clone(),
                    to: name.to_string(),
                    property,
                    span: map_span(&raw.map, span),
                });
            }
        }
        Some(Expression { text: raw.text.clone(), ast, ty, span: raw.span, map: raw.map.clone() })
    }

    /// Finds dependency cycles and reports each once, naming every item on it.
    pub(super) fn cycles(&mut self) {
        let mut graph: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
        for e in &self.edges {
            if self.symbols.contains_key(&e.to) {
                graph.entry(e.from.as_str()).or_default().push(e);
            }
        }
        let mut reported: HashSet<Vec<&str>> = HashSet::new();
        let mut found = Vec::new();
        // Colour-marking DFS: a back edge to a node on the stack closes a cycle.
        let mut state: HashMap<&str, u8> = HashMap::new();
        // Start from items in interview order, so a cycle is named from its first item.
        let mut seen: HashSet<&str> = HashSet::new();
        let nodes: Vec<&str> =
            self.edges.iter().map(|e| e.from.as_str()).filter(|n| graph.contains_key(n) && seen.insert(n)).collect();
        for start in nodes {
            if state.get(start).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            let mut path: Vec<&Edge> = Vec::new();
            state.insert(start, 1);
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let edges = graph.get(node).map_or(&[][..], Vec::as_slice);
                if let Some(&edge) = edges.get(*next) {
                    *next += 1;
                    match state.get(edge.to.as_str()).copied().unwrap_or(0) {
                        0 => {
                            state.insert(&edge.to, 1);
                            path.push(edge);
                            stack.push((&edge.to, 0));
                        }
                        1 => {
                            let from = path.iter().position(|e| e.from == edge.to).unwrap_or(path.len());
                            let mut cycle: Vec<&Edge> = path[from..].to_vec();
                            cycle.push(edge);
                            let mut key: Vec<&str> = cycle.iter().map(|e| e.from.as_str()).collect();
                            key.sort_unstable();
                            if reported.insert(key) {
                                found.push(cycle);
                            }
                        }
                        _ => {}
                    }
                } else {
                    state.insert(node, 2);
                    stack.pop();
                    path.pop();
                }
            }
        }
        let mut diags = Vec::new();
        for cycle in found {
            let mut names: Vec<String> = cycle.iter().map(|e| format!("`{}` ({})", e.from, e.property)).collect();
            names.push(format!("`{}`", cycle[0].from));
            let first = cycle[0];
            let mut d = Diagnostic::error(codes::DEPENDENCY_CYCLE, first.span, format!("dependency cycle: {}", names.join(" → ")))
                .with_help("break the cycle: a value cannot depend, through calculations, relevance, requirements or counts, on itself");
            for e in cycle.iter().skip(1) {
                d = d.with_note(e.span, format!("`{}` depends on `{}` here", e.from, e.to));
            }
            diags.push(d);
        }
        self.diags.extend(diags);
    }
}

pub(super) fn collect_calcs<'p, 'r>(pre: &'p [Pre<'r>], out: &mut Vec<&'p Pre<'r>>) {
    for p in pre {
        if p.qtype == Some(QuestionType::Calculate) {
            out.push(p);
        }
        collect_calcs(&p.children, out);
    }
}

pub(super) fn find<'p, 'r>(pre: &'p [Pre<'r>], name: &str) -> Option<&'p Pre<'r>> {
    pre.iter().find_map(|p| if p.name == name { Some(p) } else { find(&p.children, name) })
}
