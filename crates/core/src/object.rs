//! What every resource kind shares: a header (id, project, name, generation, times,
//! version), a status block (status, message, observed generation, conditions), a status
//! machine with one definition of *settled*, and an optional owner whose deletion either
//! waits for the kind's objects (block) or takes them down (cascade).
//!
//! The shared fields stay flat in each kind's struct, so the stored and served JSON is
//! unchanged field for field and in order; [`object!`](crate::object) implements
//! [`Object`] over them, and a kind missing one of them does not compile.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::conditions::Condition;
use crate::{CoreError, Id, ProjectId};

/// Where a status machine stands, for everyone who waits on it (the controller's
/// requeue, the CLI's `--wait`, the console's badges): the one definition of settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// Still moving: the controller (or the provider) has work left.
    Moving,
    /// Settled where it was meant to go, or waiting on someone outside the platform
    /// (a customer's acceptance) with nothing left for the platform to do.
    Done,
    /// Settled in a failure: nothing changes until someone acts.
    Failed,
}

impl Settled {
    pub fn as_str(&self) -> &'static str {
        match self {
            Settled::Moving => "moving",
            Settled::Done => "done",
            Settled::Failed => "failed",
        }
    }
}

/// A kind's status machine. Staying put is always allowed (reconciles repeat).
pub trait StatusMachine:
    Copy + Eq + Debug + Display + FromStr + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The kind's name, as in "peering cannot go from … to …".
    const KIND: &'static str;
    /// Where a permanent failure puts the object.
    const ERROR: Self;
    const DELETING: Self;
    const DELETED: Self;
    /// Every state, in declaration order.
    fn all() -> &'static [Self];
    fn as_str(&self) -> &'static str;
    fn allowed_next(self) -> &'static [Self];
    /// Where this state stands; see [`Settled`].
    fn phase(self) -> Settled;

    /// Moves to `to` if the machine allows it.
    fn transition(self, to: Self) -> Result<Self, CoreError> {
        if self == to || self.allowed_next().contains(&to) {
            Ok(to)
        } else {
            Err(CoreError::IllegalTransition {
                kind: Self::KIND,
                from: self.as_str().to_string(),
                to: to.as_str().to_string(),
            })
        }
    }
    /// Not yet `deleted`: holds its addresses and counts for the rules.
    fn is_live(self) -> bool {
        self != Self::DELETED
    }
    /// Asked to go away (`deleting`) or gone (`deleted`).
    fn is_going(self) -> bool {
        self == Self::DELETING || self == Self::DELETED
    }
}

/// What the deletion of an owner does to the objects it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOwnerDelete {
    /// The owner's delete is refused (409) while live objects of this kind remain; the
    /// error names them.
    Block,
    /// The owner's delete marks them `deleting` in the same write; the owner's finalizer
    /// waits until they are gone.
    Cascade,
}

/// A kind's owner: the kind of object it lives in and what that object's deletion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// e.g. `network`.
    pub kind: &'static str,
    /// The field of a create request that names the owner, e.g. `network_id`.
    pub field: &'static str,
    pub on_delete: OnOwnerDelete,
}

/// The fixed facts of a kind: its names and its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// Singular, lowercase: the store's `kind` column, audit actions (`network.create`),
    /// error texts.
    pub name: &'static str,
    /// The collection's path segment: `/v1/projects/{p}/<plural>`.
    pub plural: &'static str,
    pub owner: Option<Owner>,
}

/// A claim an object makes in a shared space, kept in the store's generic index so a
/// rule can find the objects whose claims meet a new one without reading every object:
/// a network's address range, a public endpoint's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// e.g. `network_range`, `public_ip`.
    pub index: &'static str,
    /// Where claims may collide: a project id, or `""` for the whole installation.
    pub scope: String,
    /// First and last value claimed (inclusive), e.g. the first and last address.
    pub start: u32,
    pub end: u32,
}

/// The status block of an object, mutably: what the controller writes.
pub struct StatusMut<'a, S> {
    pub status: &'a mut S,
    pub message: &'a mut String,
    pub observed_generation: &'a mut u64,
    pub conditions: &'a mut Vec<Condition>,
}

/// One object of a kind: the header and status block every kind carries.
pub trait Object:
    Clone + PartialEq + Debug + Serialize + DeserializeOwned + Send + Sync + Unpin + 'static
{
    type Status: StatusMachine;
    const INFO: KindInfo;

    fn id(&self) -> Id;
    fn project_id(&self) -> ProjectId;
    fn name(&self) -> &str;
    /// Bumped by every spec change the API accepts.
    fn generation(&self) -> u64;
    /// Bumped by every write; the ETag and `If-Match` value.
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
    fn created_at(&self) -> DateTime<Utc>;
    fn set_updated_at(&mut self, at: DateTime<Utc>);
    fn status(&self) -> Self::Status;
    fn status_message(&self) -> &str;
    fn observed_generation(&self) -> u64;
    fn conditions(&self) -> &[Condition];
    fn status_mut(&mut self) -> StatusMut<'_, Self::Status>;
    /// The id of the object this one lives in, for kinds with an [`Owner`].
    fn owner_id(&self) -> Option<Id>;
    /// The claims this object holds in the store's index; none by default.
    fn index_entries(&self) -> Vec<IndexEntry> {
        Vec::new()
    }

    /// Refuses to attach to or change an object on its way out (409 `<kind>-deleting`).
    fn ensure_not_going(&self) -> Result<(), CoreError> {
        if self.status().is_going() {
            let kind = Self::INFO.name;
            return Err(CoreError::conflict(
                None,
                &format!("{kind}-deleting"),
                format!("{kind} {} is {}", self.id(), self.status()),
            ));
        }
        Ok(())
    }

    /// Settled for the current spec: a status counts only once the controller has
    /// observed this generation.
    fn settled(&self) -> Settled {
        if self.observed_generation() < self.generation() {
            Settled::Moving
        } else {
            self.status().phase()
        }
    }
}

/// Declares a kind's struct ending with the fields every object carries after its own
/// (`generation`, `observed_generation`, `conditions`, `created_at`, `updated_at`,
/// `version`), in the order the stored JSON and the API have always had them.
#[macro_export]
macro_rules! kind_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            $($fields)*
            pub generation: u64,
            pub observed_generation: u64,
            pub conditions: Vec<$crate::conditions::Condition>,
            pub created_at: chrono::DateTime<chrono::Utc>,
            pub updated_at: chrono::DateTime<chrono::Utc>,
            pub version: u64,
        }
    };
}

/// Builds a new object of a [`kind_struct!`] kind at `now`: generation 1, not yet
/// observed, no conditions, version 1.
#[macro_export]
macro_rules! new_object {
    ($now:expr, $name:ident { $($fields:tt)* }) => {
        $name {
            $($fields)*
            generation: 1,
            observed_generation: 0,
            conditions: Vec::new(),
            created_at: $now,
            updated_at: $now,
            version: 1,
        }
    };
}

/// Implements [`Object`] for a kind struct that has the shared fields (`id`, `project_id`,
/// `name`, `generation`, `version`, `created_at`, `updated_at`, `status`,
/// `status_message`, `observed_generation`, `conditions`).
#[macro_export]
macro_rules! object {
    ($ty:ty, $status:ty, $info:expr, owner = |$o:ident| $owner:expr $(, index = |$x:ident| $index:expr)? $(,)?) => {
        impl $crate::object::Object for $ty {
            type Status = $status;
            const INFO: $crate::object::KindInfo = $info;
            fn id(&self) -> $crate::Id {
                self.id.0
            }
            fn project_id(&self) -> $crate::ProjectId {
                self.project_id
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn generation(&self) -> u64 {
                self.generation
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
            fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
                self.created_at
            }
            fn set_updated_at(&mut self, at: chrono::DateTime<chrono::Utc>) {
                self.updated_at = at;
            }
            fn status(&self) -> $status {
                self.status
            }
            fn status_message(&self) -> &str {
                &self.status_message
            }
            fn observed_generation(&self) -> u64 {
                self.observed_generation
            }
            fn conditions(&self) -> &[$crate::conditions::Condition] {
                &self.conditions
            }
            fn status_mut(&mut self) -> $crate::object::StatusMut<'_, $status> {
                $crate::object::StatusMut {
                    status: &mut self.status,
                    message: &mut self.status_message,
                    observed_generation: &mut self.observed_generation,
                    conditions: &mut self.conditions,
                }
            }
            fn owner_id(&self) -> Option<$crate::Id> {
                let $o = self;
                $owner
            }
            $(
                fn index_entries(&self) -> Vec<$crate::object::IndexEntry> {
                    let $x = self;
                    $index
                }
            )?
        }
    };
}
