//! Verification: source and target compared message by message up to the source's end
//! position — per-range digests, per-subject counts, duplicates, gaps and order — naming the
//! first message that differs.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use async_nats::jetstream::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::Mode;
use crate::filters::Filters;
use crate::headers;
use crate::source::{read_range, SourceMessage};
use crate::transform::Transform;

/// Source sequences per digest range.
pub const RANGE: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub source_seq: u64,
    pub subject: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stream: String,
    /// Compared up to this source sequence.
    pub source_end: u64,
    pub source_count: u64,
    pub target_count: u64,
    pub duplicates: u64,
    pub missing: u64,
    /// Copies found after a copy of a later source message (of the same subject in
    /// partitioned mode).
    pub out_of_order: u64,
    pub ranges: u64,
    pub ranges_differing: u64,
    /// Subjects whose counts differ: (subject, source, target).
    pub subject_counts_differing: Vec<(String, u64, u64)>,
    pub first_difference: Option<Difference>,
    pub equal: bool,
}

fn digest(message: &SourceMessage) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(message.subject.as_bytes());
    hash.update([0]);
    for (name, values) in headers::event_headers(message.headers.as_ref()) {
        hash.update(name.as_bytes());
        for value in values {
            hash.update([1]);
            hash.update(value.as_bytes());
        }
        hash.update([2]);
    }
    hash.update([0]);
    hash.update(&message.payload);
    hash.finalize().into()
}

/// Compares `stream` in the source and the target up to the source's current end.
/// Source messages the filters skip are not expected in the target.
pub async fn verify(
    source: &Context,
    target: &Context,
    mode: Mode,
    filters: &Filters,
    stream: &str,
) -> anyhow::Result<Report> {
    let identity = Transform::new(&Default::default())?;
    verify_transformed(source, target, mode, filters, &identity, stream).await
}

/// [`verify`] of a migration with a transform: each source message is expected in the
/// target as the transform makes it (scripts are deterministic), or not at all when the
/// script leaves it out.
pub async fn verify_transformed(
    source: &Context,
    target: &Context,
    mode: Mode,
    filters: &Filters,
    transform: &Transform,
    stream: &str,
) -> anyhow::Result<Report> {
    let source_end = source
        .get_stream(stream)
        .await
        .with_context(|| format!("open source stream {stream}"))?
        .info()
        .await?
        .state
        .last_sequence;
    let target_end = target
        .get_stream(stream)
        .await
        .with_context(|| format!("open target stream {stream}"))?
        .info()
        .await?
        .state
        .last_sequence;
    let mut originals = read_range(source, stream, 1, source_end).await?;
    originals.retain(|m| filters.skips(&m.subject, m.headers.as_ref()).is_none());
    if !transform.is_identity() {
        let mut expected = Vec::with_capacity(originals.len());
        for m in originals {
            if let Some(t) = transform.apply(&m.subject, m.headers.as_ref(), m.payload)? {
                expected.push(SourceMessage {
                    subject: t.subject,
                    headers: t.headers,
                    payload: t.payload,
                    ..m
                });
            }
        }
        originals = expected;
    }
    let copies = read_range(target, stream, 1, target_end).await?;
    Ok(compare(stream, mode, source_end, &originals, &copies))
}

/// The comparison itself, on messages already read.
pub fn compare(
    stream: &str,
    mode: Mode,
    source_end: u64,
    originals: &[SourceMessage],
    copies: &[SourceMessage],
) -> Report {
    let mut expected: BTreeMap<u64, (&str, [u8; 32])> = BTreeMap::new();
    let mut source_subjects: HashMap<&str, u64> = HashMap::new();
    for message in originals {
        expected.insert(message.seq, (&message.subject, digest(message)));
        *source_subjects.entry(&message.subject).or_default() += 1;
    }
    let mut found: BTreeMap<u64, Vec<(&str, [u8; 32])>> = BTreeMap::new();
    let mut target_subjects: HashMap<&str, u64> = HashMap::new();
    let mut last_seen: HashMap<&str, u64> = HashMap::new();
    let mut out_of_order = 0;
    let mut differences: BTreeMap<u64, Difference> = BTreeMap::new();
    let mut target_count = 0;
    for copy in copies {
        let Some(seq) = headers::source_seq(copy.headers.as_ref().unwrap_or(&Default::default()))
        else {
            differences.entry(0).or_insert(Difference {
                source_seq: 0,
                subject: copy.subject.clone(),
                reason: format!("target #{} was not written by the migration", copy.seq),
            });
            continue;
        };
        if seq > source_end {
            continue;
        }
        target_count += 1;
        let order_key = match mode {
            Mode::Ordered => "",
            Mode::Partitioned { .. } => copy.subject.as_str(),
        };
        let previous = last_seen.insert(order_key, seq).unwrap_or(0);
        if seq <= previous {
            out_of_order += 1;
            differences.entry(seq).or_insert(Difference {
                source_seq: seq,
                subject: copy.subject.clone(),
                reason: format!(
                    "target #{} copies source #{seq} after a copy of source #{previous}",
                    copy.seq
                ),
            });
        }
        found
            .entry(seq)
            .or_default()
            .push((&copy.subject, digest(copy)));
        *target_subjects.entry(&copy.subject).or_default() += 1;
    }
    let (mut duplicates, mut missing) = (0, 0);
    for (seq, (subject, original)) in &expected {
        let reason = match found.get(seq).map(Vec::as_slice) {
            None => {
                missing += 1;
                Some("missing in the target".to_string())
            }
            Some([(_, copy)]) if copy == original => None,
            Some([_]) => Some("headers or payload differ".to_string()),
            Some(many) => {
                duplicates += many.len() as u64 - 1;
                Some(format!("copied {} times", many.len()))
            }
        };
        if let Some(reason) = reason {
            differences.entry(*seq).or_insert(Difference {
                source_seq: *seq,
                subject: subject.to_string(),
                reason,
            });
        }
    }
    for (seq, copies) in &found {
        if !expected.contains_key(seq) {
            differences.entry(*seq).or_insert(Difference {
                source_seq: *seq,
                subject: copies[0].0.to_string(),
                reason: "in the target but not in the source".to_string(),
            });
        }
    }
    let mut subject_counts_differing: Vec<(String, u64, u64)> = source_subjects
        .keys()
        .chain(target_subjects.keys())
        .filter_map(|s| {
            let (a, b) = (
                source_subjects.get(s).copied().unwrap_or(0),
                target_subjects.get(s).copied().unwrap_or(0),
            );
            (a != b).then(|| (s.to_string(), a, b))
        })
        .collect();
    subject_counts_differing.sort();
    subject_counts_differing.dedup();
    let source_ranges = range_digests(expected.iter().map(|(seq, (_, d))| (*seq, d)));
    let target_ranges = range_digests(
        found
            .iter()
            .flat_map(|(seq, copies)| copies.iter().map(move |(_, d)| (*seq, d))),
    );
    let ranges: std::collections::BTreeSet<u64> = source_ranges
        .keys()
        .chain(target_ranges.keys())
        .copied()
        .collect();
    let ranges_differing = ranges
        .iter()
        .filter(|r| source_ranges.get(r) != target_ranges.get(r))
        .count() as u64;
    let first_difference = differences.into_values().next();
    Report {
        stream: stream.to_string(),
        source_end,
        source_count: originals.len() as u64,
        target_count,
        duplicates,
        missing,
        out_of_order,
        ranges: ranges.len() as u64,
        ranges_differing,
        equal: first_difference.is_none() && subject_counts_differing.is_empty(),
        subject_counts_differing,
        first_difference,
    }
}

/// A digest per range of `RANGE` source sequences over the messages' digests in source order.
fn range_digests<'a>(
    messages: impl Iterator<Item = (u64, &'a [u8; 32])>,
) -> BTreeMap<u64, [u8; 32]> {
    let mut hashers: BTreeMap<u64, Sha256> = BTreeMap::new();
    for (seq, digest) in messages {
        let hasher = hashers.entry(seq / RANGE).or_default();
        hasher.update(seq.to_be_bytes());
        hasher.update(digest);
    }
    hashers
        .into_iter()
        .map(|(range, hasher)| (range, hasher.finalize().into()))
        .collect()
}
