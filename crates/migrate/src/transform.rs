//! Transforms: subject renames, and a script over each message's headers and payload.
//!
//! Renames are NATS patterns to templates (`orders.*.>` → `sales.$1.>`: `$N` is the N-th
//! `*` token, a final `>` the rest), first match wins. They apply to the copied messages,
//! to the target stream's subjects and to the cut-over consumers' filters, so a renamed
//! stream keeps working on the target.
//!
//! The script engine is Rhai (crates.io `rhai`): pure Rust, embedded, maintained since
//! 2016 with regular releases, and sandboxed by construction — a script reaches nothing but
//! what the host registers (no files, network, processes or clock here), and the engine
//! bounds its operations, string and collection sizes. A Lua or JavaScript engine would
//! bring a C library or a large runtime into the replicator; WebAssembly would make users
//! compile their transform. The script sees `subject` (read-only), `headers` (a map of name
//! to value) and `payload` (a blob; `payload.as_string()` and `"…".to_blob()` convert),
//! changes the last two in place, and returns `false` to leave the message out (counted
//! under `script_skipped`). It cannot change the subject: a subject outside the target
//! stream's subjects could not be stored. No clock and no randomness: the same message
//! always gives the same copy, which `verify` relies on.

use anyhow::{anyhow, bail, Context as _};
use async_nats::HeaderMap;
use bytes::Bytes;
use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, CorePackage,
    LogicPackage, MoreStringPackage, Package,
};
use rhai::{Blob, Dynamic, Engine, Map, Scope, AST};

use crate::filters::subject_matches;

/// A message the script left out: the counters' key.
pub const SCRIPT_SKIPPED: &str = "script_skipped";

pub use isthmus_core::kinds::migration_transform::{
    MigrationTransform as TransformSpec, SubjectRename as Rename,
};

/// A compiled transform, shared by every writer.
pub struct Transform {
    spec: TransformSpec,
    script: Option<(Engine, AST)>,
}

/// A message as the target gets it.
pub struct Transformed {
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
}

fn engine() -> Engine {
    let mut engine = Engine::new_raw();
    CorePackage::new().register_into_engine(&mut engine);
    LogicPackage::new().register_into_engine(&mut engine);
    BasicMathPackage::new().register_into_engine(&mut engine);
    BasicArrayPackage::new().register_into_engine(&mut engine);
    BasicBlobPackage::new().register_into_engine(&mut engine);
    BasicMapPackage::new().register_into_engine(&mut engine);
    MoreStringPackage::new().register_into_engine(&mut engine);
    engine
        .set_max_operations(1_000_000)
        .set_max_string_size(8 << 20)
        .set_max_array_size(1 << 20)
        .set_max_map_size(4096)
        .set_max_call_levels(32)
        .set_max_expr_depths(64, 32);
    engine.on_print(|_| {}).on_debug(|_, _, _| {});
    engine
}

impl Transform {
    /// Checks the renames and compiles the script; the error names what is wrong.
    pub fn new(spec: &TransformSpec) -> anyhow::Result<Transform> {
        for (i, rename) in spec.subjects.iter().enumerate() {
            check_rename(rename).with_context(|| format!("transform.subjects[{i}]"))?;
        }
        let script = match &spec.script {
            None => None,
            Some(text) => {
                let engine = engine();
                let ast = engine
                    .compile(text)
                    .map_err(|e| anyhow!("transform.script: {e}"))?;
                Some((engine, ast))
            }
        };
        Ok(Transform {
            spec: spec.clone(),
            script,
        })
    }

    pub fn is_identity(&self) -> bool {
        self.spec == TransformSpec::default()
    }

    /// The target subject (or pattern) of a source subject (or pattern).
    pub fn subject(&self, subject: &str) -> String {
        self.spec
            .subjects
            .iter()
            .find_map(|r| rename(r, subject))
            .unwrap_or_else(|| subject.to_string())
    }

    /// The target stream's subjects for a source stream's: each renamed, plus the target
    /// pattern of every rename that matches inside one of them.
    pub fn stream_subjects(&self, subjects: &[String]) -> Vec<String> {
        let mut out: Vec<String> = subjects
            .iter()
            .map(|s| {
                self.spec
                    .subjects
                    .iter()
                    .find(|r| covers(&r.from, s))
                    .and_then(|r| rename(r, s))
                    .unwrap_or_else(|| s.clone())
            })
            .collect();
        for r in &self.spec.subjects {
            let inside = subjects.iter().any(|s| subject_matches(s, &r.from));
            let target = rename(r, &r.from).expect("a pattern matches itself");
            if inside && !out.contains(&target) {
                out.push(target);
            }
        }
        out
    }

    /// The copy of one source message, or `None` when the script leaves it out.
    pub fn apply(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: Bytes,
    ) -> anyhow::Result<Option<Transformed>> {
        let target_subject = self.subject(subject);
        let Some((engine, ast)) = &self.script else {
            return Ok(Some(Transformed {
                subject: target_subject,
                headers: headers.cloned(),
                payload,
            }));
        };
        let mut map = Map::new();
        for (name, values) in headers.into_iter().flat_map(|h| h.iter()) {
            let name: &str = name.as_ref();
            if let Some(value) = values.last() {
                map.insert(name.into(), Dynamic::from(value.as_str().to_string()));
            }
        }
        let mut scope = Scope::new();
        scope.push_constant("subject", subject.to_string());
        scope.push("headers", map);
        scope.push("payload", Blob::from(payload.to_vec()));
        let keep = engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .map_err(|e| anyhow!("the transform script failed on {subject}: {e}"))?;
        if keep.as_bool() == Ok(false) {
            return Ok(None);
        }
        let map: Map = scope
            .get_value("headers")
            .ok_or_else(|| anyhow!("the transform script removed `headers`"))?;
        let blob: Blob = scope
            .get_value("payload")
            .ok_or_else(|| anyhow!("the transform script made `payload` something else than a blob (use \"…\".to_blob())"))?;
        let mut out = HeaderMap::new();
        for (name, value) in map {
            if value.is_unit() {
                continue; // `headers.remove(..)` or set to ()
            }
            out.insert(name.as_str(), value.to_string().as_str());
        }
        Ok(Some(Transformed {
            subject: target_subject,
            headers: (!out.is_empty()).then_some(out),
            payload: Bytes::from(blob),
        }))
    }
}

/// A rename's rules are the core's, so admission and the engine agree.
pub fn check_rename(r: &Rename) -> anyhow::Result<()> {
    match isthmus_core::kinds::migration_transform::rename_error(r) {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// Whether every subject of `pattern` matches `from` (a `*` does not cover a `>`).
fn covers(from: &str, pattern: &str) -> bool {
    let mut tokens = pattern.split('.');
    for part in from.split('.') {
        match (part, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(t)) if t != ">" => {}
            (literal, Some(t)) if literal == t && t != "*" && t != ">" => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

/// `subject` renamed by `r`, when `r.from` matches it (wildcard tokens of a pattern
/// given as `subject` match as literals, so a stream's own patterns rename too).
fn rename(r: &Rename, subject: &str) -> Option<String> {
    if !subject_matches(&r.from, subject) {
        return None;
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    let from: Vec<&str> = r.from.split('.').collect();
    let stars: Vec<&str> = from
        .iter()
        .zip(&tokens)
        .filter(|(f, _)| **f == "*")
        .map(|(_, t)| *t)
        .collect();
    let rest = tokens
        .get(from.len().saturating_sub(1)..)
        .unwrap_or_default();
    let out: Vec<String> =
        r.to.split('.')
            .map(|t| match t {
                ">" => rest.join("."),
                t => match t.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => stars[n - 1].to_string(),
                    None => t.to_string(),
                },
            })
            .collect();
    Some(out.join("."))
}

#[cfg(test)]
mod tests;
