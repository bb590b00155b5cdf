//! How the local driver's failures are classified for the controller (see
//! [`isthmus_driver::DriverError`]): by the errno the kernel (netlink, nftables, a system
//! call) answered, or by an explicit [`DriverError`] a step put into the chain (a missing
//! dependency). What a retry can fix is retried with backoff; what it cannot (no
//! permission, a missing kernel feature, a request the kernel refuses) is reported once.

use isthmus_driver::{DriverError, DriverErrorKind};
use nix::errno::Errno;

/// The class of a kernel error number. Anything not listed is taken as transient: an
/// unknown failure keeps being retried (with backoff) rather than parked.
pub fn errno_kind(errno: Errno) -> DriverErrorKind {
    use DriverErrorKind::*;
    match errno {
        // Not there (any more): the next ensure looks again and recreates it.
        Errno::ENOENT | Errno::ENODEV | Errno::ENXIO | Errno::ESRCH => NotFound,
        // Waits for a link or route that is not up yet.
        Errno::ENETDOWN | Errno::ENETUNREACH | Errno::EHOSTUNREACH => Dependency,
        // This host does not let us, or its kernel lacks the feature: no retry helps.
        Errno::EPERM
        | Errno::EACCES
        | Errno::EROFS
        | Errno::EOPNOTSUPP
        | Errno::EPROTONOSUPPORT
        | Errno::EAFNOSUPPORT
        | Errno::EPFNOSUPPORT
        | Errno::ESOCKTNOSUPPORT
        | Errno::ENOSYS => Unsupported,
        // The kernel refuses the request as asked (an address or prefix it will not take,
        // a value out of range): the same request gets the same answer.
        Errno::EINVAL
        | Errno::ERANGE
        | Errno::EADDRNOTAVAIL
        | Errno::E2BIG
        | Errno::EMSGSIZE
        | Errno::ENAMETOOLONG
        | Errno::EDOM => Invalid,
        // EEXIST: a race between looking and creating (ensure looks first), so the next
        // attempt sees the object. EBUSY, EAGAIN, ENOBUFS, ENOMEM, EINTR, ETIMEDOUT, ENOSPC
        // and the rest: the kernel may say yes in a moment.
        _ => Transient,
    }
}

/// glibc's `strerror` texts of the errnos nft prints in its messages
/// ("Error: Could not process rule: No such file or directory"), longest first where one
/// text starts another.
const STRERROR: &[(&str, Errno)] = &[
    ("No such file or directory", Errno::ENOENT),
    ("No such device or address", Errno::ENXIO),
    ("No such device", Errno::ENODEV),
    ("No such process", Errno::ESRCH),
    ("File exists", Errno::EEXIST),
    ("Operation not permitted", Errno::EPERM),
    ("Permission denied", Errno::EACCES),
    ("Read-only file system", Errno::EROFS),
    ("Operation not supported", Errno::EOPNOTSUPP),
    ("Protocol not supported", Errno::EPROTONOSUPPORT),
    ("Address family not supported", Errno::EAFNOSUPPORT),
    ("Function not implemented", Errno::ENOSYS),
    ("Invalid argument", Errno::EINVAL),
    ("Numerical result out of range", Errno::ERANGE),
    ("Argument list too long", Errno::E2BIG),
    ("Message too long", Errno::EMSGSIZE),
    ("Cannot assign requested address", Errno::EADDRNOTAVAIL),
    ("Network is unreachable", Errno::ENETUNREACH),
    ("Device or resource busy", Errno::EBUSY),
    ("Resource temporarily unavailable", Errno::EAGAIN),
    ("Cannot allocate memory", Errno::ENOMEM),
    ("No buffer space available", Errno::ENOBUFS),
    ("No space left on device", Errno::ENOSPC),
    ("Interrupted system call", Errno::EINTR),
];

/// The errno an nft error message names, if any.
fn nft_errno(stderr: &str) -> Option<Errno> {
    STRERROR
        .iter()
        .find(|(text, _)| stderr.contains(text))
        .map(|(_, errno)| *errno)
}

/// The line of nft's stderr that says what went wrong (it echoes the input after it).
fn nft_reason(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Error:"))
        .or_else(|| stderr.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("no message");
    let mut line = line.to_string();
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// An nft failure as a classified error, with what nft said (the crate's own message
/// leaves stderr out).
pub(crate) fn nft_error(e: nftables::helper::NftablesError) -> anyhow::Error {
    use nftables::helper::NftablesError as E;
    let err = match &e {
        E::NftExecution { program, inner } => {
            let kind = match inner.kind() {
                // No `nft` on this host: nothing to retry until it is installed.
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    DriverErrorKind::Unsupported
                }
                _ => DriverErrorKind::Transient,
            };
            DriverError::new(kind, format!("cannot run {program:?}: {inner}"))
        }
        E::NftFailed { stderr, .. } => {
            let kind = match nft_errno(stderr) {
                Some(errno) => errno_kind(errno),
                // nft could not parse what we sent: the same batch fails the same way.
                None if stderr.contains("syntax error") || stderr.contains("Invalid JSON") => {
                    DriverErrorKind::Invalid
                }
                None => DriverErrorKind::Transient,
            };
            DriverError::new(kind, format!("{e}: {}", nft_reason(stderr)))
        }
        _ => DriverError::Transient(e.to_string()),
    };
    anyhow::Error::new(err)
}

/// A step that cannot go on before something else exists (retried with backoff).
pub(crate) fn dependency(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(DriverError::Dependency(message.into()))
}

/// The class of a failure: the first cause in its chain that carries one.
pub fn classify(e: &anyhow::Error) -> DriverErrorKind {
    for cause in e.chain() {
        if let Some(d) = cause.downcast_ref::<DriverError>() {
            return d.kind();
        }
        if let Some(errno) = cause.downcast_ref::<Errno>() {
            return errno_kind(*errno);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return errno_kind(Errno::from_raw(code));
            }
        }
        if let Some(rtnetlink::Error::NetlinkError(msg)) = cause.downcast_ref::<rtnetlink::Error>()
        {
            if let Some(code) = msg.code {
                // Netlink answers with the negated errno.
                return errno_kind(Errno::from_raw(code.get().abs()));
            }
        }
    }
    DriverErrorKind::Transient
}

/// A failure of a driver call, classified, its message the whole context chain (which
/// reads like a path to the cause).
pub(crate) fn driver_error(e: anyhow::Error) -> DriverError {
    DriverError::new(classify(&e), format!("{e:#}"))
}

/// The class of several failures together (a teardown that tried every part): retryable
/// if any part is, since a retry then makes progress; otherwise the first one's.
pub(crate) fn combined_kind(kinds: &[DriverErrorKind]) -> DriverErrorKind {
    kinds
        .iter()
        .copied()
        .find(|k| !k.is_permanent())
        .or_else(|| kinds.first().copied())
        .unwrap_or(DriverErrorKind::Transient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use std::num::NonZeroI32;
    use DriverErrorKind::*;

    #[test]
    fn errnos_are_classified_by_what_a_retry_can_do() {
        for (errno, kind) in [
            (Errno::EEXIST, Transient),
            (Errno::EBUSY, Transient),
            (Errno::EAGAIN, Transient),
            (Errno::ENOBUFS, Transient),
            (Errno::ETIMEDOUT, Transient),
            (Errno::ENOENT, NotFound),
            (Errno::ENODEV, NotFound),
            (Errno::ESRCH, NotFound),
            (Errno::ENETUNREACH, Dependency),
            (Errno::EPERM, Unsupported),
            (Errno::EACCES, Unsupported),
            (Errno::EOPNOTSUPP, Unsupported),
            (Errno::EAFNOSUPPORT, Unsupported),
            (Errno::EINVAL, Invalid),
            (Errno::ERANGE, Invalid),
            (Errno::EADDRNOTAVAIL, Invalid),
        ] {
            assert_eq!(errno_kind(errno), kind, "{errno}");
        }
        assert!(errno_kind(Errno::EINVAL).is_permanent());
        assert!(errno_kind(Errno::EPERM).is_permanent());
        assert!(!errno_kind(Errno::EEXIST).is_permanent());
        assert!(!errno_kind(Errno::ENOENT).is_permanent());
    }

    /// A netlink NACK as rtnetlink returns it: the negated errno.
    fn netlink_nack(errno: Errno) -> rtnetlink::Error {
        let mut msg = rtnetlink::packet_core::ErrorMessage::default();
        msg.code = NonZeroI32::new(-(errno as i32));
        rtnetlink::Error::NetlinkError(msg)
    }

    #[test]
    fn netlink_answers_are_classified_through_the_context_chain() {
        let refused: anyhow::Result<()> = Err(netlink_nack(Errno::EINVAL).into());
        let e = refused
            .context("add address 10.20.0.1/33 to link 4")
            .context("ensure network n-1")
            .unwrap_err();
        let d = driver_error(e);
        assert_eq!(d.kind(), Invalid);
        assert!(
            d.message().starts_with("ensure network n-1: add address"),
            "{d}"
        );

        for (errno, kind) in [
            (Errno::EEXIST, Transient),
            (Errno::ENOENT, NotFound),
            (Errno::EPERM, Unsupported),
        ] {
            let e = anyhow::Error::new(netlink_nack(errno)).context("create bridge br0");
            assert_eq!(classify(&e), kind, "{errno}");
        }
    }

    #[test]
    fn system_call_and_io_errors_are_classified_by_their_errno() {
        let e = anyhow::Error::new(Errno::EPERM).context("unshare(CLONE_NEWNET)");
        assert_eq!(classify(&e), Unsupported);
        let io = std::io::Error::from_raw_os_error(Errno::ENOENT as i32);
        let e = anyhow::Error::new(io).context("open network namespace x");
        assert_eq!(classify(&e), NotFound);
        // A plain message with no errno behind it: retried.
        assert_eq!(classify(&anyhow::anyhow!("something odd")), Transient);
    }

    #[test]
    fn an_explicit_class_in_the_chain_wins() {
        let e = dependency("lab VPC a has no router namespace").context("ensure peering p");
        let d = driver_error(e);
        assert_eq!(d.kind(), Dependency);
        assert_eq!(
            d.message(),
            "ensure peering p: lab VPC a has no router namespace"
        );
    }

    #[test]
    fn nft_failures_are_classified_by_the_errno_nft_prints() {
        let failed = |stderr: &str| nftables::helper::NftablesError::NftFailed {
            program: "nft".into(),
            hint: "applying ruleset".into(),
            stdout: String::new(),
            stderr: stderr.into(),
        };
        for (stderr, kind) in [
            (
                "Error: Could not process rule: No such file or directory\n{\"nftables\": []}\n^^^",
                NotFound,
            ),
            (
                "Error: Could not process rule: Operation not permitted",
                Unsupported,
            ),
            ("Error: Could not process rule: File exists", Transient),
            ("Error: Could not process rule: Invalid argument", Invalid),
            (
                "Error: Could not process rule: Device or resource busy",
                Transient,
            ),
            ("Error: syntax error, unexpected junk", Invalid),
            ("something nobody expected", Transient),
        ] {
            let e = nft_error(failed(stderr)).context("apply nftables batch");
            assert_eq!(classify(&e), kind, "{stderr}");
            let first = stderr.lines().next().unwrap();
            assert!(format!("{e:#}").contains(first), "{e:#}");
        }
        let missing = nftables::helper::NftablesError::NftExecution {
            program: "nft".into(),
            inner: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(classify(&nft_error(missing)), Unsupported);
    }

    #[test]
    fn a_teardown_is_retryable_while_any_part_is() {
        assert_eq!(combined_kind(&[Invalid, NotFound]), NotFound);
        assert_eq!(combined_kind(&[Unsupported, Invalid]), Unsupported);
        assert_eq!(combined_kind(&[]), Transient);
    }
}
