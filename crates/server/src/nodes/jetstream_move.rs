//! Bringing a NATS cluster's JetStream data to its new nodes during a move, by the
//! engine's own replication (issue 19). The new nodes join the old ones as members of one
//! NATS cluster (routes), tagged with the target network; then:
//!
//! 1. [`place_streams`]: every stream's placement names that tag, and JetStream moves the
//!    stream: it adds replicas on the tagged members, catches them up, hands them the
//!    leadership and drops the old replicas. Its consumers (their delivered and acked
//!    positions) go with it. Sequences stay as they were, so nothing is copied by us and
//!    clients see one stream throughout: writers and consumers stay connected meanwhile.
//! 2. [`placement`] says when every stream and consumer lives only on the new members,
//!    each replica current: then the data is there and the names may switch.
//! 3. [`retire_members`]: the old members leave JetStream's meta group (a system-account
//!    request), so the meta group keeps its quorum once they stop. They go on routing
//!    (without JetStream) for clients that still use them during the drain.
//!
//! Chosen over copying the streams into a second cluster (the migration machinery)
//! because the cluster stays one cluster: no cut-over of writers (a copy would have to
//! fence the old streams while the last messages cross), no translation of consumer
//! positions, and no window where an acknowledged write exists on one side only.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The tag of the members in network `network_id`.
pub fn network_tag(network_id: &str) -> String {
    format!("isthmus-net:{network_id}")
}

/// The administrative user a cluster's nodes know (see `Membership::system_password`).
pub const SYSTEM_USER: &str = "isthmus";

/// How far the data is on its way to the new members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub streams: usize,
    /// Streams whose replicas, and whose consumers' replicas, are all on the new members
    /// and current.
    pub placed: usize,
    /// The first stream not placed yet, and why.
    pub waiting_for: Option<String>,
}

impl Placement {
    pub fn done(&self) -> bool {
        self.placed == self.streams
    }
}

/// A connection to one node (TLS, trusting the installation CA), as the platform: with
/// `password`, as the system user.
pub async fn connect(
    url: &str,
    ca_file: &Path,
    password: Option<&str>,
) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name("isthmus-move")
        .connection_timeout(Duration::from_secs(5))
        .add_root_certificates(ca_file.to_path_buf())
        .require_tls(true);
    if let Some(password) = password {
        options = options.user_and_password(SYSTEM_USER.into(), password.into());
    }
    options
        .connect(url)
        .await
        .with_context(|| format!("connect to {url}"))
}

/// One JetStream API request; its error as an error.
async fn api(client: &async_nats::Client, subject: String, body: Value) -> anyhow::Result<Value> {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.clone(), body.to_string().into()),
    )
    .await
    .with_context(|| format!("{subject}: no answer in 10 s"))?
    .with_context(|| format!("request {subject}"))?;
    let answer: Value = serde_json::from_slice(&reply.payload)
        .with_context(|| format!("decode the answer to {subject}"))?;
    if let Some(error) = answer.get("error") {
        bail!(
            "{subject}: {}",
            error["description"].as_str().unwrap_or("error")
        );
    }
    Ok(answer)
}

/// Every stream's name. Checked against the account's count of streams: while the
/// meta group changes members (the new ones joining), a listing can come back short,
/// and a stream missing from it would silently stay behind.
async fn stream_names(client: &async_nats::Client) -> anyhow::Result<Vec<String>> {
    let account = api(client, "$JS.API.INFO".into(), json!({})).await?;
    let expected = account["streams"].as_u64().unwrap_or(0) as usize;
    let names = listed_stream_names(client).await?;
    if names.len() < expected {
        bail!(
            "JetStream listed {} of the account's {expected} streams; ask again",
            names.len()
        );
    }
    Ok(names)
}

async fn listed_stream_names(client: &async_nats::Client) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    loop {
        let page = api(
            client,
            "$JS.API.STREAM.NAMES".into(),
            json!({"offset": names.len()}),
        )
        .await?;
        let got: Vec<String> = page["streams"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        let empty = got.is_empty();
        names.extend(got);
        if empty || names.len() >= total {
            return Ok(names);
        }
    }
}

/// Asks JetStream to place every stream on the members tagged `tag` (a stream already
/// placed there is left alone). Returns how many streams it asked to move.
pub async fn place_streams(client: &async_nats::Client, tag: &str) -> anyhow::Result<usize> {
    let mut moved = 0;
    for name in stream_names(client).await? {
        let info = api(client, format!("$JS.API.STREAM.INFO.{name}"), json!({})).await?;
        let mut config = info["config"].clone();
        if config["placement"]["tags"] == json!([tag]) {
            continue;
        }
        config["placement"] = json!({"tags": [tag]});
        api(client, format!("$JS.API.STREAM.UPDATE.{name}"), config)
            .await
            .with_context(|| format!("place stream {name} on {tag}"))?;
        moved += 1;
    }
    Ok(moved)
}

/// Where each stream (and its consumers) lives now, against the new members' names.
pub async fn placement(
    client: &async_nats::Client,
    new_members: &BTreeSet<String>,
) -> anyhow::Result<Placement> {
    let names = stream_names(client).await?;
    let mut out = Placement {
        streams: names.len(),
        ..Placement::default()
    };
    for name in names {
        let info = api(client, format!("$JS.API.STREAM.INFO.{name}"), json!({})).await?;
        let mut why = off_members(&info["cluster"], new_members);
        if why.is_none() {
            let consumers = api(
                client,
                format!("$JS.API.CONSUMER.LIST.{name}"),
                json!({"offset": 0}),
            )
            .await?;
            why = consumers["consumers"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|c| {
                    off_members(&c["cluster"], new_members)
                        .map(|w| format!("consumer {}: {w}", c["name"].as_str().unwrap_or("?")))
                });
        }
        match why {
            None => out.placed += 1,
            Some(w) if out.waiting_for.is_none() => {
                out.waiting_for = Some(format!("stream {name}: {w}"))
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// Why a raft group (`cluster` of a stream or consumer info) is not wholly on
/// `members` with every replica current; `None` when it is.
fn off_members(cluster: &Value, members: &BTreeSet<String>) -> Option<String> {
    let Some(leader) = cluster["leader"].as_str() else {
        return Some("no leader yet".into());
    };
    if !members.contains(leader) {
        return Some(format!("led by {leader}"));
    }
    for replica in cluster["replicas"].as_array().into_iter().flatten() {
        let name = replica["name"].as_str().unwrap_or("?");
        if !members.contains(name) {
            return Some(format!("a replica on {name}"));
        }
        if replica["current"] != json!(true) {
            return Some(format!("replica {name} catching up"));
        }
    }
    None
}

/// One round of bringing every stream onto the members `to` (tagged `tag`) and off the
/// members `from`: `None` once it is there, else what it waits for. Asked as the platform
/// (`platform`) and as the system user (`sys`).
///
/// Every answer is checked before it is believed: all members must follow one meta
/// leader (a split meta group answers listings from either side, so "no streams" can
/// come from a leader that never knew them), and a round that finds the data placed
/// looks again a second later and must find the same before it says so, since the old
/// members are retired on its word.
pub async fn data_round(
    platform: &async_nats::Client,
    sys: &async_nats::Client,
    tag: &str,
    to: &BTreeSet<String>,
    from: &[String],
) -> anyhow::Result<Option<String>> {
    let all: Vec<String> = to.iter().chain(from).cloned().collect();
    if let Some(split) = meta_disagreement(sys, &all).await? {
        return Ok(Some(split));
    }
    place_streams(platform, tag).await?;
    for look in 0..2 {
        if look > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(split) = meta_disagreement(sys, &all).await? {
                return Ok(Some(split));
            }
        }
        let placed = placement(platform, to).await?;
        if !placed.done() {
            return Ok(Some(placed.waiting_for.unwrap_or_else(|| {
                format!("{} of {} streams placed", placed.placed, placed.streams)
            })));
        }
        if let Some(held) = members_hold_nothing(sys, from).await? {
            return Ok(Some(held));
        }
    }
    Ok(None)
}

/// Why `members` do not (yet) follow one meta leader that is one of them; `None` when
/// they do. Fresh members joining at once can elect a leader of their own next to the
/// existing one (nats-server 2.9.10 was seen to): each side then answers for JetStream
/// with its own state.
pub async fn meta_disagreement(
    sys: &async_nats::Client,
    members: &[String],
) -> anyhow::Result<Option<String>> {
    let reports = match reports_of(sys, members).await? {
        Ok(reports) => reports,
        Err(silent) => return Ok(Some(silent)),
    };
    let leaders: BTreeSet<&str> = reports.iter().map(|r| r.meta_leader.as_str()).collect();
    Ok(match leaders.into_iter().collect::<Vec<_>>().as_slice() {
        [leader] if members.iter().any(|m| m == leader) => None,
        [leader] => Some(format!(
            "the members follow meta leader {leader:?}, not one of them"
        )),
        leaders => Some(format!(
            "the members disagree on JetStream's meta leader: {leaders:?}"
        )),
    })
}

/// Takes `members` out of JetStream's meta group (system user's connection), so the
/// group's quorum no longer counts them. They keep routing without JetStream. A removal
/// can go unanswered while the meta group elects a new leader (the old leader may be
/// the member just removed), so each is asked again, a bounded number of times.
pub async fn retire_members(sys: &async_nats::Client, members: &[String]) -> anyhow::Result<()> {
    retire(sys, members, false).await
}

/// Like [`retire_members`], for members that may never have joined the meta group (the
/// new members of a move cancelled while they started): a member JetStream does not
/// know counts as retired.
pub async fn retire_members_if_joined(
    sys: &async_nats::Client,
    members: &[String],
) -> anyhow::Result<()> {
    retire(sys, members, true).await
}

async fn retire(
    sys: &async_nats::Client,
    members: &[String],
    maybe_unknown: bool,
) -> anyhow::Result<()> {
    const TRIES: u32 = 10;
    for member in members {
        let mut tries = 0;
        loop {
            tries += 1;
            match api(sys, "$JS.API.SERVER.REMOVE".into(), json!({"peer": member})).await {
                Ok(_) => break,
                // Removed by an earlier try whose answer was lost, or a repeated step.
                Err(e) if (tries > 1 || maybe_unknown) && is_unknown_peer(&e) => break,
                Err(e) if tries < TRIES => {
                    tracing::info!(%member, error = %format!("{e:#}"), "retiring a member again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e.context(format!("retire member {member}"))),
            }
        }
    }
    Ok(())
}

fn is_unknown_peer(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}").to_lowercase();
    text.contains("not found") || text.contains("not a member") || text.contains("unknown")
}

/// One member's own JetStream report (`$SYS.REQ.SERVER.PING.JSZ`): what it stores, and
/// which meta group leader it follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberReport {
    pub name: String,
    pub streams: u64,
    pub consumers: u64,
    /// The meta group's leader as this member sees it (empty: none known).
    pub meta_leader: String,
    /// The meta group's size as this member sees it.
    pub meta_size: u64,
}

/// Every member's own report, as many as answer within 2 s, or until those heard
/// satisfy `enough`.
pub async fn member_reports(
    sys: &async_nats::Client,
    enough: impl Fn(&[MemberReport]) -> bool,
) -> anyhow::Result<Vec<MemberReport>> {
    let inbox = sys.new_inbox();
    let mut answers = sys
        .subscribe(inbox.clone())
        .await
        .context("subscribe for the members' reports")?;
    sys.publish_with_reply("$SYS.REQ.SERVER.PING.JSZ", inbox, "{}".into())
        .await
        .context("ask the members for their reports")?;
    sys.flush()
        .await
        .context("ask the members for their reports")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut reports = Vec::new();
    while !enough(&reports) {
        let Ok(Some(answer)) =
            tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut answers)).await
        else {
            break;
        };
        let report: Value = serde_json::from_slice(&answer.payload).unwrap_or_default();
        let data = &report["data"];
        reports.push(MemberReport {
            name: report["server"]["name"].as_str().unwrap_or_default().into(),
            streams: data["streams"].as_u64().unwrap_or(0),
            consumers: data["consumers"].as_u64().unwrap_or(0),
            meta_leader: data["meta_cluster"]["leader"]
                .as_str()
                .unwrap_or_default()
                .into(),
            meta_size: data["meta_cluster"]["cluster_size"].as_u64().unwrap_or(0),
        });
    }
    Ok(reports)
}

/// The own report of each of `members`, in their order; `Err` names one that did not
/// report within the wait.
async fn reports_of(
    sys: &async_nats::Client,
    members: &[String],
) -> anyhow::Result<Result<Vec<MemberReport>, String>> {
    let mut reports = member_reports(sys, |heard| {
        members.iter().all(|m| heard.iter().any(|r| &r.name == m))
    })
    .await?;
    let mut mine = Vec::with_capacity(members.len());
    for member in members {
        match reports.iter().position(|r| &r.name == member) {
            Some(at) => mine.push(reports.swap_remove(at)),
            None => return Ok(Err(format!("member {member} did not report"))),
        }
    }
    Ok(Ok(mine))
}

/// What each of `members` still holds (streams and consumers, from its own JetStream
/// report, asked over the system account): `None` when every one of them answered and
/// holds nothing, else why not. The final check before the old members go: a listing of
/// streams can come back short while the meta group changes, a member's own report of
/// what it stores cannot.
pub async fn members_hold_nothing(
    sys: &async_nats::Client,
    members: &[String],
) -> anyhow::Result<Option<String>> {
    let reports = match reports_of(sys, members).await? {
        Ok(reports) => reports,
        Err(silent) => return Ok(Some(silent)),
    };
    Ok(reports.iter().find_map(|r| {
        (r.streams > 0 || r.consumers > 0).then(|| {
            format!(
                "member {} still holds {} streams and {} consumers",
                r.name, r.streams, r.consumers
            )
        })
    }))
}
