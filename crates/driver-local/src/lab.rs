//! Lab VPCs: namespaces that stand in for a customer's VPC, so local peerings have a real
//! other side. A lab VPC is a router namespace with a bridge (its gateway is the first
//! address of its CIDR) and hosts, each a namespace on that bridge to run commands from.

use std::net::Ipv4Addr;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use isthmus_core::rules::gateway_address;
use isthmus_core::Cidr;

use crate::driver::LocalDriver;
use crate::topology::{self, HostSpec, RouterSpec};
use crate::{netns, nl};

/// Link-local addresses on the two ends of a link between lab VPC routers.
const LAB_LINK_A: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const LAB_LINK_B: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHostSpec {
    pub name: String,
    /// `None`: the lowest free address of the VPC (after network and gateway).
    pub ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVpcSpec {
    pub name: String,
    pub cidr: Cidr,
    pub hosts: Vec<LabHostSpec>,
    /// The lab VPC (hub) whose gateway this one sits behind: linked to it, with a default
    /// route through it, and the hub routes this CIDR back.
    pub behind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The namespace to run commands in (`ip netns exec <namespace> …`).
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVpc {
    pub name: String,
    pub cidr: Cidr,
    pub gateway: Ipv4Addr,
    pub router_namespace: String,
    pub hosts: Vec<LabHost>,
    pub behind: Option<String>,
}

/// How much of each output stream of a lab command is kept by default.
pub const MAX_EXEC_OUTPUT: usize = 16 * 1024 * 1024;
/// How long a lab command may run by default.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the pipes of a killed command are still read.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What a lab command may take: time, and output kept per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    pub timeout: Duration,
    pub max_output: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            timeout: DEFAULT_EXEC_TIMEOUT,
            max_output: MAX_EXEC_OUTPUT,
        }
    }
}

/// A lab command's outcome within its [`ExecLimits`].
#[derive(Debug)]
pub struct ExecOutput {
    pub status: std::process::ExitStatus,
    /// At most `max_output` bytes of each stream.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// A stream reached `max_output`: what came after was read and dropped.
    pub truncated: bool,
    /// The command ran past its timeout and its process group was killed.
    pub timed_out: bool,
}

/// Kills a process group with SIGKILL when told to or when dropped armed.
struct GroupKiller(Option<i32>);

impl GroupKiller {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// The leader is reaped: the id may be reused, so never signal it again.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `from` to its end, keeping at most `max` bytes in `into`; the rest is dropped,
/// and `dropped` says so.
async fn read_capped(
    mut from: impl tokio::io::AsyncRead + Unpin,
    into: &mut Vec<u8>,
    max: usize,
    dropped: &mut bool,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        let room = max.saturating_sub(into.len());
        *dropped |= n > room;
        into.extend_from_slice(&chunk[..n.min(room)]);
    }
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("{what} name '{name}' must be 1-63 characters of a-z, A-Z, 0-9, '-' and '_'");
    }
    Ok(())
}

/// Picks the host's address: the one asked for (checked), or the lowest free one.
fn assign_ip(vpc: &LabVpc, spec: &LabHostSpec) -> Result<Ipv4Addr> {
    let reserved = [vpc.cidr.network(), vpc.gateway, vpc.cidr.broadcast()];
    let taken = |ip: &Ipv4Addr| {
        reserved.contains(ip) || vpc.hosts.iter().any(|h| h.ip == *ip && h.name != spec.name)
    };
    if let Some(ip) = spec.ip {
        if !vpc.cidr.contains_addr(ip) {
            bail!(
                "host {} address {ip} is outside lab VPC {} ({})",
                spec.name,
                vpc.name,
                vpc.cidr
            );
        }
        if taken(&ip) {
            bail!(
                "host {} address {ip} is reserved or taken in lab VPC {}",
                spec.name,
                vpc.name
            );
        }
        return Ok(ip);
    }
    (vpc.cidr.start()..=vpc.cidr.end())
        .map(Ipv4Addr::from)
        .find(|ip| !taken(ip))
        .with_context(|| format!("lab VPC {} ({}) has no free address", vpc.name, vpc.cidr))
}

impl LocalDriver {
    fn lab_router(&self, vpc: &LabVpc) -> RouterSpec {
        RouterSpec {
            ns: vpc.router_namespace.clone(),
            bridge: self.names.lab_bridge(&vpc.name),
            cidr: vpc.cidr,
            gateway: vpc.gateway,
        }
    }

    fn lab_host_spec(&self, vpc: &LabVpc, host: &LabHost) -> HostSpec {
        HostSpec {
            ns: host.namespace.clone(),
            port: self.names.lab_host_port(&vpc.name, &host.name),
            ip: host.ip,
        }
    }

    /// A registered lab VPC, by name.
    pub fn lab_vpc(&self, name: &str) -> Option<LabVpc> {
        self.labs.lock().expect("lab registry").get(name).cloned()
    }

    pub fn lab_vpcs(&self) -> Vec<LabVpc> {
        let mut all: Vec<LabVpc> = self
            .labs
            .lock()
            .expect("lab registry")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn require_lab(&self, name: &str) -> Result<LabVpc> {
        self.lab_vpc(name)
            .with_context(|| format!("no lab VPC named '{name}'"))
    }

    /// Creates (or repairs, or re-registers after a restart) a lab VPC with exactly the
    /// given hosts; hosts it had that the spec no longer names are removed.
    pub async fn ensure_lab_vpc(&self, spec: &LabVpcSpec) -> Result<LabVpc> {
        check_name("lab VPC", &spec.name)?;
        let _guard = self.changes.lock().await;
        let previous = self.lab_vpc(&spec.name);
        if let Some(previous) = &previous {
            if previous.cidr != spec.cidr {
                bail!(
                    "lab VPC {} exists with CIDR {} (not {})",
                    spec.name,
                    previous.cidr,
                    spec.cidr
                );
            }
            if previous.behind != spec.behind {
                bail!(
                    "lab VPC {} exists behind {:?} (not {:?})",
                    spec.name,
                    previous.behind,
                    spec.behind
                );
            }
        }
        let mut vpc = LabVpc {
            name: spec.name.clone(),
            cidr: spec.cidr,
            gateway: gateway_address(&spec.cidr),
            router_namespace: self.names.lab_router_ns(&spec.name),
            hosts: vec![],
            behind: spec.behind.clone(),
        };
        let router = self.lab_router(&vpc);
        topology::ensure_router(&router)
            .await
            .with_context(|| format!("ensure lab VPC {}", spec.name))?;
        for host_spec in &spec.hosts {
            check_name("lab host", &host_spec.name)?;
            let ip = assign_ip(&vpc, host_spec)?;
            let host = LabHost {
                name: host_spec.name.clone(),
                ip,
                namespace: self.names.lab_host_ns(&spec.name, &host_spec.name),
            };
            topology::ensure_host(&router, &self.lab_host_spec(&vpc, &host))
                .await
                .with_context(|| format!("ensure lab host {} in {}", host.name, spec.name))?;
            vpc.hosts.push(host);
        }
        for old in previous.iter().flat_map(|p| &p.hosts) {
            if !vpc.hosts.iter().any(|h| h.name == old.name) {
                topology::delete_host(&router.ns, &self.lab_host_spec(&vpc, old)).await?;
            }
        }
        self.labs
            .lock()
            .expect("lab registry")
            .insert(vpc.name.clone(), vpc.clone());
        // Gateway links: to this VPC's hub, and from the spokes already behind it (a
        // restart may restore a spoke before its hub; the hub's turn links it then).
        let mut links: Vec<(String, String)> = vec![];
        if let Some(hub) = &vpc.behind {
            if self.lab_vpc(hub).is_some() {
                links.push((hub.clone(), vpc.name.clone()));
            }
        }
        for spoke in self.lab_vpcs() {
            if spoke.behind.as_deref() == Some(vpc.name.as_str()) {
                links.push((vpc.name.clone(), spoke.name.clone()));
            }
        }
        for (hub, spoke) in links {
            self.link_locked(&hub, &spoke)
                .await
                .with_context(|| format!("put lab VPC {spoke} behind {hub}"))?;
            self.default_route_via(&spoke, &hub).await?;
        }
        Ok(vpc)
    }

    /// The spoke's default route: through its link to the hub.
    async fn default_route_via(&self, spoke: &str, hub: &str) -> Result<()> {
        let from = self.require_lab(spoke)?;
        let (_, link) = self.names.lab_link(hub, spoke);
        netns::netlink_in_async(&from.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &link).await?;
            let default = Cidr::containing(Ipv4Addr::UNSPECIFIED, 0);
            nl::replace_route(&h, &default, Some(LAB_LINK_A), link.index).await
        })
        .await
        .with_context(|| format!("default route of lab VPC {spoke} via {hub}"))
    }

    pub async fn add_lab_host(&self, vpc_name: &str, spec: &LabHostSpec) -> Result<LabHost> {
        let vpc = self.require_lab(vpc_name)?;
        let mut next = LabVpcSpec {
            name: vpc.name.clone(),
            cidr: vpc.cidr,
            behind: vpc.behind.clone(),
            hosts: vpc
                .hosts
                .iter()
                .map(|h| LabHostSpec {
                    name: h.name.clone(),
                    ip: Some(h.ip),
                })
                .collect(),
        };
        next.hosts.retain(|h| h.name != spec.name);
        next.hosts.push(spec.clone());
        let vpc = self.ensure_lab_vpc(&next).await?;
        Ok(vpc
            .hosts
            .into_iter()
            .find(|h| h.name == spec.name)
            .expect("host just added"))
    }

    pub async fn delete_lab_host(&self, vpc_name: &str, host: &str) -> Result<()> {
        let vpc = self.require_lab(vpc_name)?;
        let next = LabVpcSpec {
            name: vpc.name.clone(),
            cidr: vpc.cidr,
            behind: vpc.behind.clone(),
            hosts: vpc
                .hosts
                .iter()
                .filter(|h| h.name != host)
                .map(|h| LabHostSpec {
                    name: h.name.clone(),
                    ip: Some(h.ip),
                })
                .collect(),
        };
        self.ensure_lab_vpc(&next).await.map(|_| ())
    }

    /// Removes a lab VPC and its hosts. Peerings to it lose their link (they observe as
    /// deleted by the peer).
    pub async fn delete_lab_vpc(&self, name: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let Some(vpc) = self.lab_vpc(name) else {
            return Ok(());
        };
        for host in &vpc.hosts {
            topology::delete_host(&vpc.router_namespace, &self.lab_host_spec(&vpc, host)).await?;
        }
        // Gateway links go first, explicitly: a deleted namespace's interfaces linger
        // until the kernel gets round to it, and the hub would route into the void.
        let mut links = vec![];
        if let Some(hub) = &vpc.behind {
            links.push((hub.clone(), vpc.name.clone()));
        }
        for spoke in self.lab_vpcs() {
            if spoke.behind.as_deref() == Some(name) {
                links.push((name.to_string(), spoke.name.clone()));
            }
        }
        for (hub, spoke) in links {
            let Some(hub_vpc) = self.lab_vpc(&hub) else {
                continue;
            };
            let (hub_end, _) = self.names.lab_link(&hub, &spoke);
            if netns::exists(&hub_vpc.router_namespace) {
                netns::netlink_in_async(&hub_vpc.router_namespace, move |h| async move {
                    if let Some(link) = nl::link(&h, &hub_end).await? {
                        nl::delete_link(&h, link.index).await?;
                    }
                    Ok(())
                })
                .await
                .with_context(|| format!("unlink lab VPC {spoke} from {hub}"))?;
            }
        }
        netns::delete_async(&vpc.router_namespace).await?;
        self.labs.lock().expect("lab registry").remove(name);
        Ok(())
    }

    /// The namespace of a lab host (`vpc` "internet": of an internet host).
    pub fn lab_host_namespace(&self, vpc: &str, host: &str) -> Result<String> {
        if vpc == isthmus_core::lab::INTERNET {
            return self.internet_host_namespace(host);
        }
        let vpc = self.require_lab(vpc)?;
        vpc.hosts
            .iter()
            .find(|h| h.name == host)
            .map(|h| h.namespace.clone())
            .with_context(|| format!("lab VPC {} has no host '{host}'", vpc.name))
    }

    /// Runs `argv` inside a lab host's namespace (`vpc` "internet": an internet host's)
    /// within the default [`ExecLimits`]: see [`lab_exec_limited`](Self::lab_exec_limited).
    pub async fn lab_exec(&self, vpc: &str, host: &str, argv: &[String]) -> Result<Output> {
        let run = self
            .lab_exec_limited(vpc, host, argv, ExecLimits::default())
            .await?;
        Ok(Output {
            status: run.status,
            stdout: run.stdout,
            stderr: run.stderr,
        })
    }

    /// Runs `argv` inside a lab host's namespace (`vpc` "internet": an internet host's):
    /// `ip netns exec <ns> argv…`, each argument passed as its own argument (no shell), in
    /// a process group of its own. At most `limits.max_output` bytes of each stream are
    /// kept (the rest is read and dropped, so memory stays bounded and the command is not
    /// stopped by a full pipe); past `limits.timeout` the whole group is killed.
    pub async fn lab_exec_limited(
        &self,
        vpc: &str,
        host: &str,
        argv: &[String],
        limits: ExecLimits,
    ) -> Result<ExecOutput> {
        let Some(program) = argv.first() else {
            bail!("nothing to run: argv is empty");
        };
        let ns = self.lab_host_namespace(vpc, host)?;
        let what = || format!("run {program} in lab host {host} of {vpc}");
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(program)
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a timeout (or a caller that goes away) kills what it started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(what)?;
        // Declared after `child`, so dropped first: the group dies while its leader is
        // not yet reaped (its id cannot have been reused).
        let mut group = GroupKiller(child.id().map(|id| id as i32));
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_cut, mut err_cut) = (false, false);
        let (finished, timed_out) = {
            let run = async {
                let (o, e) = tokio::join!(
                    read_capped(stdout, &mut out, limits.max_output, &mut out_cut),
                    read_capped(stderr, &mut err, limits.max_output, &mut err_cut),
                );
                (o, e, child.wait().await)
            };
            tokio::pin!(run);
            match tokio::time::timeout(limits.timeout, &mut run).await {
                Ok(done) => (Some(done), false),
                Err(_) => {
                    group.kill();
                    // The group is dead, so the pipes close; a process that left the group
                    // and holds them open is not waited for long.
                    let done = tokio::time::timeout(KILL_GRACE, &mut run).await.ok();
                    (done, true)
                }
            }
        };
        let status = match finished {
            Some((o, e, status)) => {
                o.with_context(what)?;
                e.with_context(what)?;
                status.with_context(what)?
            }
            None => {
                let _ = child.start_kill();
                child.wait().await.with_context(what)?
            }
        };
        group.disarm();
        Ok(ExecOutput {
            status,
            stdout: out,
            stderr: err,
            truncated: out_cut || err_cut,
            timed_out,
        })
    }

    /// Connects two lab VPC routers with a veth (the customer's own peering or VPN between
    /// their networks), with routes to each other's CIDR.
    pub async fn link_lab_vpcs(&self, a: &str, b: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        self.link_locked(a, b).await
    }

    async fn link_locked(&self, a: &str, b: &str) -> Result<()> {
        let (va, vb) = (self.require_lab(a)?, self.require_lab(b)?);
        let (link_a, link_b) = self.names.lab_link(a, b);
        let (ns_b, la, lb) = (vb.router_namespace.clone(), link_a.clone(), link_b.clone());
        let cidr_b = vb.cidr;
        netns::netlink_in_async(&va.router_namespace, move |h| async move {
            if nl::link(&h, &la).await?.is_none() {
                nl::create_veth_into(&h, &la, &lb, &ns_b).await?;
            }
            let link = nl::require_link(&h, &la).await?;
            nl::ensure_address(&h, link.index, LAB_LINK_A, 32).await?;
            nl::set_up(&h, link.index).await?;
            nl::replace_route(&h, &cidr_b, Some(LAB_LINK_B), link.index).await
        })
        .await
        .with_context(|| format!("link lab VPC {a} to {b}"))?;
        let cidr_a = va.cidr;
        netns::netlink_in_async(&vb.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &link_b).await?;
            nl::ensure_address(&h, link.index, LAB_LINK_B, 32).await?;
            nl::set_up(&h, link.index).await?;
            nl::replace_route(&h, &cidr_a, Some(LAB_LINK_A), link.index).await
        })
        .await
        .with_context(|| format!("link lab VPC {b} to {a}"))
    }

    /// Routes `destination` from lab VPC `vpc` through its link to lab VPC `via` (made by
    /// [`link_lab_vpcs`](Self::link_lab_vpcs)), as a customer routing through a hub would.
    pub async fn route_lab_vpc_via(&self, vpc: &str, destination: Cidr, via: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let from = self.require_lab(vpc)?;
        let (link, gateway) = match (self.names.lab_link(vpc, via), self.names.lab_link(via, vpc)) {
            ((a_side, _), _) if self.link_exists(&from.router_namespace, &a_side).await? => {
                (a_side, LAB_LINK_B)
            }
            (_, (_, b_side)) => (b_side, LAB_LINK_A),
        };
        netns::netlink_in_async(&from.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &link).await?;
            nl::replace_route(&h, &destination, Some(gateway), link.index).await
        })
        .await
        .with_context(|| format!("route {destination} from lab VPC {vpc} via {via}"))
    }

    async fn link_exists(&self, ns: &str, name: &str) -> Result<bool> {
        let name = name.to_string();
        netns::netlink_in_async(ns, move |h| async move {
            Ok(nl::link(&h, &name).await?.is_some())
        })
        .await
    }
}
