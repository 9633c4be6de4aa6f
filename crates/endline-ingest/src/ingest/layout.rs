//! The survey's tables and each input file's place in them: which table a file holds,
//! what each of its columns is (a question, split choices, a point's parts, platform
//! metadata, endline's own columns), and the batch check that runs every rule.

use super::*;

pub(super) const META_NAMES: &[&str] = &[
    "KEY",
    "PARENT_KEY",
    "SubmissionDate",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
    "instanceID",
    "instanceName",
    "start",
    "end",
    "deviceid",
    "username",
];

pub(super) fn is_meta(col: &str) -> bool {
    let last = col.rsplit(['-', '/']).next().unwrap_or(col);
    col.starts_with('_')
        || META_NAMES.contains(&col)
        || matches!(last, "instanceID" | "instanceName" | "deprecatedID")
        || col.starts_with("meta-")
        || col.starts_with("meta/")
        || col.starts_with("formhub/")
}

/// Two columns of one header that would fill the same place (the same name twice, or an
/// ODK Central `grp-name` path and a plain name for one question): which copy is right
/// cannot be told, so the file is refused rather than one copy silently kept.
pub(super) fn ambiguous(columns: &[String], roles: &[Role], items: &[&Item]) -> Option<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, (col, role)) in columns.iter().zip(roles).enumerate() {
        let place = match role {
            Role::Item(c) => format!("question `{}`", items[*c].name()),
            Role::SplitChoice(c, v) => format!("choice `{v}` of `{}`", items[*c].name()),
            Role::GeoPart(c, k) => format!("part {k} of `{}`", items[*c].name()),
            Role::ParentKey => "the parent's key".to_string(),
            Role::Meta(_) | Role::Own | Role::Note | Role::Unknown => format!("column `{col}`"),
        };
        if let Some(first) = seen.insert(place.clone(), i) {
            return Some(format!(
                "columns {} (`{}`) and {} (`{col}`) both hold {place}: endline cannot tell which copy is right; \
                 remove or rename one",
                first + 1,
                columns[first],
                i + 1
            ));
        }
    }
    None
}

/// The table of each input: explicit, or by ODK Central's names `<survey>.csv` and
/// `<survey>-<repeat>.csv` (also `.jsonl`/`.json`).
pub(super) fn table_of(survey: &Survey, input: &Input, names: &[String]) -> Result<usize, IngestError> {
    let wanted = match &input.table {
        Some(t) => t.clone(),
        None => {
            let stem = input.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if stem == survey.id() {
                stem
            } else if let Some(rest) = stem.strip_prefix(&format!("{}-", survey.id())) {
                rest.to_string()
            } else {
                return Err(IngestError::Usage(format!(
                    "cannot tell which table {} holds: name it `{}.csv` or `{}-<repeat>.csv` as ODK Central does, or write TABLE={}",
                    input.display,
                    survey.id(),
                    survey.id(),
                    input.display
                )));
            }
        }
    };
    names.iter().position(|n| *n == wanted).ok_or_else(|| {
        IngestError::Usage(format!(
            "{}: `{wanted}` is not a table of survey `{}` (tables: {})",
            input.display,
            survey.id(),
            names.join(", ")
        ))
    })
}

/// The survey's tables and each input file's place in them, worked out from the files'
/// headers before any record is read.
#[derive(Debug, Clone)]
pub struct Layout<'s> {
    survey: &'s Survey,
    tables: Vec<TableData<'s>>,
    location: FnvMap<&'s str, (usize, usize)>,
    /// Each input's table and its index among the table's files.
    pub(super) places: Vec<(usize, usize)>,
    /// Unknown and missing columns.
    pub(crate) file_issues: Vec<Issue>,
    wave: String,
    on_error: OnError,
    today: Option<NaiveDate>,
    /// Whether any expression ingest evaluates uses `today()` or `now()`: only then are
    /// submission dates read ([`submission_dates`]).
    clocked: bool,
}

pub(super) fn clock_in(e: &Expression) -> bool {
    let mut uses = false;
    e.ast().walk(&mut |n| {
        if let ExprKind::Call { name, .. } = &n.kind
            && (name == "today" || name == "now")
        {
            uses = true;
        }
    });
    uses
}

pub(super) fn spec<'s>(survey: &'s Survey, item: &'s Item, conditions: Vec<&'s Expression>) -> Spec<'s> {
    let list = survey.choices_of(item);
    let clocked = conditions.iter().any(|e| clock_in(e))
        || item.constraint().is_some_and(clock_in)
        || matches!(item.required(), Required::When(e) if clock_in(e));
    let mut int_values: Vec<i64> = list
        .filter(|l| l.has_int_values())
        .map(|l| l.choices().iter().filter_map(|c| c.value().as_text().parse().ok()).collect())
        .unwrap_or_default();
    int_values.sort_unstable();
    let missing: Vec<(String, &str)> =
        item.missing().iter().filter_map(|m| survey.missing_code(m)).map(|m| (m.value().as_text(), m.name())).collect();
    Spec {
        item,
        choices: list.map(|l| l.choices().iter().map(|c| c.value().as_text()).collect()).unwrap_or_default(),
        int_choices: list.is_some_and(|l| l.has_int_values()),
        quick: Quick::of(item, !int_values.is_empty(), !missing.is_empty()),
        int_values,
        missing,
        compared: Vec::new(),
        conditions,
        clocked,
        comparisons: item.constraint().and_then(|c| SelfComparisons::of(c.ast())),
    }
}

impl<'s> Layout<'s> {
    /// Opens every input, assigns it to its table and maps its columns; returns the
    /// layout and each input's records, unread.
    pub fn new(survey: &'s Survey, inputs: &[Input], opts: &Options) -> Result<(Self, Vec<Records>), IngestError> {
        let survey_tables = survey.tables();
        let names: Vec<String> = survey_tables.iter().map(|t| t.name.to_string()).collect();
        // Relevance chains: the conditions of enclosing groups up to (not including) the
        // table's repeat, then the item's own.
        let mut chains: HashMap<&str, Vec<&'s Expression>> = HashMap::new();
        survey.visit(&mut |p| {
            let mut conds: Vec<&Expression> = Vec::new();
            for g in p.path.iter().rev() {
                if g.question_type() == QuestionType::Repeat {
                    break;
                }
                conds.extend(g.relevant());
            }
            conds.reverse();
            conds.extend(p.item.relevant());
            chains.insert(p.item.name(), conds);
        });
        let chain = |name: &str| chains.get(name).cloned().unwrap_or_default();
        let mut tables: Vec<TableData<'s>> = survey_tables
            .iter()
            .map(|t| TableData {
                name: t.name.to_string(),
                parent: t.parent.and_then(|p| names.iter().position(|n| n == p)),
                items: t.columns.clone(),
                specs: t.columns.iter().map(|i| spec(survey, i, chain(i.name()))).collect(),
                meta: Vec::new(),
                files: Vec::new(),
                rows: Vec::new(),
                values: Vec::new(),
                cells: Vec::new(),
                repeat_conditions: t.repeat.map(|r| chain(r.name())).unwrap_or_default(),
                repeat_compared: Vec::new(),
                repeat: t.repeat,
                children: Vec::new(),
                kids: Vec::new(),
                dates: Vec::new(),
                pii_columns: t
                    .columns
                    .iter()
                    .filter(|i| i.is_pii())
                    .map(|i| i.name())
                    .chain(survey.key_is_pii().then_some(survey.key()))
                    .collect(),
                pii_metadata: survey.pii_metadata(),
                key_is_pii: survey.key_is_pii(),
            })
            .collect();
        for i in 0..tables.len() {
            if let Some(p) = tables[i].parent {
                tables[p].children.push(i);
            }
        }
        let location: FnvMap<&str, (usize, usize)> = tables
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| t.items.iter().enumerate().map(move |(c, i)| (i.name(), (ti, c))))
            .collect();
        let compare = |conds: &[&Expression]| -> Vec<Compared> {
            conds
                .iter()
                .map(|e| {
                    let c = RefComparisons::of(e.ast())?;
                    let at = *location.get(c.name())?;
                    Some((c, at))
                })
                .collect()
        };
        for t in &mut tables {
            t.repeat_compared = compare(&t.repeat_conditions);
            for spec in &mut t.specs {
                spec.compared = compare(&spec.conditions);
            }
        }
        let mut layout = Layout {
            survey,
            tables,
            location,
            places: Vec::new(),
            file_issues: Vec::new(),
            wave: opts.wave.clone(),
            on_error: opts.on_error,
            today: opts.today,
            clocked: uses_clock(survey),
        };
        let mut sources = Vec::new();
        let prior = opts.prior.as_ref().map_or(0, |p| p.inputs().len());
        for (i, input) in inputs.iter().enumerate() {
            let ti = table_of(survey, input, &names)?;
            let records = read::open(&input.path, &input.display, opts.encoding.as_deref())?;
            let fi = layout.add_file(ti, records.file(), records.columns(), i < prior)?;
            layout.places.push((ti, fi));
            sources.push(records);
        }
        if layout.tables[0].files.is_empty() {
            return Err(IngestError::Usage(format!("no file holds the top-level table `{}`", survey.id())));
        }
        for t in &mut layout.tables {
            let at = |f: &FileData, name: &str| t.meta_index(name).and_then(|m| f.meta_at(m));
            let key_item = t.items.iter().position(|i| i.name() == survey.key()).filter(|_| t.parent.is_none());
            let links: Vec<LinkColumns> = t
                .files
                .iter()
                .map(|f| LinkColumns {
                    key: at(f, "KEY"),
                    index: at(f, "_index"),
                    parent_key: at(f, "PARENT_KEY"),
                    parent_index: at(f, "_parent_index"),
                    parent: f.roles.iter().rposition(|r| *r == Role::ParentKey),
                    survey_key: key_item.and_then(|c| f.item_at[c]),
                })
                .collect();
            for (f, l) in t.files.iter_mut().zip(links) {
                f.links = l;
            }
        }
        layout.file_issues.sort();
        Ok((layout, sources))
    }

    /// Maps a file's columns to the table's items and metadata; notes unknown and
    /// missing columns.
    /// A `prior` file (an earlier batch's records written back) has no issues of its own.
    fn add_file(&mut self, ti: usize, display: &str, columns: &[String], prior: bool) -> Result<usize, IngestError> {
        let key_name = self.survey.key();
        let survey = self.survey;
        let is_note = |name: &str| survey.item(name).is_some_and(|i| i.question_type() == QuestionType::Note);
        let t = &mut self.tables[ti];
        let is_repeat = t.parent.is_some();
        let mut roles = Vec::with_capacity(columns.len());
        for col in columns {
            let segs: Vec<&str> = col.split(['-', '/']).collect();
            let last = *segs.last().unwrap_or(&col.as_str());
            let find = |name: &str| t.items.iter().position(|i| i.name() == name);
            let role = if OWN_COLUMNS.contains(&col.as_str()) {
                Role::Own
            } else if let Some(c) = find(col) {
                Role::Item(c)
            } else if is_repeat && (col == key_name || last == key_name) {
                Role::ParentKey
            } else if is_meta(col) {
                let m = match t.meta.iter().position(|m| m == col) {
                    Some(m) => m,
                    None => {
                        t.meta.push(col.clone());
                        t.meta.len() - 1
                    }
                };
                Role::Meta(m)
            } else if let Some(c) = find(last) {
                Role::Item(c)
            } else if is_note(last) {
                Role::Note
            } else if segs.len() >= 2 {
                let owner = segs[segs.len() - 2];
                match find(owner) {
                    Some(c) if t.items[c].question_type() == QuestionType::SelectMultiple => {
                        Role::SplitChoice(c, last.to_string())
                    }
                    Some(c) if t.items[c].question_type() == QuestionType::Geopoint => match last {
                        "Latitude" | "latitude" => Role::GeoPart(c, 0),
                        "Longitude" | "longitude" => Role::GeoPart(c, 1),
                        "Altitude" | "altitude" => Role::GeoPart(c, 2),
                        "Accuracy" | "accuracy" | "precision" => Role::GeoPart(c, 3),
                        _ => Role::Unknown,
                    },
                    _ => Role::Unknown,
                }
            } else {
                Role::Unknown
            };
            roles.push(role);
        }
        if let Some(message) = ambiguous(columns, &roles, &t.items) {
            return Err(IngestError::Malformed { file: display.to_string(), row: 0, message });
        }
        let file_issue = |column: &str, rule: &str, message: String| Issue {
            table: t.name.clone(),
            file: display.to_string(),
            row: 0,
            key: None,
            column: column.to_string(),
            rule: rule.into(),
            severity: Severity::Warning,
            value: None,
            message,
        };
        for (col, role) in columns.iter().zip(&roles).filter(|_| !prior) {
            if *role == Role::Unknown {
                self.file_issues.push(file_issue(
                    col,
                    "unknown-column",
                    format!("`{col}` is not a question of table `{}`; its values are not kept", t.name),
                ));
            }
        }
        for (c, item) in t.items.iter().enumerate() {
            let present = roles
                .iter()
                .any(|r| matches!(r, Role::Item(x) | Role::SplitChoice(x, _) | Role::GeoPart(x, _) if *x == c));
            if !present && item.question_type() != QuestionType::Calculate && !prior {
                self.file_issues.push(file_issue(
                    item.name(),
                    "missing-column",
                    format!("the file has no column for `{}`; every record counts it as unanswered", item.name()),
                ));
            }
        }
        let mut meta_at = vec![None; t.meta.len()];
        for (i, role) in roles.iter().enumerate() {
            if let Role::Meta(m) = role {
                meta_at[*m] = Some(i);
            }
        }
        let mut item_at = vec![None; t.items.len()];
        let mut split_at: Vec<(usize, Vec<(usize, String)>)> = Vec::new();
        let mut geo_at: Vec<(usize, [Option<usize>; 4])> = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            match role {
                Role::Item(c) => item_at[*c] = Some(i),
                Role::SplitChoice(c, v) => match split_at.iter_mut().find(|(x, _)| x == c) {
                    Some((_, cols)) => cols.push((i, v.clone())),
                    None => split_at.push((*c, vec![(i, v.clone())])),
                },
                Role::GeoPart(c, k) => match geo_at.iter_mut().find(|(x, _)| x == c) {
                    Some((_, parts)) => parts[*k] = Some(i),
                    None => {
                        let mut parts = [None; 4];
                        parts[*k] = Some(i);
                        geo_at.push((*c, parts));
                    }
                },
                _ => {}
            }
        }
        t.files.push(FileData {
            display: display.to_string(),
            columns: columns.to_vec(),
            roles,
            meta_at,
            item_at,
            split_at,
            geo_at,
            links: LinkColumns::default(),
            prior,
            source_row_at: prior.then(|| columns.iter().position(|c| c == "_source_row")).flatten(),
        });
        Ok(t.files.len() - 1)
    }

    /// The survey.
    pub fn survey(&self) -> &'s Survey {
        self.survey
    }

    /// The tables, without records.
    pub fn tables(&self) -> &[TableData<'s>] {
        &self.tables
    }

    /// Input `i`'s table and its index among that table's files.
    pub fn place(&self, i: usize) -> (usize, usize) {
        self.places[i]
    }

    /// Types, links and checks one batch: `records[i]` are records of input `i`. Every
    /// record of a submission (its top-level record and roster rows) must be in the
    /// same batch. The result has no file-level issues (see [`Layout::file_issues`]).
    pub fn check(&self, records: Vec<Cells>) -> Ingested<'s> {
        self.check_after(records, &FnvMap::default(), None)
    }

    /// [`Layout::check`] for a batch after others: `earlier` holds the keys its
    /// top-level records share with earlier batches, with the row that first used each;
    /// `spare` is an earlier batch's typed vectors, emptied here and filled again.
    pub(crate) fn check_after(
        &self,
        records: Vec<Cells>,
        earlier: &FnvMap<Box<str>, usize>,
        spare: Option<Vec<Typed>>,
    ) -> Ingested<'s> {
        let mut spare = spare.unwrap_or_default().into_iter();
        let mut tables = self.tables.clone();
        for t in &mut tables {
            t.cells = vec![Cells::default(); t.files.len()];
        }
        for (i, cells) in records.into_iter().enumerate() {
            let (ti, fi) = self.places[i];
            tables[ti].cells[fi] = cells;
        }
        for t in &mut tables {
            let key_col =
                t.parent.is_none().then(|| t.items.iter().position(|i| i.name() == self.survey.key())).flatten();
            let n: usize = t.cells.iter().map(Cells::len).sum();
            // A spare's values and rows are dropped here, on the thread that made them
            // (freeing another thread's memory costs the allocator more).
            let (mut values, mut rows) = spare.next().unwrap_or_default();
            values.clear();
            rows.clear();
            values.reserve(n * t.items.len());
            rows.reserve(n);
            for fi in 0..t.files.len() {
                for at in 0..t.cells[fi].len() {
                    rows.push(type_record(self.survey, t, fi, at, key_col, &mut values));
                }
            }
            (t.rows, t.values) = (rows, values);
        }
        link(self.survey, &mut tables);
        if self.clocked {
            submission_dates(&mut tables);
        }
        compute_calculations(&mut tables, &self.location, self.today);
        check_rows(&mut tables, &self.location, self.today);
        cross_checks(self.survey, &mut tables, &self.location, self.today, earlier);
        Ingested {
            survey: self.survey,
            tables,
            file_issues: Vec::new(),
            wave: self.wave.clone(),
            on_error: self.on_error,
        }
    }

    /// Unknown and missing columns, sorted.
    pub fn file_issues(&self) -> &[Issue] {
        &self.file_issues
    }
}

/// A top-level record's key as [`Row::key`] will have it (typed as the key question),
/// read from its cells alone: what batches are split by.
pub(crate) fn key_of<'r>(layout: &Layout<'_>, ti: usize, fi: usize, rec: &'r RawRecord) -> Option<Cow<'r, str>> {
    let t = &layout.tables[ti];
    let at = t.files[fi].links.survey_key?;
    let raw = rec.cell(at)?;
    let Role::Item(kc) = t.files[fi].roles[at] else { return None };
    let spec = &t.specs[kc];
    if spec.missing.iter().any(|(v, _)| v == trim(raw)) {
        return None;
    }
    if spec.item.question_type() == QuestionType::Text {
        return Some(Cow::Borrowed(raw)); // as parse_value keeps it
    }
    parse_answer(spec, layout.survey, raw).ok().filter(|v| !v.is_null()).map(|v| Cow::Owned(v.as_text()))
}
