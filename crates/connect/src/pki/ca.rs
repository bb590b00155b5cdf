//! The installation CA: created on first start, loaded afterwards, issues node certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use super::files::{write_atomically, CERT_MODE, KEY_MODE};

pub const CA_KEY_FILE: &str = "ca.key";
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA outlives any installation we expect; node certificates are the ones that rotate.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Tolerates clocks that run a little behind the CA's.
const BACKDATE: Duration = Duration::from_secs(300);

/// The names and address a node certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// `<cluster-id>-<n>.<zone>`; also the certificate's common name.
    pub node_dns: String,
    /// `<cluster-id>.<zone>`.
    pub cluster_dns: String,
    /// `public-<cluster-id>.<zone>`, when the cluster has (or may get) a public endpoint.
    pub public_dns: Option<String>,
    pub ip: IpAddr,
}

#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: DateTime<Utc>,
}

pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Loads the CA from `dir`, creating it (and `dir`) on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Ca> {
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        match (key_path.exists(), cert_path.exists()) {
            (true, true) => Self::load(dir, &key_path, &cert_path),
            (false, false) => Self::create(dir, &key_path, &cert_path),
            // Never silently replace half a CA: every certificate it issued would stop verifying.
            _ => anyhow::bail!(
                "{} holds only one of {CA_KEY_FILE} and {CA_CERT_FILE}; restore the other or remove both",
                dir.display()
            ),
        }
    }

    /// Loads the CA from `dir`, which must hold it: an installation that lost its CA must
    /// not get a new one, since no certificate it issued would chain to it.
    pub fn load_existing(dir: &Path) -> anyhow::Result<Ca> {
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        let missing: Vec<String> = [&key_path, &cert_path]
            .into_iter()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            anyhow::bail!("the installation CA is missing: {}", missing.join(", "));
        }
        Self::load(dir, &key_path, &cert_path)
    }

    fn load(dir: &Path, key_path: &Path, cert_path: &Path) -> anyhow::Result<Ca> {
        let key_pem = std::fs::read_to_string(key_path)
            .with_context(|| format!("read CA key {}", key_path.display()))?;
        let cert_pem = std::fs::read_to_string(cert_path)
            .with_context(|| format!("read CA certificate {}", cert_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("parse CA key {}", key_path.display()))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .with_context(|| format!("parse CA certificate {}", cert_path.display()))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem,
            issuer,
        })
    }

    fn create(dir: &Path, key_path: &Path, cert_path: &Path) -> anyhow::Result<Ca> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create CA directory {}", dir.display()))?;
        let key = KeyPair::generate().context("generate CA key")?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Isthmus");
        name.push(DnType::CommonName, "Isthmus installation CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_LIFETIME;
        let cert = params
            .self_signed(&key)
            .context("self-sign CA certificate")?;
        // Key first: a crash in between leaves only a key, which load_or_create reports.
        write_atomically(key_path, key.serialize_pem().as_bytes(), KEY_MODE)
            .context("store CA key")?;
        write_atomically(cert_path, cert.pem().as_bytes(), CERT_MODE)
            .context("store CA certificate")?;
        tracing::info!(dir = %dir.display(), "created the installation CA");
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate clients download to verify nodes.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// A fresh key and a certificate for the node's names and IP, valid for `lifetime`.
    pub fn issue_node_cert(
        &self,
        node: &NodeIdentity,
        lifetime: Duration,
    ) -> anyhow::Result<IssuedCert> {
        let context = || format!("issue certificate for {}", node.node_dns);
        let mut dns_names = vec![node.node_dns.clone(), node.cluster_dns.clone()];
        dns_names.extend(node.public_dns.clone());
        let mut params = CertificateParams::new(dns_names).with_context(context)?;
        params.subject_alt_names.push(SanType::IpAddress(node.ip));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, node.node_dns.clone());
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // Client auth too: cluster members (e.g. NATS routes) authenticate to each other.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        // Whole seconds: that is what X.509 stores, so not_after here equals the file's.
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is valid");
        params.not_before = now - BACKDATE.min(lifetime);
        params.not_after = now + lifetime;
        let key = KeyPair::generate().with_context(context)?;
        let cert = params.signed_by(&key, &self.issuer).with_context(context)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: DateTime::from_timestamp(params.not_after.unix_timestamp(), 0)
                .context("certificate expiry out of range")?,
        })
    }
}

impl IssuedCert {
    /// Replaces the node's certificate and key files (key with mode 0600). The key is written
    /// first so a reader that sees the new certificate also finds its key.
    pub fn write_to(&self, cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
        write_atomically(key_path, self.key_pem.as_bytes(), KEY_MODE)
            .with_context(|| format!("store node key {}", key_path.display()))?;
        write_atomically(cert_path, self.cert_pem.as_bytes(), CERT_MODE)
            .with_context(|| format!("store node certificate {}", cert_path.display()))
    }
}
