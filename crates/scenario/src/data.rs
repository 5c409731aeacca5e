//! Loading data files (`[data.NAME] file = "…"`): CSV with a header row, or a
//! JSON array of flat objects. Errors are plain messages that name the file;
//! the caller locates them at the `file = …` value.

use std::path::Path;
use std::sync::Arc;

use crate::input::{MAX_DATA_BYTES, format_bytes, read_bounded};

/// A data file's columns and rows (`rows` never empty, every row as wide as `columns`).
pub(crate) struct Table {
    pub columns: Vec<Arc<str>>,
    pub rows: Vec<Vec<Arc<str>>>,
}

/// Reads and parses a data file; the error message names `path`.
pub(crate) fn read(path: &Path) -> Result<Table, String> {
    let shown = path.display();
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(extension.as_deref(), Some("csv" | "json")) {
        return Err(format!("data file `{shown}` is neither .csv nor .json"));
    }
    let bytes = read_bounded(path, MAX_DATA_BYTES, "data file").map_err(|e| e.to_string())?;
    parse(path, &bytes)
}

/// Parses a data file's contents (read elsewhere); the error message names `path`.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Table, String> {
    let shown = path.display();
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(extension.as_deref(), Some("csv" | "json")) {
        return Err(format!("data file `{shown}` is neither .csv nor .json"));
    }
    if bytes.len() as u64 > MAX_DATA_BYTES {
        return Err(format!(
            "data file `{shown}` is larger than {}: split or trim it (limits: docs/scenarios.md#limits)",
            format_bytes(MAX_DATA_BYTES)
        ));
    }
    let table = if extension.as_deref() == Some("csv") { csv_table(bytes) } else { json_table(bytes) }
        .map_err(|e| format!("data file `{shown}`: {e}"))?;
    if table.rows.is_empty() {
        return Err(format!("data file `{shown}` has no rows"));
    }
    Ok(table)
}

fn csv_table(bytes: &[u8]) -> Result<Table, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers = reader.headers().map_err(describe_csv_error)?.clone();
    if headers.is_empty() {
        return Err("is empty: the first line must name the columns".into());
    }
    let columns = checked_columns(headers.iter())?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(describe_csv_error)?;
        rows.push(record.iter().map(Arc::from).collect());
    }
    Ok(Table { columns, rows })
}

fn describe_csv_error(e: csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map_or(String::new(), |p| format!("line {} ", p.line()));
            format!(
                "{line}has {len} fields but the header has {expected_len} (ragged CSV: every row needs one value per column)"
            )
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or(String::new(), |p| format!(" on line {}", p.line()));
            format!("is not valid UTF-8{line}")
        }
        _ => e.to_string(),
    }
}

fn checked_columns<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<Arc<str>>, String> {
    let mut columns: Vec<Arc<str>> = Vec::new();
    for (i, name) in names.enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("column {} has no name", i + 1));
        }
        if columns.iter().any(|c| &**c == name) {
            return Err(format!("column `{name}` appears twice"));
        }
        columns.push(name.into());
    }
    Ok(columns)
}

fn json_table(bytes: &[u8]) -> Result<Table, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON: {e}"))?;
    let serde_json::Value::Array(items) = value else {
        return Err("must be a JSON array of flat objects, e.g. [{\"id\": 1, \"email\": \"a@x.io\"}]".into());
    };
    let mut columns: Vec<Arc<str>> = Vec::new();
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let serde_json::Value::Object(object) = item else {
            return Err(format!("item {i} is not an object (the file must be an array of flat objects)"));
        };
        if i == 0 {
            columns = checked_columns(object.keys().map(String::as_str))?;
        } else if object.len() != columns.len() || columns.iter().any(|c| !object.contains_key(&**c)) {
            return Err(format!(
                "item {i} does not have the same keys as item 0 ({})",
                columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut row = Vec::with_capacity(columns.len());
        for column in &columns {
            let text: Arc<str> = match &object[&**column] {
                serde_json::Value::String(s) => s.as_str().into(),
                serde_json::Value::Null => "".into(),
                v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => v.to_string().into(),
                _ => {
                    return Err(format!(
                        "item {i}, key `{column}`: nested arrays and objects are not supported (values must be strings, numbers, booleans or null)"
                    ));
                }
            };
            row.push(text);
        }
        rows.push(row);
    }
    Ok(Table { columns, rows })
}
