//! Endpoint services (their cluster must be running first: the runner waits for it):
//! publish at the provider and carry the operator's decisions there (`ensure`) when the
//! spec is new or changed, otherwise only look (`observe`); either way the connections
//! become what the provider reports (a customer's deleted endpoint turns `disconnected`
//! at the next look, which the resync makes).

use async_trait::async_trait;
use chrono::Utc;
use isthmus_core::conditions::ConditionStatus;
use isthmus_core::kinds::endpoint_connection::{merge_observed, ConnectionStatus};
use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceStatus};
use isthmus_core::object::StatusMachine;
use isthmus_core::resources::Cluster;
use isthmus_driver::Teardown;

use super::context::{condition, reconciled, Action, Context, ReconcileError, Result};
use super::runner::{with_message, Cleanup, Reconcile};

#[async_trait]
impl Reconcile for EndpointService {
    type Owner = Cluster;
    const READY: EndpointServiceStatus = EndpointServiceStatus::Available;

    async fn apply(
        ctx: &Context,
        s: &EndpointService,
        cluster: &Cluster,
    ) -> Result<(EndpointService, Action)> {
        let provisioner = ctx.provisioner::<EndpointService>(s.provider)?;
        let what = format!("endpoint service {}", s.id);
        let needs_ensure = s.generation > s.observed_generation
            || matches!(
                s.status,
                EndpointServiceStatus::Provisioning | EndpointServiceStatus::Error
            );
        let seen = if needs_ensure {
            provisioner
                .ensure(s, cluster)
                .await
                .map_err(ReconcileError::driver(format!("ensure {what}")))?
        } else {
            provisioner
                .observe(s, cluster)
                .await
                .map_err(ReconcileError::driver(format!("observe {what}")))?
        };
        let mut next = s.clone();
        next.connections = merge_observed(
            s.provider,
            &s.id.to_string(),
            &s.connections,
            &seen.connections,
            Utc::now(),
        );
        let target = if seen.ready {
            EndpointServiceStatus::Available
        } else {
            EndpointServiceStatus::Provisioning
        };
        next.status = s
            .status
            .transition(target)
            .map_err(ReconcileError::Illegal)?;
        next.status_message = seen.message.clone();
        next.observed_generation = s.generation;
        let (ready, reason) = if seen.ready {
            (ConditionStatus::True, "Published")
        } else {
            (ConditionStatus::False, "Publishing")
        };
        condition(&mut next.conditions, "Ready", ready, reason, seen.message);
        reconciled(&mut next.conditions);
        let pending = next
            .connections
            .iter()
            .any(|c| c.status == ConnectionStatus::PendingAcceptance);
        let action = if !seen.ready {
            Action::RequeueAfter(ctx.config.poll_interval)
        } else if pending {
            Action::RequeueAfter(ctx.config.pending_interval)
        } else {
            Action::Done
        };
        Ok((next, action))
    }

    async fn cleanup(
        ctx: &Context,
        s: &EndpointService,
        cluster: &Cluster,
    ) -> Result<Cleanup<EndpointService>> {
        let teardown = match ctx.provisioners.find::<EndpointService>(s.provider) {
            Some(p) => p
                .delete(s, cluster)
                .await
                .map_err(ReconcileError::driver(format!(
                    "delete endpoint service {}",
                    s.id
                )))?,
            None => Teardown::Done,
        };
        Ok(match teardown {
            Teardown::InProgress => {
                Cleanup::InProgress(with_message(s, "the provider is withdrawing the service"))
            }
            Teardown::Done => {
                let mut gone = with_message(s, "withdrawn at the provider");
                for c in &mut gone.connections {
                    // Every connection ends with its service: through `deleting`.
                    for to in [ConnectionStatus::Deleting, ConnectionStatus::Deleted] {
                        if let Ok(to) = c.status.transition(to) {
                            c.status = to;
                        }
                    }
                    c.provider_state = c.status.provider_word(s.provider).to_string();
                }
                Cleanup::Gone(gone)
            }
        })
    }
}
