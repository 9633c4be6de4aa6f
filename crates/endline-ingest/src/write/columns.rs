//! A table's written rows as Arrow columns: each question's type, its missing-code
//! column, provenance, and the encoding each column is best written with (plain,
//! dictionary, runs, delta).

use super::*;

/// The column type an item is stored as.
pub(super) fn kind(item: &Item) -> Ty {
    match item.question_type() {
        QuestionType::Integer => Ty::Int,
        QuestionType::Decimal => Ty::Dec,
        QuestionType::Date => Ty::Date,
        QuestionType::DateTime => Ty::DateTime,
        QuestionType::Geopoint => Ty::Geo,
        QuestionType::SelectOne | QuestionType::SelectMultiple => match item.value_type() {
            Ty::Select { .. } => item.value_type(),
            _ => Ty::Text,
        },
        QuestionType::Calculate => match item.value_type() {
            t @ (Ty::Int | Ty::Dec | Ty::Bool | Ty::Date) => t,
            _ => Ty::Text,
        },
        _ => Ty::Text,
    }
}

/// An item's value as stored in an Int64 column.
pub(super) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Null => None,
        v => v.as_number().map(|f| f as i64),
    }
}

/// An item's value as stored in a Float64 column: [`Value::as_number`], its common
/// cases first (that function is in another crate, and is not inlined).
pub(super) fn dec_of(v: &Value) -> Option<f64> {
    match v {
        Value::Dec(d) if d.is_finite() => Some(*d),
        Value::Null => None,
        v => v.as_number(),
    }
}

/// An item's text value, borrowed.
pub(super) fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

/// A numeric column being gathered: its values (0 where null) and, from the first
/// null on, which are valid; made into an arrow array without a vector of options in
/// between.
pub(super) struct Gather<T> {
    pub(super) values: Vec<T>,
    pub(super) valid: Option<MutableBitmap>,
}

impl<T: polars_arrow::types::NativeType> Gather<T> {
    pub(super) fn with_capacity(n: usize) -> Self {
        Gather { values: Vec::with_capacity(n), valid: None }
    }

    #[inline]
    pub(super) fn push(&mut self, v: Option<T>) {
        match (v, &mut self.valid) {
            (Some(v), None) => self.values.push(v),
            (v, Some(bits)) => {
                bits.push(v.is_some());
                self.values.push(v.unwrap_or_default());
            }
            (None, None) => self.first_null(),
        }
    }

    /// The first null: from here on, which values are valid is kept.
    #[cold]
    pub(super) fn first_null(&mut self) {
        let mut bits = MutableBitmap::with_capacity(self.values.capacity());
        bits.extend_constant(self.values.len(), true);
        bits.push(false);
        self.valid = Some(bits);
        self.values.push(T::default());
    }

    pub(super) fn into_out(self, name: &str, dtype: DataType) -> Out {
        let array = PrimitiveArray::new(T::PRIMITIVE.into(), self.values.into(), self.valid.map(Into::into));
        Out { field: Field::new(name.into(), dtype), array: array.boxed(), encoding: None }
    }
}

/// An item's numbers, gathered for its column.
pub(super) enum Numbers {
    Int(Gather<i64>),
    Dec(Gather<f64>),
}

impl Numbers {
    /// Room for `n` values of `item`, when it is stored as Int64 or Float64.
    pub(super) fn of(item: &Item, n: usize) -> Option<Self> {
        match kind(item) {
            Ty::Int | Ty::Select { multi: false, int: true, .. } => Some(Numbers::Int(Gather::with_capacity(n))),
            Ty::Dec => Some(Numbers::Dec(Gather::with_capacity(n))),
            _ => None,
        }
    }

    pub(super) fn into_out(self, name: &str) -> Out {
        match self {
            Numbers::Int(g) => int_column(name, g),
            Numbers::Dec(g) => g.into_out(name, DataType::Float64),
        }
    }
}

/// An Int64 column, encoded as polars' writer would decide
/// (`min_max_integer_encode_as_dictionary_optional`), but decided here from the gathered
/// values: when the values span at most 65,536 integers, a dictionary of the distinct
/// values in ascending order if there are at most 2,048 of them or fewer than three
/// quarters of the rows, else plain. polars finds the span with a kernel that visits
/// each present value through an iterator, then marks them, then maps them: 4% of an
/// ingest's instructions for the survey's integers and codes. Any other column (no
/// value present, a wider span) is left to polars, whose decision there differs.
pub(super) fn int_column(name: &str, g: Gather<i64>) -> Out {
    let n = g.values.len();
    let valid: Option<Bitmap> = g.valid.map(Into::into);
    // Each present value (where a value is missing, the gathered 0 is not one).
    let present = |f: &mut dyn FnMut(i64)| match &valid {
        None => g.values.iter().for_each(|&v| f(v)),
        Some(b) => g.values.iter().zip(b.iter()).filter(|&(_, p)| p).for_each(|(&v, _)| f(v)),
    };
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    present(&mut |v| (lo, hi) = (lo.min(v), hi.max(v)));
    // The smallest value and the span's width: none when no value is present.
    let span = Some((lo, hi))
        .filter(|(lo, hi)| lo <= hi)
        .and_then(|(lo, hi)| Some((lo, usize::try_from(hi.checked_sub(lo)?).ok()?)))
        .filter(|&(_, width)| width <= usize::from(u16::MAX));
    let mut seen = vec![false; span.map_or(0, |(_, width)| width + 1)];
    if let Some((min, _)) = span {
        present(&mut |v| seen[(v - min) as usize] = true);
    }
    let field = Field::new(name.into(), DataType::Int64);
    let values = PrimitiveArray::new(ArrowDataType::Int64, g.values.into(), valid.clone());
    let Some((min, width)) = span else {
        return Out { field, array: values.boxed(), encoding: None };
    };
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct > 2048 && distinct as f64 / n as f64 >= 0.75 {
        return Out { field, array: values.boxed(), encoding: Some(Encoding::Plain) };
    }
    // Each value's place among the distinct values, by its offset from the smallest (a
    // missing value's 0 is clamped into the span; its key is never read).
    let mut place = vec![0u32; width + 1];
    let mut dictionary = Vec::with_capacity(distinct);
    for (o, _) in seen.iter().enumerate().filter(|&(_, &s)| s) {
        place[o] = dictionary.len() as u32;
        dictionary.push(min + o as i64);
    }
    let offset = |v: i64| (v.clamp(min, min + width as i64) - min) as usize;
    let keys: Vec<u32> = values.values().iter().map(|&v| place[offset(v)]).collect();
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), valid);
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Int64), false);
    match DictionaryArray::try_new(dtype, keys, PrimitiveArray::from_vec(dictionary).boxed()) {
        Ok(array) => Out { field, array: array.boxed(), encoding: Some(Encoding::RleDictionary) },
        Err(_) => Out { field, array: values.boxed(), encoding: None },
    }
}

/// What [`columns`] reads in one pass over the written rows, in order: values are stored
/// row by row, so reading one column down the rows would touch a new cache line (and
/// often a new page) for every value. Numbers (most columns) and metadata cells are
/// gathered here; other columns are read down the rows.
pub(super) struct Gathered<'a> {
    /// For each item stored as Int64 or Float64: its values.
    pub(super) numbers: Vec<Option<Numbers>>,
    /// Each metadata column's cells.
    pub(super) meta: Vec<Vec<Option<&'a str>>>,
}

impl<'a> Gathered<'a> {
    pub(super) fn of(t: &'a TableData<'_>, rows: &[usize]) -> Self {
        let n = rows.len();
        // Integers and decimals apart, so that the loop over rows does not ask which.
        let mut ints: Vec<(usize, Gather<i64>)> = Vec::new();
        let mut decs: Vec<(usize, Gather<f64>)> = Vec::new();
        for (c, item) in t.items.iter().enumerate() {
            match Numbers::of(item, n) {
                Some(Numbers::Int(g)) => ints.push((c, g)),
                Some(Numbers::Dec(g)) => decs.push((c, g)),
                None => {}
            }
        }
        let mut meta: Vec<Vec<Option<&str>>> = t.meta.iter().map(|_| Vec::with_capacity(n)).collect();
        for &r in rows {
            let values = t.row_values(r);
            for (c, g) in &mut ints {
                g.push(values.get(*c).and_then(int_of));
            }
            for (c, g) in &mut decs {
                g.push(values.get(*c).and_then(dec_of));
            }
            t.each_meta(&t.rows[r], |m, cell| meta[m].push(cell));
        }
        let mut numbers: Vec<Option<Numbers>> = t.items.iter().map(|_| None).collect();
        for (c, g) in ints {
            numbers[c] = Some(Numbers::Int(g));
        }
        for (c, g) in decs {
            numbers[c] = Some(Numbers::Dec(g));
        }
        Gathered { numbers, meta }
    }
}

/// A text column from each row's text or null.
pub(super) fn str_col<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Series {
    StringChunked::from_iter_options(name.into(), values).into_series()
}

/// A column on its way to Parquet, with how it is encoded. polars chooses the encoding
/// of a text column by estimating its number of distinct values, then, when they are
/// few, by hashing every value to build a dictionary. Ingest encodes text itself:
/// constants, values all different (record identifiers) and anything else by counting
/// its runs and distinct values ([`Out::text_runs`]: a roster's parent key comes in
/// runs; missing reasons and text choices are a few codes), with the bytes polars writes
/// for the same decision. Row numbers (`_source_row`), which rise one by one, are
/// delta-encoded.
pub(super) struct Out {
    pub(super) field: Field,
    pub(super) array: ArrayRef,
    /// `None`: polars' choice for the type.
    pub(super) encoding: Option<Encoding>,
}

impl Out {
    /// A column encoded as polars chooses.
    pub(super) fn series(s: Series) -> Self {
        Self::of(s, None)
    }

    /// Text known to be all different (each record's identifier): written plain, as
    /// polars would after its estimate (and a hash of every value).
    pub(super) fn plain(s: Series) -> Self {
        Self::of(s, Some(Encoding::Plain))
    }

    pub(super) fn of(s: Series, encoding: Option<Encoding>) -> Self {
        let s = s.rechunk();
        let array = match s.n_chunks() {
            0 => new_empty_array(s.dtype().to_arrow(COMPAT)),
            _ => s.to_arrow(0, COMPAT),
        };
        Out { field: s.field().into_owned(), array, encoding }
    }

    /// A text column of one value.
    pub(super) fn constant(name: &str, value: &str, n: usize) -> PolarsResult<Self> {
        let mut values = MutableUtf8Array::<i64>::with_capacity(1);
        values.push(Some(value));
        let keys = PrimitiveArray::from_vec(vec![0u32; n]);
        Self::dictionary(name, keys, values)
    }

    /// A text column of few distinct values, or of runs of one value: encoded as a
    /// dictionary of the distinct values in order of appearance (as polars' own), each
    /// found by hashing only where a run ends. Plain, as polars would, when more than
    /// three quarters of more than 128 values are distinct (counted here, where polars
    /// estimates): found out as soon as they are, before any text is copied.
    pub(super) fn text_runs<'a>(
        name: &str,
        values: impl Iterator<Item = Option<&'a str>> + Clone,
        n: usize,
    ) -> PolarsResult<Self> {
        // The runs of one value (or of nulls), in order: the same text is most often the
        // very same string (a roster's key is its household's), compared by address.
        let mut runs: Vec<(Option<&str>, usize)> = Vec::new();
        for v in values.clone() {
            match runs.last_mut() {
                Some((Some(l), count)) if v.is_some_and(|s| std::ptr::eq(*l, s) || *l == s) => *count += 1,
                Some((None, count)) if v.is_none() => *count += 1,
                _ => runs.push((v, 1)),
            }
        }
        let too_many = |distinct: usize| n > 128 && distinct as f64 / n as f64 > 0.75;
        // Each run starts at most one distinct value: the map is sized once.
        let mut index: FnvMap<&str, u32> = FnvMap::with_capacity_and_hasher(runs.len(), Default::default());
        let mut distinct: Vec<&str> = Vec::new();
        let mut run_keys: Vec<Option<u32>> = Vec::with_capacity(runs.len());
        for (v, _) in &runs {
            run_keys.push(v.map(|s| {
                *index.entry(s).or_insert_with(|| {
                    distinct.push(s);
                    (distinct.len() - 1) as u32
                })
            }));
            if too_many(distinct.len()) {
                return Ok(Self::of(str_col(name, values), Some(Encoding::Plain)));
            }
        }
        let mut keys: Vec<u32> = Vec::with_capacity(n);
        let mut valid: Option<MutableBitmap> = None;
        for ((_, count), key) in runs.iter().zip(run_keys) {
            if key.is_none() && valid.is_none() {
                let mut bits = MutableBitmap::with_capacity(n);
                bits.extend_constant(keys.len(), true);
                valid = Some(bits);
            }
            if let Some(bits) = &mut valid {
                bits.extend_constant(*count, key.is_some());
            }
            keys.extend(std::iter::repeat_n(key.unwrap_or(0), *count));
        }
        let mut dictionary = MutableUtf8Array::<i64>::with_capacity(distinct.len());
        distinct.into_iter().for_each(|s| dictionary.push(Some(s)));
        let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), valid.map(Into::into));
        Self::dictionary(name, keys, dictionary)
    }

    pub(super) fn dictionary(
        name: &str,
        keys: PrimitiveArray<u32>,
        values: MutableUtf8Array<i64>,
    ) -> PolarsResult<Self> {
        let values: Utf8Array<i64> = values.into();
        let array = DictionaryArray::try_from_keys(keys, values.boxed(), false)?.boxed();
        Ok(Out { field: Field::new(name.into(), DataType::String), array, encoding: Some(Encoding::RleDictionary) })
    }
}

/// A numeric column from each row's value or null.
pub(super) fn numeric<T: PolarsNumericType>(
    name: PlSmallStr,
    values: impl Iterator<Item = Option<T::Native>>,
) -> Series {
    let ca: ChunkedArray<T> = values.collect_ca(name);
    ca.into_series()
}

/// The column(s) of an item not stored as a number (numbers are [`Gathered`]), from its
/// value in each written row, each built in one pass (no vector of values in between),
/// with `encoding` (`None`: polars' choice).
pub(super) fn series_of<'v, V>(name: &str, item: &Item, values: V, encoding: Option<Encoding>) -> PolarsResult<Vec<Out>>
where
    V: Iterator<Item = &'v Value> + ExactSizeIterator + Clone,
{
    let name_s: PlSmallStr = name.into();
    let n = values.len();
    let series = match kind(item) {
        Ty::Bool => vec![Series::new(
            name_s,
            values.map(|v| if v.is_null() { None } else { Some(v.truthy()) }).collect::<Vec<_>>(),
        )],
        Ty::Date => {
            let days = values.map(|v| match v {
                Value::Date(d) => i32::try_from((*d - chrono::NaiveDate::default()).num_days()).ok(),
                _ => None,
            });
            vec![numeric::<Int32Type>(name_s, days).cast(&DataType::Date)?]
        }
        Ty::DateTime => {
            let micros = values.clone().map(|v| match v {
                Value::DateTime(t) => Some(t.timestamp_micros()),
                _ => None,
            });
            let offsets = values.map(|v| match v {
                Value::DateTime(t) => Some(t.offset().local_minus_utc() / 60),
                _ => None,
            });
            vec![
                numeric::<Int64Type>(name_s, micros).cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
                numeric::<Int32Type>(format!("{name}_utc_offset_min").into(), offsets),
            ]
        }
        Ty::Geo => {
            let part = |k: usize, part: &str| {
                let coords = values.clone().map(|v| match v {
                    Value::Geo(g) if !g[k].is_nan() => Some(g[k]),
                    _ => None,
                });
                numeric::<Float64Type>(part.into(), coords)
            };
            let fields = [part(0, "lat"), part(1, "lon"), part(2, "alt"), part(3, "acc")];
            let mut s = StructChunked::from_series(name_s, n, fields.iter())?.into_series();
            // A missing point is a null struct, not a struct of nulls.
            let valid: BooleanChunked = values.map(|v| !v.is_null()).collect();
            s = s.zip_with(&valid, &Series::full_null("".into(), n, s.dtype()))?;
            vec![s]
        }
        Ty::Select { multi: true, int, .. } => {
            // Built in place (a Series per row would cost an allocation of its own each).
            // Typed even when every row is empty, so that every wave has the same schema.
            let list = if int {
                let mut b = ListPrimitiveChunkedBuilder::<Int64Type>::new(name_s, n, 0, DataType::Int64);
                for v in values {
                    match v {
                        Value::Multi(items) => b.append_values_iter(items.iter().filter_map(|s| s.parse::<i64>().ok())),
                        _ => b.append_null(),
                    }
                }
                b.finish()
            } else {
                let mut b = ListStringChunkedBuilder::new(name_s, n, 0);
                for v in values {
                    match v {
                        Value::Multi(items) => b.append_values_iter(items.iter().map(String::as_str)),
                        _ => b.append_null(),
                    }
                }
                b.finish()
            };
            vec![list.into_series()]
        }
        _ => {
            // Text is borrowed; only other values stored as text are formatted.
            let texts = values.map(|v| match v {
                Value::Null => None,
                Value::Text(s) => Some(Cow::Borrowed(s.as_str())),
                v => Some(Cow::Owned(v.as_text())),
            });
            vec![StringChunked::from_iter_options(name_s, texts).into_series()]
        }
    };
    Ok(series.into_iter().map(|s| Out::of(s, encoding)).collect())
}

/// Whether a metadata column holds the record's own identifier (all different, written
/// plain), by its name. Other metadata (links to a parent row, in runs; submission times;
/// anything else) is written as [`Out::text_runs`] decides.
pub(super) fn is_identifier(name: &str) -> bool {
    matches!(name.rsplit(['-', '/']).next().unwrap_or(name), "KEY" | "instanceID" | "_index" | "_uuid" | "_id")
}

/// The columns of a table's written rows: the main file's, and the PII side table's.
pub(super) fn columns(
    survey: &Survey,
    wave: &str,
    t: &TableData<'_>,
    rows: &[usize],
    keep_all: bool,
    pseudonyms: Option<&Pseudonyms>,
) -> PolarsResult<(Vec<Out>, Vec<Out>)> {
    let n = rows.len();
    let file_of = |r: usize| t.files.get(t.rows[r].file).map(|f| f.display.as_str());
    let key_of = |r: usize| t.rows[r].key.as_deref();
    // The key as every table but the PII side tables holds it: its pseudonym when the key
    // is personal data.
    let shown_keys: Option<Vec<Option<String>>> =
        pseudonyms.map(|p| rows.iter().map(|&r| key_of(r).map(|k| p.of(k))).collect());
    let shown_key = |i: usize| match &shown_keys {
        Some(keys) => keys[i].as_deref(),
        None => key_of(rows[i]),
    };
    let provenance = |cols: &mut Vec<Out>| -> PolarsResult<()> {
        cols.push(Out::text_runs("_source_file", rows.iter().map(|&r| file_of(r)), n)?);
        // Row numbers rise one by one: delta-encoded, they take a few bits a page.
        let numbers = PrimitiveArray::from_vec(rows.iter().map(|&r| t.rows[r].row as i64).collect());
        let field = Field::new("_source_row".into(), DataType::Int64);
        cols.push(Out { field, array: numbers.boxed(), encoding: Some(Encoding::DeltaBinaryPacked) });
        Ok(())
    };
    let mut cols = vec![Out::constant("_wave", wave, n)?, Out::constant("_survey_version", survey.version(), n)?];
    provenance(&mut cols)?;
    if t.parent.is_some() {
        // A roster's copy of its household's key: runs of one value.
        cols.push(Out::text_runs(survey.key(), (0..n).map(shown_key), n)?);
    }
    let mut gathered = Gathered::of(t, rows);
    let mut pii: Vec<Out> = Vec::new();
    for (m, (name, cells)) in t.meta.iter().zip(std::mem::take(&mut gathered.meta)).enumerate() {
        let out = if is_identifier(name) {
            Out::plain(str_col(name, cells.into_iter()))
        } else {
            Out::text_runs(name, cells.into_iter(), n)?
        };
        // Metadata that identify people or devices go with the personal data.
        if t.is_pii_meta(m) { pii.push(out) } else { cols.push(out) }
    }
    for (c, item) in t.items.iter().enumerate() {
        let values = || rows.iter().map(|&r| t.value(r, c));
        if t.parent.is_none() && item.name() == survey.key() && pseudonyms.is_some() {
            // A personal key: its pseudonym here, the key itself only beside it in the
            // PII side table (the one place the mapping lives).
            cols.push(Out::plain(str_col(item.name(), (0..n).map(shown_key))));
            pii.push(Out::plain(str_col(CLEAR_KEY, rows.iter().map(|&r| key_of(r)))));
            continue;
        }
        let out = match gathered.numbers[c].take() {
            Some(numbers) => vec![numbers.into_out(item.name())],
            // The survey key at the top level: one per record.
            None if t.parent.is_none() && item.name() == survey.key() && kind(item) == Ty::Text => {
                series_of(item.name(), item, values(), Some(Encoding::Plain))?
            }
            // Text choices (a few codes) and other text: a dictionary or plain, decided by
            // counting distinct values where polars would estimate their number.
            None if matches!(kind(item), Ty::Select { multi: false, .. } | Ty::Text)
                && values().all(|v| matches!(v, Value::Text(_) | Value::Null)) =>
            {
                vec![Out::text_runs(item.name(), values().map(text_of), n)?]
            }
            None => series_of(item.name(), item, values(), None)?,
        };
        let target = if item.is_pii() { &mut pii } else { &mut cols };
        target.extend(out);
        if !item.missing().is_empty() {
            // One of the item's missing codes, or null.
            target.push(Out::text_runs(
                &format!("{}_missing", item.name()),
                rows.iter().map(|&r| t.rows[r].missing(c)),
                n,
            )?);
        }
    }
    if keep_all {
        cols.push(Out::series(Series::new(
            "_valid".into(),
            rows.iter().map(|&r| !t.rows[r].has_error()).collect::<Vec<_>>(),
        )));
        let issues = |r: usize| {
            let s = t.rows[r].issues().iter().map(|i| format!("{}:{}", i.rule, i.column)).collect::<Vec<_>>();
            Some(s.join("; ")).filter(|s| !s.is_empty())
        };
        cols.push(Out::series(Series::new("_issues".into(), rows.iter().map(|&r| issues(r)).collect::<Vec<_>>())));
    }
    if !pii.is_empty() {
        let keys = (0..n).map(shown_key);
        let key = if t.parent.is_none() {
            Out::plain(str_col(survey.key(), keys))
        } else {
            Out::text_runs(survey.key(), keys, n)?
        };
        let mut keyed = vec![key];
        provenance(&mut keyed)?;
        keyed.extend(pii);
        pii = keyed;
    }
    Ok((cols, pii))
}
