//! Gateways' private keys on this host. A gateway's key must outlive its process (a
//! killed wireguard-go is started again with the same key, or every client's config
//! would name a key nobody holds) and the server (a restart finds the key again), and it
//! never enters the store or the API. So it is a file per interface, readable by root
//! only, under `/var/lib/isthmus/<prefix>/vpn/` (the driver's prefix keeps test runs
//! apart). A key a running process holds wins over the file: it is what clients use.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result};
use isthmus_core::wg_key::WgKey;

/// Where the keys of the driver with prefix `prefix` live.
pub fn dir(prefix: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/isthmus/{prefix}/vpn"))
}

fn path(prefix: &str, iface: &str) -> PathBuf {
    dir(prefix).join(format!("{iface}.key"))
}

/// The private key of gateway interface `iface`: the running process's, else the
/// file's, else a new one (written before it is used). Blocking.
pub fn load_or_create(prefix: &str, iface: &str) -> Result<WgKey> {
    let file = path(prefix, iface);
    if super::daemon::running_pid(iface).is_some() {
        if let Some(key) = super::uapi::private_key(iface)? {
            if fs::read_to_string(&file).ok().as_deref().map(str::trim) != Some(&key.to_string()) {
                write(&file, &key)?;
            }
            return Ok(key);
        }
    }
    if let Ok(text) = fs::read_to_string(&file) {
        return text
            .trim()
            .parse()
            .with_context(|| format!("read the gateway key {}", file.display()));
    }
    let key = isthmus_driver::wg_keys::generate().private;
    write(&file, &key)?;
    Ok(key)
}

fn write(file: &std::path::Path, key: &WgKey) -> Result<()> {
    let parent = file.parent().expect("a key file has a directory");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .with_context(|| format!("create {}", parent.display()))?;
    let tmp = file.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.write_all(format!("{key}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, file).with_context(|| format!("write {}", file.display()))
}

/// Forgets the key of `iface` (its gateway is deleted). Idempotent.
pub fn remove(prefix: &str, iface: &str) -> Result<()> {
    match fs::remove_file(path(prefix, iface)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("remove a gateway key")
        }
        _ => Ok(()),
    }
}

/// The interfaces whose keys are on file (for the sweep).
pub fn on_file(prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir(prefix)) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".key").map(str::to_string)
        })
        .collect()
}
