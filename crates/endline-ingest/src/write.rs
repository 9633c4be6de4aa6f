//! The outputs of `endline ingest` (docs/cli.md): typed Parquet per table, PII side
//! tables, re-ingestible rejects, and `ingest.json`; written into a fresh directory that
//! then replaces the output directory in one rename, so a reader never sees half an
//! ingest and a failed one leaves the previous outputs in place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use endline_survey::expr::{Ty, Value};
use endline_survey::{Item, QuestionType};
use polars::prelude::*;
use serde::Serialize;

use crate::error::IngestError;
use crate::ingest::{Ingested, TableData};
use crate::model::{Issue, OnError, TableCounts};

#[derive(Serialize)]
struct Summary<'a> {
    survey: &'a str,
    version: &'a str,
    wave: &'a str,
    on_error: OnError,
    tables: serde_json::Map<String, serde_json::Value>,
    issues: Vec<Issue>,
}

/// The column type an item is stored as.
fn kind(item: &Item) -> Ty {
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

fn series_of(name: &str, item: &Item, values: &[&Value]) -> PolarsResult<Vec<Series>> {
    let name_s: PlSmallStr = name.into();
    Ok(match kind(item) {
        Ty::Int | Ty::Select { multi: false, int: true, .. } => {
            vec![Series::new(
                name_s,
                values
                    .iter()
                    .map(|v| match v {
                        Value::Int(i) => Some(*i),
                        v => v.as_number().map(|f| f as i64),
                    })
                    .collect::<Vec<_>>(),
            )]
        }
        Ty::Dec => vec![Series::new(name_s, values.iter().map(|v| v.as_number()).collect::<Vec<_>>())],
        Ty::Bool => vec![Series::new(
            name_s,
            values.iter().map(|v| if v.is_null() { None } else { Some(v.truthy()) }).collect::<Vec<_>>(),
        )],
        Ty::Date => {
            let days: Vec<Option<i32>> = values
                .iter()
                .map(|v| match v {
                    Value::Date(d) => i32::try_from((*d - chrono::NaiveDate::default()).num_days()).ok(),
                    _ => None,
                })
                .collect();
            vec![Series::new(name_s, days).cast(&DataType::Date)?]
        }
        Ty::DateTime => {
            let micros: Vec<Option<i64>> = values
                .iter()
                .map(|v| match v {
                    Value::DateTime(t) => Some(t.timestamp_micros()),
                    _ => None,
                })
                .collect();
            let offsets: Vec<Option<i32>> = values
                .iter()
                .map(|v| match v {
                    Value::DateTime(t) => Some(t.offset().local_minus_utc() / 60),
                    _ => None,
                })
                .collect();
            vec![
                Series::new(name_s, micros).cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
                Series::new(format!("{name}_utc_offset_min").into(), offsets),
            ]
        }
        Ty::Geo => {
            let part = |k: usize, n: &str| {
                Series::new(
                    n.into(),
                    values
                        .iter()
                        .map(|v| match v {
                            Value::Geo(g) if !g[k].is_nan() => Some(g[k]),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                )
            };
            let fields = [part(0, "lat"), part(1, "lon"), part(2, "alt"), part(3, "acc")];
            let mut s = StructChunked::from_series(name_s, values.len(), fields.iter())?.into_series();
            // A missing point is a null struct, not a struct of nulls.
            let valid: BooleanChunked = values.iter().map(|v| !v.is_null()).collect();
            s = s.zip_with(&valid, &Series::full_null("".into(), values.len(), s.dtype()))?;
            vec![s]
        }
        Ty::Select { multi: true, int, .. } => {
            let lists: ListChunked = values
                .iter()
                .map(|v| match v {
                    Value::Multi(items) if int => Some(Series::new(
                        "".into(),
                        items.iter().filter_map(|s| s.parse::<i64>().ok()).collect::<Vec<_>>(),
                    )),
                    Value::Multi(items) => Some(Series::new("".into(), items.clone())),
                    _ => None,
                })
                .collect();
            // Typed even when every row is empty, so that every wave has the same schema.
            let inner = if int { DataType::Int64 } else { DataType::String };
            vec![lists.with_name(name_s).into_series().cast(&DataType::List(Box::new(inner)))?]
        }
        _ => vec![Series::new(
            name_s,
            values.iter().map(|v| if v.is_null() { None } else { Some(v.as_text()) }).collect::<Vec<_>>(),
        )],
    })
}

fn write_parquet(path: &Path, columns: Vec<Column>) -> Result<(), IngestError> {
    let io = |e: PolarsError| IngestError::Io(format!("cannot write {}: {e}", path.display()));
    let height = columns.first().map_or(0, Column::len);
    let mut df = DataFrame::new(height, columns).map_err(io)?;
    let file =
        std::fs::File::create(path).map_err(|e| IngestError::Io(format!("cannot write {}: {e}", path.display())))?;
    ParquetWriter::new(file).finish(&mut df).map_err(io)?;
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn table_outputs(data: &Ingested<'_>, t: &TableData<'_>, dir: &Path) -> Result<(), IngestError> {
    let survey = data.survey;
    let keep_all = data.on_error != OnError::Reject;
    let rows: Vec<usize> = (0..t.rows.len()).filter(|&r| keep_all || !t.rows[r].has_error()).collect();
    let n = rows.len();
    let str_col = |name: &str, v: Vec<Option<String>>| Column::new(name.into(), v);
    let mut cols: Vec<Column> = vec![
        str_col("_wave", vec![Some(data.wave.clone()); n]),
        str_col("_survey_version", vec![Some(survey.version().to_string()); n]),
        str_col("_source_file", rows.iter().map(|&r| t.files.get(t.rows[r].file).map(|f| f.display.clone())).collect()),
        Column::new("_source_row".into(), rows.iter().map(|&r| t.rows[r].row as i64).collect::<Vec<_>>()),
    ];
    if t.parent.is_some() {
        cols.push(str_col(survey.key(), rows.iter().map(|&r| t.rows[r].key.clone()).collect()));
    }
    for (m, name) in t.meta.iter().enumerate() {
        cols.push(str_col(name, rows.iter().map(|&r| t.rows[r].meta[m].clone()).collect()));
    }
    let mut pii: Vec<Column> = Vec::new();
    let io = |e: PolarsError| IngestError::Io(format!("cannot build table {}: {e}", t.name));
    for (c, item) in t.items.iter().enumerate() {
        let values: Vec<&Value> = rows.iter().map(|&r| &t.rows[r].values[c]).collect();
        let series = series_of(item.name(), item, &values).map_err(io)?;
        let target = if item.is_pii() { &mut pii } else { &mut cols };
        target.extend(series.into_iter().map(Column::from));
        if !item.missing().is_empty() {
            target.push(str_col(
                &format!("{}_missing", item.name()),
                rows.iter().map(|&r| t.rows[r].missing[c].clone()).collect(),
            ));
        }
    }
    if keep_all {
        cols.push(Column::new("_valid".into(), rows.iter().map(|&r| !t.rows[r].has_error()).collect::<Vec<_>>()));
        cols.push(str_col(
            "_issues",
            rows.iter()
                .map(|&r| {
                    Some(
                        t.rows[r]
                            .issues
                            .iter()
                            .map(|i| format!("{}:{}", i.rule, i.column))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                    .filter(|s| !s.is_empty())
                })
                .collect(),
        ));
    }
    write_parquet(&dir.join(format!("{}.parquet", t.name)), cols)?;
    if !pii.is_empty() {
        let mut keyed = vec![
            str_col(survey.key(), rows.iter().map(|&r| t.rows[r].key.clone()).collect()),
            str_col(
                "_source_file",
                rows.iter().map(|&r| t.files.get(t.rows[r].file).map(|f| f.display.clone())).collect(),
            ),
            Column::new("_source_row".into(), rows.iter().map(|&r| t.rows[r].row as i64).collect::<Vec<_>>()),
        ];
        keyed.extend(pii);
        write_parquet(&dir.join(format!("{}.pii.parquet", t.name)), keyed)?;
    }
    // Rejects: every cell as written, so the file can be fixed and ingested again; the
    // added columns start with `_`, which ingest reads as metadata.
    let rejected: Vec<usize> = if data.on_error == OnError::Reject {
        (0..t.rows.len()).filter(|&r| t.rows[r].has_error()).collect()
    } else {
        Vec::new()
    };
    if !rejected.is_empty() {
        let mut header: Vec<String> = Vec::new();
        for f in &t.files {
            for c in &f.columns {
                if !header.contains(c) {
                    header.push(c.clone());
                }
            }
        }
        let mut out = String::new();
        let mut full = header.clone();
        full.extend(["_source_file", "_source_row", "_rules", "_reasons"].map(String::from));
        out.push_str(&full.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(","));
        out.push('\n');
        for &r in &rejected {
            let row = &t.rows[r];
            let file = &t.files[row.file];
            let mut fields: Vec<String> = header
                .iter()
                .map(|h| {
                    file.columns
                        .iter()
                        .position(|c| c == h)
                        .and_then(|i| row.cells.get(i).cloned().flatten())
                        .unwrap_or_default()
                })
                .collect();
            let errors: Vec<&Issue> = row.issues.iter().filter(|i| i.severity == crate::Severity::Error).collect();
            fields.push(file.display.clone());
            fields.push(row.row.to_string());
            fields.push(errors.iter().map(|i| i.rule.as_str()).collect::<Vec<_>>().join(";"));
            fields.push(errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("; "));
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        let rdir = dir.join("rejects");
        std::fs::create_dir_all(&rdir)
            .map_err(|e| IngestError::Io(format!("cannot create {}: {e}", rdir.display())))?;
        std::fs::write(rdir.join(format!("{}.csv", t.name)), out)
            .map_err(|e| IngestError::Io(format!("cannot write rejects: {e}")))?;
    }
    Ok(())
}

/// Writes every output into `out`, replacing a previous ingest there atomically. `out`
/// must be new, empty, or hold a previous ingest (an `ingest.json`): anything else is
/// refused rather than deleted.
pub fn write_outputs(data: &Ingested<'_>, out: &Path) -> Result<Vec<(String, TableCounts)>, IngestError> {
    if out.exists() {
        let empty = std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty && !out.join("ingest.json").exists() {
            return Err(IngestError::Usage(format!(
                "{} exists and holds no previous ingest (no ingest.json); give an empty or new directory",
                out.display()
            )));
        }
    }
    let parent =
        out.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&parent)
        .map_err(|e| IngestError::Io(format!("cannot create {}: {e}", parent.display())))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let staging = parent.join(format!(".{name}.ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| IngestError::Io(format!("cannot create {}: {e}", staging.display())))?;
    let result = (|| {
        for t in &data.tables {
            table_outputs(data, t, &staging)?;
        }
        let counts = data.counts();
        let mut tables = serde_json::Map::new();
        for (n, c) in &counts {
            tables.insert(n.clone(), serde_json::to_value(c).unwrap_or_default());
        }
        let summary = Summary {
            survey: data.survey.id(),
            version: data.survey.version(),
            wave: &data.wave,
            on_error: data.on_error,
            tables,
            issues: data.issues(),
        };
        let json = serde_json::to_string_pretty(&summary).map_err(|e| IngestError::Io(e.to_string()))?;
        let mut f = std::fs::File::create(staging.join("ingest.json"))
            .map_err(|e| IngestError::Io(format!("cannot write ingest.json: {e}")))?;
        f.write_all(json.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .map_err(|e| IngestError::Io(format!("cannot write ingest.json: {e}")))?;
        Ok(counts)
    })();
    match result {
        Ok(counts) => {
            let old = parent.join(format!(".{name}.previous-{}", std::process::id()));
            if out.exists() {
                std::fs::rename(out, &old)
                    .map_err(|e| IngestError::Io(format!("cannot replace {}: {e}", out.display())))?;
            }
            if let Err(e) = std::fs::rename(&staging, out) {
                let _ = std::fs::rename(&old, out);
                return Err(IngestError::Io(format!("cannot move the new ingest into {}: {e}", out.display())));
            }
            let _ = std::fs::remove_dir_all(&old);
            Ok(counts)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}
