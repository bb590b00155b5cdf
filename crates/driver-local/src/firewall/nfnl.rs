//! Prefix-set elements straight over nf_tables netlink, for allow-list changes.
//!
//! Why not `nft`: before any command, nft (1.0.6) dumps every set element of the namespace
//! from the kernel (to check intervals against its cache), so one added entry next to an
//! 8,000-entry list costs 50-130 ms and deleting thousands of interval elements costs
//! seconds. The kernel itself applies an 8,000-element change in milliseconds. Here the
//! caller says what to add and delete (it diffed against what it applied last), and
//! everything goes in one transaction, checked against the ruleset generation the diff
//! was based on: if anything changed the ruleset since (a hand edit, another writer), the
//! kernel refuses the whole batch ([`Outcome::Stale`]) and the caller falls back to a
//! full read.
//!
//! Elements are encoded as nft encodes an interval set's: a prefix is its start address,
//! and its end + 1 flagged as an interval end. Prefixes at either end of the address
//! space (nft marks those differently) are left to nft: [`encodable`].

use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use isthmus_core::Cidr;
use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};

use crate::names::TABLE;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_BATCH_GENID: u16 = 1;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
const NFPROTO_INET: u8 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
/// Elements per message: the batch is one datagram; messages only bound attribute sizes.
const ELEMENTS_PER_MESSAGE: usize = 1024;

/// Whether `cidr` can go through this path (nft marks the first and last prefixes of the
/// address space specially: an element at 0.0.0.0, an end past 255.255.255.255).
pub fn encodable(cidr: &Cidr) -> bool {
    cidr.start() != 0 && cidr.end() != u32::MAX
}

/// One set's change.
#[derive(Debug, Clone, Default)]
pub struct SetElements {
    pub set: String,
    pub add: Vec<Cidr>,
    pub delete: Vec<Cidr>,
    /// Empty the set first (one message, no lookups) instead of deleting `delete` one by
    /// one; `add` then holds the whole list. In the same transaction as the additions,
    /// so no packet ever sees the set empty.
    pub flush: bool,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; the ruleset is now at this generation.
    Applied(u32),
    /// The ruleset is no longer at the generation the change was based on: nothing applied.
    Stale,
}

fn open() -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .context("open an nfnetlink socket")?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).context("bind the nfnetlink socket")?;
    Ok(fd)
}

/// Appends netlink messages to a buffer.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
    seq: u32,
}

impl Writer {
    /// Starts a message; returns its offset for [`end`](Self::end).
    fn begin(&mut self, kind: u16, flags: u16, family: u8, res_id: u16) -> usize {
        let at = self.buf.len();
        self.seq += 1;
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `end`
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        self.buf.extend_from_slice(&[family, 0]); // nfgenmsg: family, version 0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len() + (4 - len % 4) % 4, 0);
    }

    fn nest_begin(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn nest_end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn element(&mut self, key: u32, end: bool) {
        let elem = self.nest_begin(NFTA_LIST_ELEM);
        let k = self.nest_begin(NFTA_SET_ELEM_KEY);
        self.attr(NFTA_DATA_VALUE, &key.to_be_bytes());
        self.nest_end(k);
        if end {
            self.attr(
                NFTA_SET_ELEM_FLAGS,
                &NFT_SET_ELEM_INTERVAL_END.to_be_bytes(),
            );
        }
        self.nest_end(elem);
    }

    /// A deletion with no element list: the kernel empties the set.
    fn flush(&mut self, set: &str) {
        let msg = self.begin(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM,
            NLM_F_REQUEST | NLM_F_ACK,
            NFPROTO_INET,
            0,
        );
        self.attr(NFTA_SET_ELEM_LIST_TABLE, &nul_terminated(TABLE));
        self.attr(NFTA_SET_ELEM_LIST_SET, &nul_terminated(set));
        self.end(msg);
    }

    fn elements(&mut self, kind: u16, flags: u16, set: &str, prefixes: &[Cidr]) {
        for chunk in prefixes.chunks(ELEMENTS_PER_MESSAGE) {
            let msg = self.begin(
                (NFNL_SUBSYS_NFTABLES << 8) | kind,
                NLM_F_REQUEST | NLM_F_ACK | flags,
                NFPROTO_INET,
                0,
            );
            self.attr(NFTA_SET_ELEM_LIST_TABLE, &nul_terminated(TABLE));
            self.attr(NFTA_SET_ELEM_LIST_SET, &nul_terminated(set));
            let list = self.nest_begin(NFTA_SET_ELEM_LIST_ELEMENTS);
            for cidr in chunk {
                self.element(cidr.start(), false);
                self.element(cidr.end() + 1, true);
            }
            self.nest_end(list);
            self.end(msg);
        }
    }
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The netlink messages in `buf`: (type, payload after the netlink header).
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
        if len < 16 || len > buf.len() {
            return None;
        }
        let payload = &buf[16..len];
        buf = &buf[(len + 3) & !3..];
        Some((kind, payload))
    })
}

/// The ruleset generation of the current thread's namespace.
pub fn generation() -> Result<u32> {
    let fd = open()?;
    let mut w = Writer::default();
    let msg = w.begin(
        (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
        NLM_F_REQUEST,
        0,
        0,
    );
    w.end(msg);
    send(fd.as_raw_fd(), &w.buf, MsgFlags::empty()).context("ask for the nftables generation")?;
    let mut buf = vec![0u8; 8192];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).context("read the generation")?;
    for (kind, payload) in messages(&buf[..n]) {
        if kind == NLMSG_ERROR {
            bail!("nftables generation: {}", errno_of(payload));
        }
        if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN {
            // nfgenmsg (4 bytes), then attributes.
            let mut attrs = payload.get(4..).unwrap_or_default();
            while attrs.len() >= 8 {
                let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & !NLA_F_NESTED;
                if kind == NFTA_GEN_ID && len == 8 {
                    return Ok(u32::from_be_bytes(attrs[4..8].try_into()?));
                }
                attrs = attrs.get((len.max(4) + 3) & !3..).unwrap_or_default();
            }
        }
    }
    bail!("the kernel sent no nftables generation")
}

fn errno_of(payload: &[u8]) -> Errno {
    let code = payload
        .get(0..4)
        .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or_default()));
    Errno::from_raw(-code)
}

/// Deletes, then adds, the given prefixes in our table's sets, in one transaction based
/// on ruleset generation `genid`.
pub fn apply(genid: u32, changes: &[SetElements]) -> Result<Outcome> {
    let mut w = Writer::default();
    let begin = w.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    w.attr(NFNL_BATCH_GENID, &genid.to_be_bytes());
    w.end(begin);
    // Deletions first: an added prefix may overlap one that goes.
    for c in changes {
        if c.flush {
            w.flush(&c.set);
        }
        w.elements(NFT_MSG_DELSETELEM, 0, &c.set, &c.delete);
    }
    for c in changes {
        w.elements(NFT_MSG_NEWSETELEM, NLM_F_CREATE, &c.set, &c.add);
    }
    let end = w.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    w.end(end);

    let fd = open()?;
    // The whole batch is one datagram: the socket must take it (root may force sizes).
    let room = (w.buf.len() + 65536).min(i32::MAX as usize);
    setsockopt(&fd, sockopt::SndBufForce, &room).context("size the nfnetlink send buffer")?;
    setsockopt(&fd, sockopt::RcvBufForce, &(1 << 20)).context("size the receive buffer")?;
    send(fd.as_raw_fd(), &w.buf, MsgFlags::empty()).context("send the nftables batch")?;
    // The kernel runs the batch while sending: its answers are queued by now.
    let mut buf = vec![0u8; 1 << 16];
    let mut failure = None;
    loop {
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(n) => n,
            Err(Errno::EAGAIN) => break,
            Err(e) => return Err(e).context("read the nftables answers"),
        };
        for (kind, payload) in messages(&buf[..n]) {
            if kind == NLMSG_ERROR {
                let errno = errno_of(payload);
                if errno != Errno::from_raw(0) && failure.is_none() {
                    failure = Some(errno);
                }
            }
        }
    }
    match failure {
        None => Ok(Outcome::Applied(generation()?)),
        Some(Errno::ERESTART) => Ok(Outcome::Stale),
        Some(errno) => bail!("nftables refused the element batch: {errno}"),
    }
}
