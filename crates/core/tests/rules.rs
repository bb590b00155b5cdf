//! Every rule of `isthmus_core::rules`, with the field, rule name and message a user sees.
//! 422s (`CoreError::Invalid`) are mistakes in the request itself; 409s
//! (`CoreError::Conflict`) are collisions with other live state.

mod support;

#[path = "rules/clusters.rs"]
mod clusters;
#[path = "rules/networks.rs"]
mod networks;
#[path = "rules/peerings.rs"]
mod peerings;
#[path = "rules/transitions.rs"]
mod transitions;
