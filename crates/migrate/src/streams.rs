//! Stream configurations, copied first and as raw JSON: the typed client configuration only
//! knows the fields of the client's own server version, and a field it does not know would be
//! dropped silently on the way. Every configuration the target echoes back is compared with
//! what was asked, field by field, because a server older than the source (nats-server 2.9.10
//! drops `subject_transforms`, `first_seq`, `metadata`, …) accepts and ignores what it does not
//! know: the migration refuses rather than copy into a stream that behaves differently.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use async_nats::jetstream::Context;
use serde_json::{json, Map, Value};

/// The oldest target server the engine's guarantees hold on: per-subject expectations,
/// `STREAM.MSG.GET` by next subject and ordered push consumers with flow control.
pub const MIN_SERVER: (u64, u64, u64) = (2, 9, 0);

/// Fields of a stream configuration that describe the source installation, not the stream:
/// they are not copied (the target places its own replicas), and never compared.
const NOT_COPIED: &[&str] = &["placement", "num_replicas", "sealed", "mirror", "sources"];

/// The duplicate window a partitioned copy asks of the target stream while it copies. The
/// target keeps every message id for its window, about 260 bytes each, and a partitioned
/// copy gives most copies one (`partitioned.rs`): with the source's window (2 minutes by
/// default) the target's memory grew with the copy's rate times the window (a million
/// events: 772 MB and growing; with this window 473 MB, flat). Exactly once does not rest
/// on the window: a run's expectation is the stream's last id, which nats-server keeps
/// apart from it, and a refusal only restarts the attempt. The window only makes the target
/// drop a copy it has already seen, which narrows the race of two replicators at once that
/// `partitioned.rs` describes; one second covers a run in flight.
pub const COPY_DUPLICATE_WINDOW: Duration = Duration::from_secs(1);

const DUPLICATE_WINDOW: &str = "duplicate_window";

/// nats-server's duplicate window where a configuration states none.
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Asks the copy's shorter duplicate window instead of the source's. Returns the source's
/// window (ns), for the cut-over to put back, when it was shortened.
pub fn shorten_duplicate_window(asked: &mut Value) -> Option<u64> {
    let source = asked
        .get(DUPLICATE_WINDOW)
        .and_then(Value::as_u64)
        .filter(|&w| w > 0)
        .unwrap_or(nanos(DEFAULT_DUPLICATE_WINDOW));
    let copy = nanos(COPY_DUPLICATE_WINDOW);
    if source <= copy {
        return None;
    }
    asked[DUPLICATE_WINDOW] = json!(copy);
    Some(source)
}

/// Gives the target stream the source's duplicate window back (the cut-over: clients write
/// to the target from now on, with the source's deduplication). Says what it did.
pub async fn restore_duplicate_window(
    js: &Context,
    stream: &str,
    window: u64,
) -> anyhow::Result<String> {
    let info: Value = js
        .request(format!("STREAM.INFO.{stream}"), &Value::Null)
        .await
        .with_context(|| format!("look up target stream {stream}"))?;
    api_result(&info).with_context(|| format!("target stream {stream}"))?;
    let mut config = info["config"].clone();
    let during = config[DUPLICATE_WINDOW].as_u64().unwrap_or(0);
    let said = |d: u64| format!("{:?}", Duration::from_nanos(d));
    if during == window {
        return Ok(format!(
            "{stream}: duplicate window already the source's {}",
            said(window)
        ));
    }
    config[DUPLICATE_WINDOW] = json!(window);
    let updated: Value = js
        .request(format!("STREAM.UPDATE.{stream}"), &config)
        .await
        .with_context(|| format!("restore the duplicate window of target stream {stream}"))?;
    api_result(&updated)
        .with_context(|| format!("restore the duplicate window of target stream {stream}"))?;
    compare(stream, &config, &updated["config"])?;
    Ok(format!(
        "{stream}: duplicate window {} during the copy, now the source's {}",
        said(during),
        said(window)
    ))
}

/// Why a stream configuration cannot be copied: the field and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream}: the target does not keep `{field}` as asked (asked {asked}, target has {echoed}); refusing to copy into a stream that would behave differently")]
pub struct ConfigMismatch {
    pub stream: String,
    pub field: String,
    pub asked: String,
    pub echoed: String,
}

/// Parses `major.minor.patch[-pre]` into a comparable triple.
pub fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Refuses a target that is too old or has no JetStream.
pub async fn check_target(client: &async_nats::Client, js: &Context) -> anyhow::Result<String> {
    let version = client.server_info().version;
    let parsed = parse_version(&version)
        .ok_or_else(|| anyhow!("the target reports an unreadable version {version:?}"))?;
    if parsed < MIN_SERVER {
        let (a, b, c) = MIN_SERVER;
        bail!("the target runs nats-server {version}; the migration needs {a}.{b}.{c} or newer");
    }
    // Raw JSON: the typed account info of the client does not parse 2.9's answer.
    let account: Value = js
        .request("INFO", &Value::Null)
        .await
        .context("the target is not a JetStream server (no answer to account info)")?;
    api_result(&account).context("the target is not a JetStream server")?;
    Ok(version)
}

/// The source stream's configuration as the source server states it.
pub async fn source_config(js: &Context, stream: &str) -> anyhow::Result<Value> {
    let info: Value = js
        .request(format!("STREAM.INFO.{stream}"), &Value::Null)
        .await
        .with_context(|| format!("read the configuration of source stream {stream}"))?;
    api_result(&info).with_context(|| format!("source stream {stream}"))?;
    info.get("config")
        .cloned()
        .ok_or_else(|| anyhow!("source stream {stream}: no config in {info}"))
}

/// The names of all streams of the source.
pub async fn stream_names(js: &Context) -> anyhow::Result<Vec<String>> {
    use futures::TryStreamExt;
    let mut names: Vec<String> = js
        .stream_names()
        .try_collect()
        .await
        .context("list the source's streams")?;
    names.sort();
    Ok(names)
}

fn api_result(response: &Value) -> anyhow::Result<()> {
    match response.get("error") {
        Some(error) => bail!(
            "{} (code {})",
            error["description"].as_str().unwrap_or("error"),
            error["err_code"]
        ),
        None => Ok(()),
    }
}

/// The configuration to ask of the target for a source stream configuration.
pub fn target_config(source: &Value) -> Value {
    let mut config: Map<String, Value> = source.as_object().cloned().unwrap_or_default();
    for field in NOT_COPIED {
        config.remove(*field);
    }
    Value::Object(config)
}

/// Creates the target stream (or checks the one there) and compares every field asked with
/// the configuration the target echoes back. `source_window` is the source's duplicate
/// window where `asked` has the copy's: a stream whose window a cut-over already put back
/// is as asked too.
pub async fn ensure_target_stream(
    js: &Context,
    asked: &Value,
    source_window: Option<u64>,
) -> anyhow::Result<()> {
    let stream = asked["name"]
        .as_str()
        .ok_or_else(|| anyhow!("a stream configuration without a name"))?
        .to_string();
    let existing: Value = js
        .request(format!("STREAM.INFO.{stream}"), &Value::Null)
        .await
        .with_context(|| format!("look up target stream {stream}"))?;
    let echoed = if existing.get("error").is_none() {
        existing["config"].clone()
    } else {
        let created: Value = js
            .request(format!("STREAM.CREATE.{stream}"), asked)
            .await
            .with_context(|| format!("create target stream {stream}"))?;
        api_result(&created).with_context(|| format!("create target stream {stream}"))?;
        created["config"].clone()
    };
    let mut asked = asked.clone();
    if source_window.is_some() && echoed[DUPLICATE_WINDOW].as_u64() == source_window {
        asked[DUPLICATE_WINDOW] = echoed[DUPLICATE_WINDOW].clone();
    }
    compare(&stream, &asked, &echoed)?;
    Ok(())
}

/// The first field asked that the echo does not hold with the same value.
pub fn compare(stream: &str, asked: &Value, echoed: &Value) -> Result<(), ConfigMismatch> {
    let asked = asked.as_object().cloned().unwrap_or_default();
    for (field, value) in asked {
        if NOT_COPIED.contains(&field.as_str()) || is_empty(&value) {
            continue;
        }
        let back = echoed.get(&field).cloned().unwrap_or(Value::Null);
        if back != value {
            return Err(ConfigMismatch {
                stream: stream.to_string(),
                field,
                asked: value.to_string(),
                echoed: back.to_string(),
            });
        }
    }
    Ok(())
}

/// A value the server omits when it is the default: asking for it changes nothing.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_version("v2.10.0-beta.1"), Some((2, 10, 0)));
        assert!(parse_version("2.9.10").unwrap() > parse_version("2.9.9").unwrap());
        assert!(parse_version("2.8.4").unwrap() < MIN_SERVER);
    }

    #[test]
    fn a_copy_asks_a_short_duplicate_window_and_keeps_the_sources_to_restore() {
        let two_minutes = 120_000_000_000u64;
        let mut asked = json!({"name": "A", "duplicate_window": two_minutes});
        assert_eq!(shorten_duplicate_window(&mut asked), Some(two_minutes));
        assert_eq!(asked["duplicate_window"], json!(1_000_000_000u64));
        // None stated: the server's default is what the source has.
        let mut unstated = json!({"name": "A"});
        assert_eq!(shorten_duplicate_window(&mut unstated), Some(two_minutes));
        // Already as short: nothing to shorten or restore.
        let mut short = json!({"name": "A", "duplicate_window": 500_000_000u64});
        assert_eq!(shorten_duplicate_window(&mut short), None);
        assert_eq!(short["duplicate_window"], json!(500_000_000u64));
    }

    #[test]
    fn a_field_the_target_dropped_is_named() {
        let asked = json!({"name": "A", "subjects": ["a.>"], "first_seq": 10, "sealed": true});
        let echoed = json!({"name": "A", "subjects": ["a.>"]});
        let error = compare("A", &asked, &echoed).unwrap_err();
        assert_eq!(error.field, "first_seq");
        assert_eq!(error.echoed, "null");
    }
}
