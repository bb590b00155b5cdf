//! `-o jsonpath=EXPR` and `-o template=TEXT`: picking fields out of what a verb would
//! print as JSON, as kubectl does.
//!
//! - `jsonpath=` takes `{.a.b}`, `{.items[0].name}`, `{[*].id}` (braces and a leading
//!   `$` optional). A field of a list is that field of each of its items, so
//!   `network list -o jsonpath={.name}` prints every network's name. Several results are
//!   printed on one line, space-separated; strings print bare, the rest as JSON.
//! - `template=` takes text with `{{.path}}` holes, filled the same way; on a list, the
//!   template is printed once per item, one line each. `\t` and `\n` are a tab and a
//!   newline, so `-o template='{{.name}}\t{{.id}}'` makes a two-column list.
//!
//! Every verb that prints JSON prints its selection instead: the format is parsed into
//! `OutputFormat::Json`, with the selection set aside for [`crate::output::json`].

use std::sync::OnceLock;

use serde_json::Value;

use crate::args::OutputFormat;

/// What `-o` asked to pick.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    JsonPath(Vec<Step>),
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(usize),
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Hole(Vec<Step>),
}

static SELECTION: OnceLock<Selection> = OnceLock::new();

/// The selection `-o` set, if any.
pub fn selection() -> Option<&'static Selection> {
    SELECTION.get()
}

/// clap's parser of `-o`: `table`, `json`, `yaml`, `jsonpath=…` or `template=…`.
pub fn parse_output(raw: &str) -> Result<OutputFormat, String> {
    let picked = if let Some(expr) = raw.strip_prefix("jsonpath=") {
        Selection::JsonPath(parse_path(expr)?)
    } else if let Some(text) = raw.strip_prefix("template=") {
        Selection::Template(parse_template(text)?)
    } else {
        return match raw {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "yaml" => Ok(OutputFormat::Yaml),
            other => Err(format!(
                "'{other}' is not an output format: use table, json, yaml, jsonpath=EXPR or \
                 template=TEXT"
            )),
        };
    };
    // clap may parse the flag more than once (global flags); the first one stands.
    let _ = SELECTION.set(picked);
    Ok(OutputFormat::Json)
}

fn parse_path(expr: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("jsonpath '{expr}': {why}");
    let mut text = expr.trim();
    if let Some(inner) = text.strip_prefix('{') {
        text = inner
            .strip_suffix('}')
            .ok_or_else(|| bad("a '{' without its '}'"))?;
    }
    let text = text.strip_prefix('$').unwrap_or(text);
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..end];
            if !field.is_empty() {
                steps.push(Step::Field(field.to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| bad("a '[' without its ']'"))?;
            let inside = after[..end].trim();
            steps.push(match inside {
                "*" => Step::All,
                n => Step::Index(
                    n.parse()
                        .map_err(|_| bad("an index must be a number or *"))?,
                ),
            });
            rest = &after[end + 1..];
        } else {
            return Err(bad("a path goes on with .field or [index]"));
        }
    }
    Ok(steps)
}

fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let text = text.replace("\\t", "\t").replace("\\n", "\n");
    let mut pieces = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: a '{{{{' without its '}}}}' in '{text}'"))?;
        pieces.push(Piece::Hole(parse_path(after[..end].trim())?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// The values `steps` reach from `value`; a field of a list maps over its items.
fn walk<'a>(value: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return vec![value];
    };
    match (step, value) {
        (Step::Field(_), Value::Array(items)) => {
            items.iter().flat_map(|v| walk(v, steps)).collect()
        }
        (Step::Field(name), Value::Object(map)) => {
            map.get(name).map(|v| walk(v, rest)).unwrap_or_default()
        }
        (Step::Index(i), Value::Array(items)) => {
            items.get(*i).map(|v| walk(v, rest)).unwrap_or_default()
        }
        (Step::All, Value::Array(items)) => items.iter().flat_map(|v| walk(v, rest)).collect(),
        _ => Vec::new(),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn fill(pieces: &[Piece], value: &Value) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(t) => t.clone(),
            Piece::Hole(path) => walk(value, path)
                .into_iter()
                .map(text_of)
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect()
}

/// What `selection` picks out of `value`, ending in a newline.
pub fn render(selection: &Selection, value: &Value) -> String {
    let mut out = match selection {
        Selection::JsonPath(path) => walk(value, path)
            .into_iter()
            .map(text_of)
            .collect::<Vec<_>>()
            .join(" "),
        Selection::Template(pieces) => match value {
            Value::Array(items) => items
                .iter()
                .map(|item| fill(pieces, item))
                .collect::<Vec<_>>()
                .join("\n"),
            one => fill(pieces, one),
        },
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(expr: &str) -> Selection {
        Selection::JsonPath(parse_path(expr).unwrap())
    }

    #[test]
    fn a_jsonpath_picks_fields_and_maps_over_lists() {
        let one = json!({"name": "web", "nodes": [{"ip": "10.0.0.4"}, {"ip": "10.0.0.5"}]});
        assert_eq!(render(&path("{.name}"), &one), "web\n");
        assert_eq!(render(&path("$.nodes[1].ip"), &one), "10.0.0.5\n");
        assert_eq!(render(&path("{.nodes[*].ip}"), &one), "10.0.0.4 10.0.0.5\n");
        let list = json!([{"name": "a"}, {"name": "b"}]);
        assert_eq!(render(&path("{.name}"), &list), "a b\n");
        assert_eq!(render(&path("{[0].name}"), &list), "a\n");
        assert!(parse_path("{.name").is_err());
        assert!(parse_path("name").is_err());
    }

    #[test]
    fn a_template_fills_its_holes_once_per_item() {
        let t = Selection::Template(parse_template("{{.name}}\\t{{ .status }}").unwrap());
        let list = json!([{"name": "a", "status": "ready"}, {"name": "b", "status": 3}]);
        assert_eq!(render(&t, &list), "a\tready\nb\t3\n");
    }

    #[test]
    fn an_unknown_format_names_the_choices() {
        let err = parse_output("xml").unwrap_err();
        assert!(err.contains("jsonpath=EXPR"), "{err}");
        assert_eq!(parse_output("yaml").unwrap(), OutputFormat::Yaml);
    }
}
