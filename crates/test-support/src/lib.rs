//! What the integration tests of more than one crate need to drive the controller: a
//! store on a temp dir with a project, a controller on it that can be crashed and
//! started again ([`Harness`]), and polling with a deadline ([`Patience`]). Nothing is
//! timed: a deadline only turns a hang into a failure that says what it waited for.

mod harness;
mod wait;

pub use harness::{actor, Harness};
pub use wait::Patience;

/// `deref_to_harness!(World)`: a test's world, a struct with a `harness: Harness` field
/// beside the providers it drives, reads and acts through the harness's methods as its
/// own (`w.create(…)`, `w.wake::<K>(…)`, `w.crash()`).
#[macro_export]
macro_rules! deref_to_harness {
    ($world:ty) => {
        impl ::std::ops::Deref for $world {
            type Target = $crate::Harness;
            fn deref(&self) -> &$crate::Harness {
                &self.harness
            }
        }
        impl ::std::ops::DerefMut for $world {
            fn deref_mut(&mut self) -> &mut $crate::Harness {
                &mut self.harness
            }
        }
    };
}
