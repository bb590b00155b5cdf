//! The `migration` resource (its body and admission rules live in the core,
//! `isthmus_core::kinds::migration`) turned into the engine's spec: what the platform's
//! reconciler hands the replicator it launches inside the target cluster's network.

use std::path::PathBuf;

use isthmus_core::kinds::migration::{
    Migration, MigrationFilters, MigrationMode, SourceCredentials,
};

use crate::{Endpoint, Filters, Mode, Settings, Spec};

impl From<MigrationMode> for Mode {
    fn from(mode: MigrationMode) -> Mode {
        match mode {
            MigrationMode::Ordered => Mode::Ordered,
            MigrationMode::Partitioned { partitions } => Mode::Partitioned { partitions },
        }
    }
}

impl From<MigrationFilters> for Filters {
    fn from(f: MigrationFilters) -> Filters {
        Filters {
            include_subjects: f.include_subjects,
            exclude_subjects: f.exclude_subjects,
            exclude_headers: f.exclude_headers,
        }
    }
}

/// The source endpoint of an admitted migration; `credentials` are its write-only secret
/// (the object only says they are set), `ca_file` is where the caller wrote the source's
/// CA certificate.
pub fn source_endpoint(
    m: &Migration,
    credentials: Option<SourceCredentials>,
    ca_file: Option<PathBuf>,
) -> Endpoint {
    let (user, password, token) = match credentials {
        Some(SourceCredentials::UserPassword { user, password }) => {
            (Some(user), Some(password), None)
        }
        Some(SourceCredentials::Token { token }) => (None, None, Some(token)),
        None => (None, None, None),
    };
    Endpoint {
        urls: m.source.urls.clone(),
        ca_file,
        user,
        password,
        token,
    }
}

/// The engine's spec for an admitted migration into `target`.
pub fn engine_spec(
    m: &Migration,
    credentials: Option<SourceCredentials>,
    target: Endpoint,
    source_ca_file: Option<PathBuf>,
) -> Spec {
    Spec {
        source: source_endpoint(m, credentials, source_ca_file),
        target,
        streams: m.streams.clone(),
        mode: m.mode.into(),
        filters: m.filters.clone().into(),
        transform: m.transform.clone().unwrap_or_default(),
        carried: Default::default(),
        settings: Settings::default(),
    }
}
