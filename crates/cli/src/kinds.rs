//! What the CLI knows about each resource kind beyond its view (`views.rs`) and its create
//! and update arguments (`args/resources.rs`): the help lines of the generic verbs, and
//! what a kind says on stderr after a verb (warnings, the customer's part).
//!
//! The generic verbs (`list`, `get`, `delete`, `wait`) are written once, in
//! `commands/object.rs`; a kind gets them by implementing [`CliKind`].

use isthmus_core::object::Object;
use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::PeeringStatus;

use crate::output::View;
use crate::views::customer_actions_text;

/// A kind the generic verbs serve.
pub trait CliKind: Object + View {
    /// `get`'s help line (clap style: no final period).
    const GET_ABOUT: &'static str;
    /// `delete`'s help line.
    const DELETE_ABOUT: &'static str;

    /// What the server noted about the object (e.g. an empty public allow-list).
    fn warnings(&self) -> &[String] {
        &[]
    }
    /// After `create` took the object, before it is shown: its warnings.
    fn after_create(&self) {
        print_warnings(self.warnings());
    }
    /// After `get` shows the object.
    fn after_get(&self) {}
    /// After a `--wait` for readiness ended settled.
    fn after_settled(&self) {}
}

impl CliKind for Network {
    const GET_ABOUT: &'static str = "Show one network";
    const DELETE_ABOUT: &'static str = "Delete a network (refused while clusters remain in it)";
}

impl CliKind for Peering {
    const GET_ABOUT: &'static str = "Show one peering, including what the customer must run";
    const DELETE_ABOUT: &'static str = "Delete a peering";

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Waiting on the customer is settled; say what they must run (on stderr, so the view
    /// on stdout stays the plain object).
    fn after_settled(&self) {
        if matches!(
            self.status,
            PeeringStatus::PendingAcceptance | PeeringStatus::PendingPeer
        ) {
            eprintln!(
                "peering {} is {}: waiting for the customer to act on their side:\n{}",
                self.id,
                self.status,
                customer_actions_text(self).trim_end()
            );
        }
    }
}

impl CliKind for Cluster {
    const GET_ABOUT: &'static str = "Show one cluster with its nodes and addresses";
    const DELETE_ABOUT: &'static str = "Delete a cluster";

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
    fn after_get(&self) {
        print_warnings(&self.warnings);
    }
}

/// The server's warnings (e.g. an empty or 0.0.0.0/0 public list) go to stderr, so
/// `-o json` stays parseable and a person still sees them.
pub fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}
