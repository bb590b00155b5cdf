//! Renderers: aligned tables for lists, a `key: value` view for one resource, and JSON or
//! YAML of exactly what the API returned (for scripts).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::args::OutputFormat;

/// A resource the CLI can show in every format.
pub trait View: Serialize {
    /// Column headers of a list of these.
    const HEADERS: &'static [&'static str];
    /// One row of a list, in the order of `HEADERS`.
    fn row(&self) -> Vec<String>;
    /// The `key: value` view of one of these.
    fn details(&self) -> Details;
}

pub fn one<T: View>(format: OutputFormat, item: &T) -> anyhow::Result<String> {
    match format {
        OutputFormat::Table => Ok(item.details().render()),
        OutputFormat::Json => json(item),
        OutputFormat::Yaml => yaml(item),
    }
}

pub fn list<T: View>(format: OutputFormat, items: &[T]) -> anyhow::Result<String> {
    match format {
        OutputFormat::Table => {
            let mut table = Table::new(T::HEADERS);
            for item in items {
                table.row(item.row());
            }
            Ok(table.render())
        }
        OutputFormat::Json => json(&items),
        OutputFormat::Yaml => yaml(&items),
    }
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    if let Some(selection) = crate::select::selection() {
        return Ok(crate::select::render(
            selection,
            &serde_json::to_value(value)?,
        ));
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

pub fn yaml<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(value)?)
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                if i == last {
                    out.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// A `key: value` view with keys aligned, and lists shown as indented lines under a key.
#[derive(Default)]
pub struct Details {
    entries: Vec<Entry>,
}

enum Entry {
    Field(String, String),
    Block(String, Vec<String>),
}

impl Details {
    pub fn field(mut self, key: &str, value: impl ToString) -> Self {
        self.entries
            .push(Entry::Field(key.to_string(), value.to_string()));
        self
    }

    /// A list under `key`; an empty list shows as `key: -`.
    pub fn block(mut self, key: &str, lines: Vec<String>) -> Self {
        if lines.is_empty() {
            self.entries
                .push(Entry::Field(key.to_string(), "-".to_string()));
        } else {
            self.entries.push(Entry::Block(key.to_string(), lines));
        }
        self
    }

    pub fn render(&self) -> String {
        let width = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Field(k, _) | Entry::Block(k, _) => k.len() + 1,
            })
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for entry in &self.entries {
            match entry {
                Entry::Field(key, value) => {
                    let value = if value.is_empty() { "-" } else { value };
                    out.push_str(&format!("{:width$} {value}\n", format!("{key}:")));
                }
                Entry::Block(key, lines) => {
                    out.push_str(&format!("{key}:\n"));
                    for line in lines {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
            }
        }
        out
    }
}

/// Times to the second, in UTC: enough to read, short enough for a column.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

pub fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_under_their_headers() {
        let mut table = Table::new(&["ID", "NAME", "STATUS"]);
        table.row(vec!["a".into(), "production".into(), "active".into()]);
        table.row(vec!["bb".into(), "x".into(), "provisioning".into()]);
        assert_eq!(
            table.render(),
            "ID  NAME        STATUS\n\
             a   production  active\n\
             bb  x           provisioning\n"
        );
    }

    #[test]
    fn details_align_keys_and_indent_lists() {
        let details = Details::default()
            .field("id", "n1")
            .field("status_message", "")
            .block("routes", vec!["10.0.0.0/8".into()])
            .block("warnings", vec![]);
        assert_eq!(
            details.render(),
            "id:             n1\n\
             status_message: -\n\
             routes:\n  10.0.0.0/8\n\
             warnings:       -\n"
        );
    }
}
