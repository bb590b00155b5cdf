//! Names from lab hosts. Every lab VPC gets a resolver for the platform zone on its
//! gateway address, port 53 (UDP and TCP), bound inside the VPC's router namespace, and
//! every lab host gets `/etc/netns/<host-namespace>/resolv.conf` naming that gateway, which
//! `ip netns exec` (and so `isthmus lab exec`) mounts over `/etc/resolv.conf`. The zone is
//! the loopback server's own, so both answer the same records at the same moment.
//! The lab's internet gets one resolver, on the driver's resolver address inside the
//! internet namespace, and every internet host's resolv.conf names it: internet hosts
//! resolve `public-<id>.<zone>` like any client on the internet would.
//!
//! A loop follows the driver's lab VPCs (created, restored at start, deleted): it keeps one
//! resolver per router namespace and one resolv.conf per host, and removes what is gone.
//! The files are written on a blocking thread, and only when the hosts changed: a quiet lab
//! costs a stat per resolver per tick, not a read of every host's file.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::dns::{DnsHandle, DnsServer, View, Zone};
use isthmus_driver_local::{netns, LocalDriver};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Where `ip netns exec` looks for a namespace's own /etc files.
pub const NETNS_ETC: &str = "/etc/netns";
pub const DNS_PORT: u16 = 53;
/// How soon a new lab VPC or host can resolve names.
const SYNC_INTERVAL: Duration = Duration::from_millis(250);
/// The resolv.conf files are touched when the lab hosts change, and otherwise checked (and
/// repaired, should someone have removed one) once in this many ticks (ten seconds).
const RECHECK_TICKS: u32 = 40;

/// The loop; it stops (and its resolvers with it) on drop.
pub struct LabResolvers {
    task: JoinHandle<()>,
    sync: LabDnsSync,
}

/// Asks the loop for a pass now and waits for it: what the lab API awaits before it
/// answers, so a lab VPC or host it made resolves names the moment the call returns.
#[derive(Clone)]
pub struct LabDnsSync {
    requests: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl LabDnsSync {
    /// Returns after a full pass that began after this call (resolvers bound, every
    /// host's resolv.conf written), or after `timeout`: the lab change itself is done
    /// either way, so a slow pass delays the answer but does not fail it.
    pub async fn synced(&self, timeout: Duration) {
        let (done, wait) = oneshot::channel();
        if self.requests.send(done).is_ok() {
            let _ = tokio::time::timeout(timeout, wait).await;
        }
    }
}

impl Drop for LabResolvers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LabResolvers {
    pub fn start(local: Arc<LocalDriver>, zone: Arc<Zone>) -> LabResolvers {
        let (requests, waiting) = mpsc::unbounded_channel();
        LabResolvers {
            task: tokio::spawn(follow(local, zone, waiting)),
            sync: LabDnsSync { requests },
        }
    }

    pub fn sync(&self) -> LabDnsSync {
        self.sync.clone()
    }
}

/// A resolver in one router namespace; `ns_inode` tells a re-created namespace of the same
/// name (whose resolver must be bound anew) from the one the socket lives in.
struct Resolver {
    gateway: Ipv4Addr,
    ns_inode: u64,
    _server: DnsHandle,
}

/// Where one resolver must listen: a lab VPC's gateway in its router namespace, or the
/// internet's resolver address inside the internet namespace.
struct Target {
    /// What to name in a warning: the lab VPC, or "internet".
    label: String,
    namespace: String,
    ip: Ipv4Addr,
    /// Whose names it answers first: its lab VPC's (private endpoints), or everyone's.
    view: View,
}

/// Every resolver the driver's lab needs now, and the nameserver of each host namespace.
fn wanted(local: &LocalDriver) -> (Vec<Target>, HashMap<String, Ipv4Addr>) {
    let vpcs = local.lab_vpcs();
    let mut targets: Vec<Target> = vpcs
        .iter()
        .map(|v| Target {
            label: v.name.clone(),
            namespace: v.router_namespace.clone(),
            ip: v.gateway,
            view: View::Network(v.name.clone()),
        })
        .collect();
    let mut hosts: HashMap<String, Ipv4Addr> = vpcs
        .iter()
        .flat_map(|v| v.hosts.iter().map(|h| (h.namespace.clone(), v.gateway)))
        .collect();
    // Internet hosts route everything to the internet namespace, where the resolver
    // address sits on loopback: one resolver there serves every internet host.
    let (internet_ns, resolver) = local.internet_resolver();
    if ns_inode(&internet_ns).is_some() {
        targets.push(Target {
            label: isthmus_core::lab::INTERNET.to_string(),
            namespace: internet_ns,
            ip: resolver,
            view: View::Default,
        });
        hosts.extend(
            local
                .internet_hosts()
                .into_iter()
                .map(|h| (h.namespace, resolver)),
        );
    }
    // VPN gateways with `dns: push`: the resolver on the tunnel address, in the router.
    targets.extend(
        local
            .vpn_resolvers()
            .into_iter()
            .map(|(iface, namespace, ip)| Target {
                label: format!("VPN gateway {iface}"),
                namespace,
                ip,
                // A VPN client is on the platform side: it sees the platform's answers.
                view: View::Default,
            }),
    );
    (targets, hosts)
}

async fn follow(
    local: Arc<LocalDriver>,
    zone: Arc<Zone>,
    mut requests: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    // Callers waiting for a pass that starts after they asked.
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut resolvers: HashMap<String, Resolver> = HashMap::new();
    let mut failing: HashSet<String> = HashSet::new();
    let ours = format!("{}-", local.names().prefix());
    // The hosts the files on disk were last made to match, and ticks since then.
    let mut synced: Option<HashMap<String, Ipv4Addr>> = None;
    let mut ticks = 0;
    let mut endpoint_names = Default::default();
    loop {
        // Those who asked before this pass began are answered at its end.
        while let Ok(request) = requests.try_recv() {
            waiting.push(request);
        }
        let answering = std::mem::take(&mut waiting);
        crate::lab_dns_endpoints::sync(&zone, &mut endpoint_names, &local);
        let (targets, hosts) = wanted(&local);
        resolvers.retain(|ns, r| {
            targets
                .iter()
                .any(|t| t.namespace == *ns && t.ip == r.gateway)
                && ns_inode(ns) == Some(r.ns_inode)
        });
        for target in &targets {
            if resolvers.contains_key(&target.namespace) {
                continue;
            }
            let view = target.view.clone();
            match bind_resolver(&target.namespace, target.ip, zone.clone(), view).await {
                Ok(resolver) => {
                    failing.remove(&target.label);
                    resolvers.insert(target.namespace.clone(), resolver);
                }
                // Said once per lab VPC (or the internet), not every tick.
                Err(e) if failing.insert(target.label.clone()) => {
                    tracing::warn!(lab_vpc = %target.label, error = %format!("{e:#}"), "no resolver for the lab yet");
                }
                Err(_) => {}
            }
        }
        ticks += 1;
        // A waiter gets the files checked too (one read each), not only changed hosts.
        if synced.as_ref() != Some(&hosts) || ticks >= RECHECK_TICKS || !answering.is_empty() {
            ticks = 0;
            let (prefix, now) = (ours.clone(), hosts.clone());
            let result = tokio::task::spawn_blocking(move || {
                sync_resolv_confs(Path::new(NETNS_ETC), &prefix, &now)
            })
            .await
            .context("resolv.conf thread");
            match result.and_then(|r| r) {
                Ok(()) => synced = Some(hosts),
                Err(e) => {
                    synced = None;
                    tracing::warn!(error = %format!("{e:#}"), "could not update lab hosts' resolv.conf");
                }
            }
        }
        for done in answering {
            let _ = done.send(());
        }
        tokio::select! {
            _ = tokio::time::sleep(SYNC_INTERVAL) => {}
            Some(request) = requests.recv() => waiting.push(request),
        }
    }
}

fn ns_inode(ns: &str) -> Option<u64> {
    std::fs::metadata(netns::path(ns)).ok().map(|m| m.ino())
}

async fn bind_resolver(
    ns: &str,
    gateway: Ipv4Addr,
    zone: Arc<Zone>,
    view: View,
) -> anyhow::Result<Resolver> {
    let ns_inode = ns_inode(ns).with_context(|| format!("namespace {ns} does not exist"))?;
    let addr = SocketAddr::from((gateway, DNS_PORT));
    let (udp, tcp) = netns::run_in_async(Some(ns), move || {
        let udp = std::net::UdpSocket::bind(addr).with_context(|| format!("bind UDP {addr}"))?;
        let tcp = std::net::TcpListener::bind(addr).with_context(|| format!("bind TCP {addr}"))?;
        Ok((udp, tcp))
    })
    .await
    .with_context(|| format!("resolver in {ns}"))?;
    let server = DnsServer::serve_zone_in(zone, view, udp, tcp)?;
    tracing::info!(namespace = %ns, %addr, "lab resolver listening");
    Ok(Resolver {
        gateway,
        ns_inode,
        _server: server,
    })
}

/// How a resolv.conf that a lab host's own resolvconf wrote begins (the lab's stand-in
/// for openresolv, `scripts/lab-resolvconf/resolvconf`, marks it so).
pub const RESOLVCONF_MARK: &str = "# written by resolvconf";

fn resolv_conf(gateway: Ipv4Addr) -> String {
    format!("# written by isthmus: the platform DNS, as seen from this lab host\nnameserver {gateway}\n")
}

/// Writes `<etc>/<ns>/resolv.conf` for every host in `hosts` (namespace → gateway) and
/// removes the directories of namespaces under `prefix` that are no longer lab hosts.
fn sync_resolv_confs(
    etc: &Path,
    prefix: &str,
    hosts: &HashMap<String, Ipv4Addr>,
) -> anyhow::Result<()> {
    for (ns, gateway) in hosts {
        let dir = etc.join(ns);
        let file = dir.join("resolv.conf");
        let text = resolv_conf(*gateway);
        match std::fs::read_to_string(&file) {
            Ok(t) if t == text => continue,
            // The host's own resolvconf wrote it (wg-quick's `DNS =` on a laptop): the
            // host's choice, kept until that resolvconf gives it back (empties it).
            Ok(t) if t.starts_with(RESOLVCONF_MARK) => continue,
            _ => {}
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        isthmus_connect::pki::write_atomically(&file, text.as_bytes(), 0o644)
            .with_context(|| format!("write {}", file.display()))?;
    }
    let entries = match std::fs::read_dir(etc) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("list {}", etc.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(prefix) && !hosts.contains_key(&name) {
            remove_host_dir(&entry.path())?;
        }
    }
    Ok(())
}

fn remove_host_dir(dir: &PathBuf) -> anyhow::Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lab_host_gets_its_vpc_gateway_as_nameserver_and_departed_hosts_lose_theirs() {
        let etc = tempfile::tempdir().unwrap();
        let hosts = HashMap::from([
            ("isthx-lh-a".to_string(), Ipv4Addr::new(172, 16, 0, 1)),
            ("isthx-lh-b".to_string(), Ipv4Addr::new(10, 60, 0, 1)),
        ]);
        std::fs::create_dir_all(etc.path().join("someone-else")).unwrap();
        sync_resolv_confs(etc.path(), "isthx-", &hosts).unwrap();
        let read = |ns: &str| std::fs::read_to_string(etc.path().join(ns).join("resolv.conf"));
        assert!(read("isthx-lh-a")
            .unwrap()
            .contains("\nnameserver 172.16.0.1\n"));
        assert!(read("isthx-lh-b")
            .unwrap()
            .contains("\nnameserver 10.60.0.1\n"));

        let fewer = HashMap::from([("isthx-lh-b".to_string(), Ipv4Addr::new(10, 60, 0, 1))]);
        sync_resolv_confs(etc.path(), "isthx-", &fewer).unwrap();
        assert!(!etc.path().join("isthx-lh-a").exists());
        assert!(read("isthx-lh-b").is_ok());
        assert!(
            etc.path().join("someone-else").exists(),
            "directories outside the prefix are not ours"
        );
    }
}
