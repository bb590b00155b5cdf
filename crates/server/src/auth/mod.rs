//! Bearer-token authentication and per-project roles.

mod caller;
mod secret;

pub use caller::{Admin, Caller, InProject, NeededRole, Operator, Viewer};
pub use secret::{hash_secret, new_secret, read_secret_file, replace_secret_file, SECRET_PREFIX};
