//! wireguard-go's configuration socket (`/var/run/wireguard/<iface>.sock`) and its
//! documented text protocol: `set=1` or `get=1`, then `key=value` lines, then an empty
//! line; the answer ends with `errno=N` and an empty line. Keys travel in hex.
//!
//! Every change here is a `set=1` naming the peers it touches: a peer line without
//! `replace_peers` leaves every other peer (and its session) as it is.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use isthmus_core::wg_key::WgKey;
use isthmus_core::Cidr;

/// Where wireguard-go puts the socket of interface `iface`. The directory is shared by
/// every namespace (it is a file path): interface names must be unique on the host.
pub fn socket_path(iface: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{iface}.sock"))
}

/// A peer as the gateway configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: WgKey,
    /// Exactly what this peer may send from (the client's /32 on a gateway): WireGuard
    /// drops any packet of this peer whose source is outside it (cryptokey routing).
    pub allowed_ips: Vec<Cidr>,
    /// Where the peer was last seen: given after a restart, the gateway can start the
    /// handshake itself instead of waiting for the peer to notice.
    pub endpoint: Option<SocketAddr>,
    /// Seconds between keepalives (0: none).
    pub persistent_keepalive: u16,
}

/// What `get=1` reports of a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerState {
    pub public_key: Option<WgKey>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds since the epoch of the last completed handshake (0: never).
    pub last_handshake_sec: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub allowed_ips: Vec<Cidr>,
}

/// What `get=1` reports of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceState {
    pub public_key_of_private: Option<WgKey>,
    pub listen_port: u16,
    pub peers: Vec<PeerState>,
}

/// One request on a fresh connection (wireguard-go serves each connection in turn).
fn request(iface: &str, body: &str) -> Result<Vec<String>> {
    let path = socket_path(iface);
    let mut stream = UnixStream::connect(&path)
        .with_context(|| format!("connect to WireGuard socket {}", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream
        .write_all(body.as_bytes())
        .with_context(|| format!("write to {}", path.display()))?;
    let mut lines = vec![];
    for line in BufReader::new(stream).lines() {
        let line = line.with_context(|| format!("read from {}", path.display()))?;
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    match lines.last().and_then(|l| l.strip_prefix("errno=")) {
        Some("0") => Ok(lines),
        Some(errno) => bail!("WireGuard interface {iface} refused the request: errno={errno}"),
        None => bail!("WireGuard interface {iface} gave no answer"),
    }
}

/// Sets the device's own key and port (the peers stay).
pub fn set_device(iface: &str, private_key: &WgKey, listen_port: u16) -> Result<()> {
    let body = format!(
        "set=1\nprivate_key={}\nlisten_port={listen_port}\n\n",
        private_key.to_hex()
    );
    request(iface, &body).map(|_| ())
}

/// Adds a peer or updates it in place: its allowed addresses are replaced (only its own),
/// its session and counters stay.
pub fn set_peer(iface: &str, peer: &PeerConfig) -> Result<()> {
    let mut body = format!(
        "set=1\npublic_key={}\nreplace_allowed_ips=true\n",
        peer.public_key.to_hex()
    );
    for cidr in &peer.allowed_ips {
        body.push_str(&format!("allowed_ip={cidr}\n"));
    }
    if let Some(endpoint) = peer.endpoint {
        body.push_str(&format!("endpoint={endpoint}\n"));
    }
    // After the endpoint: wireguard-go sends the first keepalive (and so starts a
    // handshake) as soon as the interval is set on a peer it can reach.
    body.push_str(&format!(
        "persistent_keepalive_interval={}\n\n",
        peer.persistent_keepalive
    ));
    request(iface, &body)
        .map(|_| ())
        .with_context(|| format!("configure peer {}", peer.public_key))
}

/// Removes one peer (its session ends; the others are untouched). Removing a peer that is
/// not there is a no-op.
pub fn remove_peer(iface: &str, public_key: &WgKey) -> Result<()> {
    let body = format!("set=1\npublic_key={}\nremove=true\n\n", public_key.to_hex());
    request(iface, &body)
        .map(|_| ())
        .with_context(|| format!("remove peer {public_key}"))
}

/// The device and its peers, as `wg show` would print them.
pub fn get(iface: &str) -> Result<DeviceState> {
    parse(&request(iface, "get=1\n\n")?)
}

/// The device's private key, if it has one (a gateway restarted by the server reads it
/// back instead of making a new one).
pub fn private_key(iface: &str) -> Result<Option<WgKey>> {
    for line in request(iface, "get=1\n\n")? {
        if let Some(hex) = line.strip_prefix("private_key=") {
            return Ok(Some(WgKey::from_hex(hex).context("private_key")?));
        }
    }
    Ok(None)
}

fn parse(lines: &[String]) -> Result<DeviceState> {
    let mut device = DeviceState::default();
    for line in lines {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("malformed UAPI line {line:?}"))?;
        let peer = device.peers.last_mut();
        match (key, peer) {
            ("private_key", _) => {
                let private = WgKey::from_hex(value).context("private_key")?;
                device.public_key_of_private = Some(isthmus_driver::wg_keys::public_of(&private));
            }
            ("listen_port", _) => device.listen_port = value.parse().context("listen_port")?,
            ("public_key", _) => device.peers.push(PeerState {
                public_key: Some(WgKey::from_hex(value).context("public_key")?),
                ..PeerState::default()
            }),
            ("endpoint", Some(peer)) => peer.endpoint = value.parse().ok(),
            ("last_handshake_time_sec", Some(peer)) => {
                peer.last_handshake_sec = value.parse().context("last_handshake_time_sec")?
            }
            ("rx_bytes", Some(peer)) => peer.rx_bytes = value.parse().context("rx_bytes")?,
            ("tx_bytes", Some(peer)) => peer.tx_bytes = value.parse().context("tx_bytes")?,
            ("allowed_ip", Some(peer)) => {
                if let Ok(cidr) = value.parse() {
                    peer.allowed_ips.push(cidr);
                }
            }
            // errno, fwmark, protocol_version, keepalive, handshake nanoseconds.
            _ => {}
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_answer_reads_as_the_device_and_its_peers() {
        let key = WgKey::from_bytes([7; 32]);
        let lines: Vec<String> = [
            "private_key=0101010101010101010101010101010101010101010101010101010101010101",
            "listen_port=51820",
            &format!("public_key={}", key.to_hex()),
            "endpoint=198.18.0.9:40000",
            "last_handshake_time_sec=1700000000",
            "last_handshake_time_nsec=5",
            "tx_bytes=92",
            "rx_bytes=148",
            "persistent_keepalive_interval=0",
            "allowed_ip=100.64.0.2/32",
            "errno=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let device = parse(&lines).unwrap();
        assert_eq!(device.listen_port, 51820);
        assert_eq!(device.peers.len(), 1);
        let peer = &device.peers[0];
        assert_eq!(peer.public_key, Some(key));
        assert_eq!(peer.endpoint, Some("198.18.0.9:40000".parse().unwrap()));
        assert_eq!(peer.last_handshake_sec, 1_700_000_000);
        assert_eq!((peer.rx_bytes, peer.tx_bytes), (148, 92));
        assert_eq!(peer.allowed_ips, vec!["100.64.0.2/32".parse().unwrap()]);
    }
}
