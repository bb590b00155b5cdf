//! `/v1/lab/…`: lab VPCs, the customer's side of `local` peerings ([`vpcs`]), the lab's
//! internet (hosts with public addresses, [`internet`]), and commands run inside their
//! hosts ([`exec`]). The store holds what should exist; the local driver makes it so.
//! Changing the host's namespaces and running commands on it is the superuser's business
//! only.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use isthmus_core::FieldError;
use isthmus_driver_local::LocalDriver;
use isthmus_store::Actor;
use tokio::sync::MutexGuard;

use super::problem::{ApiError, ApiResult};
use crate::auth::Caller;
use crate::local::unavailable_reason;
use crate::state::AppState;

mod endpoints;
mod exec;
mod internet;
mod services;
mod services_nats;
mod vpcs;

pub use endpoints::*;
pub use exec::*;
pub use internet::*;
pub use services::*;
pub use vpcs::*;

/// Lab changes touch one VPC's namespaces as a whole (the driver is given the full host
/// list from the store), so they run one at a time: two concurrent host additions can
/// never each apply a list without the other's host.
static LAB_CHANGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What every lab handler starts from: the server's state and the authenticated caller.
pub struct Lab {
    state: AppState,
    caller: Caller,
}

impl FromRequestParts<AppState> for Lab {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Lab {
            state: state.clone(),
            caller,
        })
    }
}

impl Lab {
    /// The state, for a read: any caller, while the lab API is on.
    fn read(&self) -> ApiResult<&AppState> {
        lab_enabled(&self.state)?;
        Ok(&self.state)
    }

    /// The state, for a list: as [`Lab::read`], and a 409 without the local provider
    /// (an empty list would hide that nothing can be made).
    fn read_local(&self) -> ApiResult<&AppState> {
        let state = self.read()?;
        local_driver(state)?;
        Ok(state)
    }

    /// The state, for a change or a command: the lab API is on and the caller is the
    /// superuser.
    fn superuser(&self) -> ApiResult<&AppState> {
        lab_enabled(&self.state)?;
        if self.caller.is_superuser() {
            Ok(&self.state)
        } else {
            Err(ApiError::forbidden(
                "only the superuser token may change lab VPCs or run commands in them",
            ))
        }
    }

    /// Starts a change of the lab: lab API on, superuser, local driver, then one at a time.
    async fn change(&self) -> ApiResult<LabChange<'_>> {
        let state = self.superuser()?;
        Ok(LabChange {
            state,
            driver: local_driver(state)?,
            actor: self.caller.actor(),
            _one_at_a_time: LAB_CHANGES.lock().await,
        })
    }
}

/// A 404 when this server runs without the lab API (`isthmus serve --no-lab`).
fn lab_enabled(state: &AppState) -> ApiResult<()> {
    if state.config.lab_enabled {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "the lab API is disabled on this server (it was started with --no-lab)",
        ))
    }
}

/// The local driver, or a 409 that says why this server has none.
fn local_driver(state: &AppState) -> ApiResult<&LocalDriver> {
    state.local.as_deref().ok_or_else(|| {
        let why = unavailable_reason()
            .unwrap_or_else(|| "this server was started without the local provider".to_string());
        let detail = format!("lab VPCs need the local provider: {why}");
        ApiError::new(StatusCode::CONFLICT, "conflict", &detail).with_errors(vec![FieldError::new(
            "provider",
            "local-provider-unavailable",
            detail,
        )])
    })
}

/// A lab change under way: its checks passed, the local driver at hand, and no other
/// change running until it is dropped.
struct LabChange<'a> {
    state: &'a AppState,
    driver: &'a LocalDriver,
    actor: Actor,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Waits until the lab's resolvers serve what a change just made (a new host's
/// resolv.conf, a new VPC's resolver), so it resolves names the moment the call returns.
async fn usable(state: &AppState) {
    if let Some(sync) = &state.lab_dns {
        sync.synced(std::time::Duration::from_secs(10)).await;
    }
}

fn driver_failure(what: &str, e: anyhow::Error) -> ApiError {
    ApiError::internal(format!("{what}: {e:#}"))
}

/// Runs the driver's part of a change the store has already taken. If it fails, `undo`
/// takes the change back so nothing half-made stays behind (the sweep at the next start
/// removes any namespace that was made), and the 500 names `what`.
async fn apply_or_undo(
    apply: impl Future<Output = anyhow::Result<()>>,
    undo: impl Future<Output = ()>,
    what: impl FnOnce() -> String,
) -> ApiResult<()> {
    if let Err(e) = apply.await {
        undo.await;
        return Err(driver_failure(&what(), e));
    }
    Ok(())
}
