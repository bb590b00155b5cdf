//! What the integration tests of more than one crate need to drive the controller: a
//! store on a temp dir with a project, a controller on it that can be crashed and
//! started again ([`Harness`]), and polling with a deadline ([`Patience`]). Nothing is
//! timed: a deadline only turns a hang into a failure that says what it waited for.

mod harness;
mod wait;

pub use harness::{actor, Harness};
pub use wait::Patience;
