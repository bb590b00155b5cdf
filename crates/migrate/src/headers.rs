//! The headers every copied message carries. The target's own messages are the checkpoint:
//! from the last one the engine knows which source message it copied last (and, in
//! partitioned mode, from which source sequence on nothing is known to be copied), so there
//! is no checkpoint file to lose.

use async_nats::header::{HeaderName, HeaderValue};
use async_nats::HeaderMap;

/// The source stream a copied message came from.
pub const SOURCE_STREAM: &str = "Isthmus-Source-Stream";
/// The sequence the copied message had in its source stream.
pub const SOURCE_SEQ: &str = "Isthmus-Source-Seq";
/// Partitioned mode: every source sequence below this one was in the target when this
/// message was published (the low-water mark all partitions had reached).
pub const RESUME_FROM: &str = "Isthmus-Resume-From";

/// Headers of the source message that must not be replayed on the target: the publisher's
/// expectations were about the source stream's state, and a source message id would make
/// the target drop a later message that reused it outside the source's window.
fn is_publisher_check(name: &str) -> bool {
    name.starts_with("Nats-Expected-") || name == "Nats-Msg-Id"
}

fn is_ours(name: &str) -> bool {
    name.starts_with("Isthmus-")
}

/// The headers to publish on the target: the source's (less the publisher checks) and our
/// position stamp.
pub fn stamp(
    original: Option<&HeaderMap>,
    stream: &str,
    seq: u64,
    resume_from: Option<u64>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(original) = original {
        for (name, values) in original.iter() {
            let name: &str = name.as_ref();
            if is_publisher_check(name) || is_ours(name) {
                continue;
            }
            for value in values {
                headers.append(name, value.as_str());
            }
        }
    }
    // Names made once (no copy per message), numbers formatted once: this runs per copy.
    const STREAM_NAME: HeaderName = HeaderName::from_static(SOURCE_STREAM);
    const SEQ_NAME: HeaderName = HeaderName::from_static(SOURCE_SEQ);
    const RESUME_NAME: HeaderName = HeaderName::from_static(RESUME_FROM);
    headers.insert(STREAM_NAME, stream);
    headers.insert(SEQ_NAME, HeaderValue::from(seq));
    if let Some(resume_from) = resume_from {
        headers.insert(RESUME_NAME, HeaderValue::from(resume_from));
    }
    headers
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.as_str().parse().ok())
}

/// The source sequence a target message was copied from.
pub fn source_seq(headers: &HeaderMap) -> Option<u64> {
    number(headers, SOURCE_SEQ)
}

/// The partitioned low-water mark a target message was published with.
pub fn resume_from(headers: &HeaderMap) -> Option<u64> {
    number(headers, RESUME_FROM)
}

/// The headers that describe the event itself (what `verify` compares): sorted, without
/// our stamp and without the publisher checks that are not copied.
pub fn event_headers(headers: Option<&HeaderMap>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = headers
        .map(|h| {
            h.iter()
                .filter(|(name, _)| {
                    let name: &str = name.as_ref();
                    !is_publisher_check(name) && !is_ours(name)
                })
                .map(|(name, values)| {
                    let name: &str = name.as_ref();
                    (
                        name.to_string(),
                        values.iter().map(|v| v.as_str().to_string()).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_the_event_headers_drops_the_publisher_checks_and_names_its_source() {
        let mut original = HeaderMap::new();
        original.insert("Trace", "abc");
        original.insert("Nats-Msg-Id", "order-7");
        original.insert("Nats-Expected-Last-Sequence", "6");
        let copy = stamp(Some(&original), "ORDERS", 7, Some(5));
        assert_eq!(source_seq(&copy), Some(7));
        assert_eq!(resume_from(&copy), Some(5));
        assert_eq!(copy.get(SOURCE_STREAM).unwrap().as_str(), "ORDERS");
        assert!(copy.get("Nats-Msg-Id").is_none());
        assert!(copy.get("Nats-Expected-Last-Sequence").is_none());
        assert_eq!(event_headers(Some(&copy)), event_headers(Some(&original)));
        assert_eq!(
            event_headers(Some(&copy)),
            vec![("Trace".to_string(), vec!["abc".to_string()])]
        );
    }
}
