//! Answering over UDP without hickory's server: a thread receives a question, answers it
//! and sends the answer — no task, no allocation and no message decoding for
//! the question nearly every query is, an A question for a published name, which is
//! answered from the A records the zone keeps prebuilt in wire format ([`Zone::write_a`]).
//! Any other message is decoded and answered with hickory's types, as its server did.
//!
//! Why (perf, 1,000 clusters under dnsperf, hickory's server): two thirds of the time
//! was the kernel, most of it waking threads — hickory hands each UDP question to a task
//! of its own and each answer back to the socket's task, so every query crossed threads
//! twice (`finish_task_switch`, `sock_def_readable`, eventfd); most of the rest was
//! allocating, decoding, cloning records and encoding. The zone's lookup was about 1%.
//! Here a question never leaves the thread that received it.

use std::io;
use std::net::UdpSocket;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::LowerName;

use super::record_set::View;
use super::zone::{Zone, ZoneAnswer};

/// How often a thread waiting for a question checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The UDP payload every client accepts (RFC 1035), and more when its EDNS says so.
const MIN_PAYLOAD: u16 = 512;
const HEADER_LEN: usize = 12;
/// QTYPE A and QCLASS IN.
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
/// The OPT pseudo-record's type (EDNS).
const TYPE_OPT: u16 = 41;

/// Threads answering on one socket: two, so a question waits for a core rather than for
/// the one thread to be done with the one before it.
const THREADS: usize = 2;

/// The threads answering on one UDP socket; they stop when this is dropped.
pub(super) struct UdpAnswerer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpAnswerer {
    pub fn start(zone: Arc<Zone>, view: View, socket: UdpSocket) -> io::Result<UdpAnswerer> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_POLL))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(THREADS);
        for _ in 0..THREADS {
            let (zone, view, flag) = (zone.clone(), view.clone(), stop.clone());
            let socket = socket.try_clone()?;
            let spawned = std::thread::Builder::new()
                .name("platform-dns-udp".into())
                .spawn(move || answer_until_stopped(&zone, &view, &socket, &flag));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    UdpAnswerer { stop, threads }.stop();
                    return Err(error);
                }
            }
        }
        Ok(UdpAnswerer { stop, threads })
    }

    /// Stops answering and waits for the threads (at most a poll interval).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for UdpAnswerer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer_until_stopped(zone: &Zone, view: &View, socket: &UdpSocket, stop: &AtomicBool) {
    let mut question = [0u8; 4096];
    let mut answer = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut question) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(error) => {
                tracing::warn!(%error, "platform DNS: receiving a question failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        answer.clear();
        // No question may take the server down: a bug answering one is no answer to it.
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            fast_answer(zone, view, &question[..len], &mut answer)
                || decoded_answer(zone, view, &question[..len], &mut answer)
        }))
        .unwrap_or_else(|_| {
            tracing::error!("answering a DNS question panicked");
            false
        });
        if answered {
            if let Err(error) = socket.send_to(&answer, peer) {
                tracing::debug!(%error, %peer, "platform DNS: sending an answer failed");
            }
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Answers `q` into `out` when it is one A/IN question for a published name, without
/// EDNS or with a plain EDNS 0 OPT record; false for anything else (nothing written).
fn fast_answer(zone: &Zone, view: &View, q: &[u8], out: &mut Vec<u8>) -> bool {
    if q.len() < HEADER_LEN {
        return false;
    }
    // QR=0, opcode QUERY; one question, nothing else but perhaps one OPT.
    let (flags, counts) = (q[2], &q[4..HEADER_LEN]);
    if flags & 0xf8 != 0 || counts[..6] != [0, 1, 0, 0, 0, 0] || counts[6] != 0 || counts[7] > 1 {
        return false;
    }
    let Some(name_end) = question_name(q) else {
        return false;
    };
    let (Some(qtype), Some(qclass)) = (u16_at(q, name_end), u16_at(q, name_end + 2)) else {
        return false;
    };
    if qtype != TYPE_A || qclass != CLASS_IN {
        return false;
    }
    let question_end = name_end + 4;
    let edns_payload = match counts[7] {
        0 if q.len() == question_end => None,
        1 => match plain_opt(&q[question_end..]) {
            Some(payload) => Some(payload.max(MIN_PAYLOAD)),
            None => return false,
        },
        _ => return false,
    };
    let limit = usize::from(edns_payload.unwrap_or(MIN_PAYLOAD));
    out.extend_from_slice(&[q[0], q[1], 0x84 | (flags & 0x01), q[3] & 0x10]);
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns_payload.is_some())]);
    out.extend_from_slice(&q[HEADER_LEN..question_end]);
    let Some(count) = zone.write_a(view, &q[HEADER_LEN..name_end], out) else {
        out.clear();
        return false;
    };
    out[6..8].copy_from_slice(&count.to_be_bytes());
    if let Some(payload) = edns_payload {
        let [hi, lo] = payload.to_be_bytes();
        out.extend_from_slice(&[0, 0, TYPE_OPT as u8, hi, lo, 0, 0, 0, 0, 0, 0]);
    }
    if out.len() > limit {
        // Left to the decoding path, which truncates as hickory did.
        out.clear();
        return false;
    }
    true
}

/// The end of the question's name: uncompressed, as questions are, and at most 255 bytes.
fn question_name(q: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*q.get(at)?);
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 || at + 1 + len > q.len() || at + 1 + len - HEADER_LEN > 255 {
            return None;
        }
        at += 1 + len;
    }
}

/// The UDP payload size of an EDNS 0 OPT record with root owner and no options that
/// ends the message; None for anything else.
fn plain_opt(rr: &[u8]) -> Option<u16> {
    match rr {
        [0, 0, 41, hi, lo, 0, 0, _, _, 0, 0] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Decodes `q` with hickory and answers it as its server did: NOTIMP for what is not a
/// query, FORMERR for a message that does not decode or does not ask one question, the
/// zone's answer otherwise, truncated to what the client accepts.
fn decoded_answer(zone: &Zone, view: &View, q: &[u8], out: &mut Vec<u8>) -> bool {
    let request = match Message::from_vec(q) {
        Ok(request) => request,
        Err(_) => {
            // Answer only what reads as a query header; never answer an answer.
            let (Some(id), Some(&flags)) = (u16_at(q, 0), q.get(2)) else {
                return false;
            };
            if flags & 0x80 != 0 {
                return false;
            }
            let reply = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return encode(&reply, MIN_PAYLOAD, out);
        }
    };
    if request.metadata.message_type != MessageType::Query {
        return false;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&request.metadata);
    let limit = match &request.edns {
        Some(asked) => {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(MIN_PAYLOAD));
            reply.set_edns(edns);
            asked.max_payload().max(MIN_PAYLOAD)
        }
        None => MIN_PAYLOAD,
    };
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
    } else if let [question] = request.queries.as_slice() {
        let name = LowerName::from(question.name().clone());
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| {
            zone.lookup_in(view, &name, question.query_type(), question.query_class())
        }))
        .unwrap_or_else(|_| {
            tracing::error!(%name, "answering a DNS question panicked");
            ZoneAnswer::server_failure()
        });
        reply.metadata.authoritative = answer.authoritative;
        reply.metadata.response_code = answer.code;
        reply.add_query(question.clone());
        reply.add_answers(answer.answers);
        reply.add_authorities(answer.soa);
    } else {
        reply.metadata.response_code = ResponseCode::FormErr;
    }
    encode(&reply, limit, out)
}

/// `reply` as bytes into `out`; truncated (TC set, records dropped) when over `limit`.
fn encode(reply: &Message, limit: u16, out: &mut Vec<u8>) -> bool {
    let Ok(mut bytes) = reply.to_vec() else {
        return false;
    };
    if bytes.len() > usize::from(limit) {
        match reply.truncate().to_vec() {
            Ok(truncated) => bytes = truncated,
            Err(_) => return false,
        }
    }
    out.extend_from_slice(&bytes);
    true
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_server::proto::op::Query;
    use hickory_server::proto::rr::{Name, RecordType};
    use isthmus_core::id::{ClusterId, Id};

    use super::*;
    use crate::dns::ClusterRecords;

    fn zone() -> (Zone, ClusterId) {
        let zone = Zone::new("isthmus.internal", Some(Ipv4Addr::new(127, 0, 0, 53))).unwrap();
        let id = ClusterId::from(Id::from_parts(1_700_000_000, [7; 8]));
        zone.upsert(&ClusterRecords {
            cluster_id: id,
            node_ips: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 1, 5)],
            public_ip: None,
        });
        (zone, id)
    }

    fn question(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 0x1234;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_str(name).unwrap(), qtype));
        if let Some(payload) = edns {
            let mut e = Edns::new();
            e.set_max_payload(payload);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    /// Header, question, answers and EDNS of an answer: what a client reads.
    fn read(bytes: &[u8]) -> (Metadata, Vec<Query>, Vec<String>, Option<u16>) {
        let m = Message::from_vec(bytes).expect("the answer decodes");
        // Names compare without case: a prebuilt answer names the question as asked.
        let answers = m
            .answers
            .iter()
            .map(|r| format!("{r}").to_lowercase())
            .collect();
        (
            m.metadata,
            m.queries.clone(),
            answers,
            m.edns.as_ref().map(Edns::max_payload),
        )
    }

    #[test]
    fn a_prebuilt_answer_reads_as_the_decoding_paths_answer() {
        let (zone, id) = zone();
        for name in [
            format!("{id}.isthmus.internal."),
            format!("{id}-1.ISTHMUS.Internal."),
            format!("{}.isthmus.internal.", id.to_string().to_uppercase()),
        ] {
            for edns in [None, Some(1232), Some(100)] {
                let q = question(&name, RecordType::A, edns);
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                assert!(fast_answer(&zone, &View::Default, &q, &mut fast), "{name}");
                assert!(decoded_answer(&zone, &View::Default, &q, &mut slow));
                let (fast, slow) = (read(&fast), read(&slow));
                assert_eq!(fast.0, slow.0, "{name} {edns:?}");
                assert_eq!(fast.1, slow.1);
                assert_eq!(fast.2, slow.2);
                assert_eq!(fast.3, slow.3);
                assert_eq!(fast.0.id, 0x1234);
                assert!(!fast.2.is_empty());
            }
        }
    }

    #[test]
    fn what_has_no_prebuilt_answer_is_left_to_the_decoding_path() {
        let (zone, id) = zone();
        for (name, qtype) in [
            ("nosuch.isthmus.internal.".to_string(), RecordType::A),
            (format!("{id}.isthmus.internal."), RecordType::AAAA),
            ("ns.isthmus.internal.".to_string(), RecordType::A),
            ("isthmus.internal.".to_string(), RecordType::A),
            (format!("{id}.other.internal."), RecordType::A),
            (format!("x.{id}.isthmus.internal."), RecordType::A),
        ] {
            let q = question(&name, qtype, None);
            let mut out = Vec::new();
            assert!(!fast_answer(&zone, &View::Default, &q, &mut out), "{name}");
            assert!(out.is_empty());
            assert!(decoded_answer(&zone, &View::Default, &q, &mut out));
        }
    }

    #[test]
    fn a_change_is_in_the_very_next_prebuilt_answer() {
        let (zone, id) = zone();
        let q = question(&format!("{id}-0.isthmus.internal."), RecordType::A, None);
        let moved = Ipv4Addr::new(10, 9, 9, 9);
        zone.upsert(&ClusterRecords {
            cluster_id: id,
            node_ips: vec![moved],
            public_ip: None,
        });
        let mut out = Vec::new();
        assert!(fast_answer(&zone, &View::Default, &q, &mut out));
        assert!(read(&out).2[0].ends_with("10.9.9.9"), "{:?}", read(&out).2);
        zone.remove(id);
        out.clear();
        assert!(!fast_answer(&zone, &View::Default, &q, &mut out));
    }
}
