//! Driver errors: one class per thing the controller does about them.

/// What went wrong at a provider, classified by what the controller should do about it.
/// The first three may clear on their own and are retried with exponential backoff; the
/// last two will not (retrying the same call gets the same answer): the controller puts the
/// resource into `error` with the reason and tries again only when its spec changes or at
/// the next resync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Worth retrying with backoff (timeouts, throttling, a busy kernel, a lost race,
    /// injected faults).
    #[error("{0}")]
    Transient(String),
    /// Something the call works on vanished or is not there (yet): retried with backoff,
    /// the next call sees the current state.
    #[error("{0}")]
    NotFound(String),
    /// Waits for something else to exist or be ready first (the network under a peering, a
    /// lab VPC's router): retried with backoff.
    #[error("{0}")]
    Dependency(String),
    /// The provider (or this host) cannot do this at all: no driver for the provider, no
    /// permission, a kernel feature that is missing. Permanent.
    #[error("{0}")]
    Unsupported(String),
    /// The provider refuses the request as asked (e.g. a CIDR the kernel will not take).
    /// Permanent until the spec changes.
    #[error("{0}")]
    Invalid(String),
}

/// The class of a [`DriverError`], without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverErrorKind {
    Transient,
    NotFound,
    Dependency,
    Unsupported,
    Invalid,
}

impl DriverErrorKind {
    /// Retrying the same call cannot succeed: only a changed spec (or a changed provider,
    /// seen at the next resync) can.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            DriverErrorKind::Unsupported | DriverErrorKind::Invalid
        )
    }

    /// The CamelCase reason a condition records for this class.
    pub fn reason(self) -> &'static str {
        match self {
            DriverErrorKind::Transient => "DriverError",
            DriverErrorKind::NotFound => "NotFound",
            DriverErrorKind::Dependency => "DependencyNotReady",
            DriverErrorKind::Unsupported => "Unsupported",
            DriverErrorKind::Invalid => "InvalidRequest",
        }
    }
}

impl DriverError {
    pub fn new(kind: DriverErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        match kind {
            DriverErrorKind::Transient => DriverError::Transient(message),
            DriverErrorKind::NotFound => DriverError::NotFound(message),
            DriverErrorKind::Dependency => DriverError::Dependency(message),
            DriverErrorKind::Unsupported => DriverError::Unsupported(message),
            DriverErrorKind::Invalid => DriverError::Invalid(message),
        }
    }

    pub fn kind(&self) -> DriverErrorKind {
        match self {
            DriverError::Transient(_) => DriverErrorKind::Transient,
            DriverError::NotFound(_) => DriverErrorKind::NotFound,
            DriverError::Dependency(_) => DriverErrorKind::Dependency,
            DriverError::Unsupported(_) => DriverErrorKind::Unsupported,
            DriverError::Invalid(_) => DriverErrorKind::Invalid,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            DriverError::Transient(m)
            | DriverError::NotFound(m)
            | DriverError::Dependency(m)
            | DriverError::Unsupported(m)
            | DriverError::Invalid(m) => m,
        }
    }

    /// See [`DriverErrorKind::is_permanent`].
    pub fn is_permanent(&self) -> bool {
        self.kind().is_permanent()
    }
}
