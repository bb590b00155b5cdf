//! The simulated clouds' memory: an append-only JSON-lines journal. Each line is one
//! change (the full new value of an entity, or its removal); replaying the lines in order
//! rebuilds the state. Appends are O(1): one line, one flush, no rewrite.
//!
//! Every append starts on a record boundary: the journal knows where its last whole
//! record ends, and an append that failed part-way (a full disk) is cut back to it — at
//! once, or before the next append if the cut failed too. A torn last record found at
//! start (a crash mid-append) is dropped with a warning; damage before the last record
//! stays an error, since skipping it would silently change history.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use isthmus_core::{ClusterId, NetworkId, PeeringId};
use serde::{Deserialize, Serialize};

use super::state::{SimNetwork, SimNode, SimPeering};
use super::CustomerVpc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    CustomerVpc(CustomerVpc),
    Network(SimNetwork),
    NetworkDeleted {
        id: NetworkId,
    },
    Peering(SimPeering),
    PeeringDeleted {
        id: PeeringId,
    },
    Node(SimNode),
    NodesDeleted {
        cluster: ClusterId,
    },
    /// Some of a cluster's nodes went (the old ones after a move, or the new ones of a
    /// cancelled move); the others stay.
    NodeDeleted {
        cluster: ClusterId,
        index: u32,
    },
    EndpointService(super::endpoints::SimService),
    EndpointServiceDeleted {
        id: isthmus_core::EndpointServiceId,
    },
    Endpoint(super::endpoints::SimEndpoint),
    EndpointDeleted {
        endpoint_id: String,
    },
}

pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    /// Where the last whole record ends: the next append starts here.
    len: u64,
    /// A failed append may have left bytes past `len` that are not cut off yet.
    torn: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and returns it with every record
    /// written so far. A torn last record (a crash mid-append: no newline, or a last line
    /// that does not parse) is cut off with a warning so the next append starts on a
    /// clean line; a bad line before the last is an error.
    pub(crate) fn open(path: &Path) -> anyhow::Result<(Journal, Vec<Record>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("create directory {} for the sim journal", dir.display())
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open sim journal {}", path.display()))?;
        let mut bytes = Vec::new();
        (&file)
            .read_to_end(&mut bytes)
            .with_context(|| format!("read sim journal {}", path.display()))?;
        let (records, good_len) = parse(path, &bytes)?;
        if good_len < bytes.len() {
            tracing::warn!(
                journal = %path.display(),
                dropped_bytes = bytes.len() - good_len,
                at_byte = good_len,
                "dropping a torn last record of the sim journal (a crash or a full disk cut an append short)"
            );
            file.set_len(good_len as u64)
                .with_context(|| format!("truncate torn tail of sim journal {}", path.display()))?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file,
            len: good_len as u64,
            torn: false,
        };
        Ok((journal, records))
    }

    pub(crate) fn append(&mut self, record: &Record) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record).context("encode sim journal record")?;
        line.push(b'\n');
        if self.torn {
            self.cut_torn_tail()?;
        }
        let written = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("append to sim journal {}", self.path.display()));
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Part of the line may be on disk: cut it now, or before the next append.
                self.torn = true;
                let _ = self.cut_torn_tail();
                Err(e)
            }
        }
    }

    /// Cuts whatever a failed append left past the last whole record.
    fn cut_torn_tail(&mut self) -> anyhow::Result<()> {
        self.file.set_len(self.len).with_context(|| {
            format!(
                "cut a torn record off the end of sim journal {}",
                self.path.display()
            )
        })?;
        self.torn = false;
        Ok(())
    }
}

/// The records in `bytes` and the length of the part made of whole, good records. The
/// last record may be torn (no newline, or a line that does not parse): it is left out of
/// that length. A bad line with another record after it is an error.
fn parse(path: &Path, bytes: &[u8]) -> anyhow::Result<(Vec<Record>, usize)> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let Some(end) = bytes[offset..].iter().position(|b| *b == b'\n') else {
            // No newline: the append that wrote this was cut short.
            return Ok((records, offset));
        };
        let line = &bytes[offset..offset + end];
        if !line.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice(line) {
                Ok(record) => records.push(record),
                Err(_) if is_blank(&bytes[offset + end + 1..]) => {
                    // The last record, torn (its bytes cut or garbled by the crash).
                    return Ok((records, offset));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "sim journal {} has a bad record at byte {offset}, with records after it; \
                         restore the file from a backup or remove that line by hand",
                        path.display()
                    )))
                }
            }
        }
        offset += end + 1;
    }
    Ok((records, offset))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.is_ascii_whitespace() || *b == 0)
}
