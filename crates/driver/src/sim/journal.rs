//! The simulated clouds' memory: an append-only JSON-lines journal. Each line is one
//! change (the full new value of an entity, or its removal); replaying the lines in order
//! rebuilds the state. Appends are O(1): one line, one flush, no rewrite.

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
    NetworkDeleted { id: NetworkId },
    Peering(SimPeering),
    PeeringDeleted { id: PeeringId },
    Node(SimNode),
    NodesDeleted { cluster: ClusterId },
}

pub(crate) struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and returns it with every record
    /// written so far. A torn last line (a crash mid-append) is cut off so the next append
    /// starts on a clean line; a bad line in the middle is an error, since skipping it
    /// would silently change history.
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
            tracing::warn!(journal = %path.display(), "cutting off a torn last line of the sim journal");
            file.set_len(good_len as u64)
                .with_context(|| format!("truncate torn tail of sim journal {}", path.display()))?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file,
        };
        Ok((journal, records))
    }

    pub(crate) fn append(&mut self, record: &Record) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record).context("encode sim journal record")?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("append to sim journal {}", self.path.display()))
    }
}

/// The records in `bytes` and the length of the part made of complete lines.
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
            let record = serde_json::from_slice(line).with_context(|| {
                format!(
                    "sim journal {} has a bad record at byte {offset}",
                    path.display()
                )
            })?;
            records.push(record);
        }
        offset += end + 1;
    }
    Ok((records, offset))
}
