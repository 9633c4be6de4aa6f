//! The labels every table carries (`endline.labels` in its Parquet key-value metadata):
//! the survey, its languages and missing codes, and each of the table's variables as
//! `endline codebook` describes it. Layout in `docs/data.md`.

use endline_survey::Survey;
use endline_survey::codebook::{Codebook, Variable};

/// The key of the labels in every table's Parquet key-value metadata.
pub const KEY: &str = "endline.labels";

/// The labels of one table, as JSON (layout in `docs/data.md`): the survey, its
/// languages and missing codes, and each of the table's variables as `endline codebook`
/// describes it (labels in every language, type, unit, choices with their labels, the
/// missing codes it accepts).
pub(crate) fn document(survey: &Survey, book: &Codebook, table: &str) -> String {
    let missing: Vec<serde_json::Value> = survey
        .missing_codes()
        .iter()
        .map(|m| serde_json::json!({"name": m.name(), "value": m.value().as_text()}))
        .collect();
    let variables: Vec<&Variable> = book.variables.iter().filter(|v| v.table == table).collect();
    let doc = serde_json::json!({
        "layout": 1,
        "survey": book.survey,
        "version": book.version,
        "table": table,
        "languages": book.languages,
        "missing_codes": missing,
        "variables": variables,
    });
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The labels (`endline.labels`: variable and value labels, units, missing codes; layout
/// in `docs/data.md`) a Parquet file carries, if any.
/// A partitioned table's labels are its first file's.
pub fn parquet_labels(path: &std::path::Path) -> Option<String> {
    if path.is_dir() {
        let first = crate::hive::files(path).ok()?.into_iter().next()?.0;
        return parquet_value(&first, KEY);
    }
    parquet_value(path, KEY)
}

/// The value of `key` in a Parquet file's key-value metadata, if any.
pub fn parquet_value(path: &std::path::Path, key: &str) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let meta = polars_parquet::read::read_metadata(&mut file).ok()?;
    meta.key_value_metadata().as_ref()?.iter().find(|kv| kv.key == key)?.value.clone()
}
