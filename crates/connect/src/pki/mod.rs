//! The installation CA and node certificates (TLS always: every node gets a certificate for
//! its names and IP, renewed before it expires).

mod ca;
mod cert_info;
mod files;
mod renewal;
pub mod tls;

pub use ca::{Ca, IssuedCert, NodeIdentity, CA_CERT_FILE, CA_KEY_FILE};
pub use cert_info::{cert_info, CertInfo};
pub use files::write_atomically;
pub use renewal::needs_renewal;
