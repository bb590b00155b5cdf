//! An endpoint service's own machine: provisioning → available (published at the
//! provider), `error` retried by the controller, deleting → deleted. Its connections have
//! their own (see [`super::endpoint_connection::ConnectionStatus`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::object::{Settled, StatusMachine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointServiceStatus {
    Provisioning,
    Available,
    Error,
    Deleting,
    Deleted,
}

impl StatusMachine for EndpointServiceStatus {
    const KIND: &'static str = "endpoint_service";
    const ERROR: Self = EndpointServiceStatus::Error;
    const DELETING: Self = EndpointServiceStatus::Deleting;
    const DELETED: Self = EndpointServiceStatus::Deleted;

    fn all() -> &'static [Self] {
        use EndpointServiceStatus::*;
        &[Provisioning, Available, Error, Deleting, Deleted]
    }

    fn as_str(&self) -> &'static str {
        use EndpointServiceStatus::*;
        match self {
            Provisioning => "provisioning",
            Available => "available",
            Error => "error",
            Deleting => "deleting",
            Deleted => "deleted",
        }
    }

    fn allowed_next(self) -> &'static [Self] {
        use EndpointServiceStatus::*;
        match self {
            Provisioning => &[Available, Error, Deleting],
            Available => &[Provisioning, Error, Deleting],
            Error => &[Provisioning, Available, Deleting],
            Deleting => &[Deleted],
            Deleted => &[],
        }
    }

    fn phase(self) -> Settled {
        use EndpointServiceStatus::*;
        match self {
            Available | Deleted => Settled::Done,
            Error => Settled::Failed,
            Provisioning | Deleting => Settled::Moving,
        }
    }
}

impl std::fmt::Display for EndpointServiceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(StatusMachine::as_str(self))
    }
}

impl std::str::FromStr for EndpointServiceStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::all()
            .iter()
            .copied()
            .find(|v| StatusMachine::as_str(v) == s)
            .ok_or_else(|| format!("unknown endpoint_service status '{s}'"))
    }
}
