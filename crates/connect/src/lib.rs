//! Isthmus connectivity: the platform DNS (`dns`), the installation CA (`pki`), the
//! `probe` engine (`probe`) and how engine nodes are launched (`engines`).

pub mod dns;
pub mod engines;
pub mod pki;
pub mod probe;
