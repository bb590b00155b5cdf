//! What the console's script knows about a kind, sent as `/console/kinds.json`: the
//! columns of its list, the fields of its create form, the properties of its detail page,
//! and where each of its statuses stands ([`Settled`], from the kind's status machine, so
//! the console's badges say what the CLI's `--wait` and the controller say).
//!
//! Values are templates over the object's JSON: `{field}`, `{nested.field}`, `{owner.field}`
//! (the object it lives in), with a filter after `|`: `time`, `join` (a list, comma
//! separated), `count` (a list's length), `owner` (an owner id shown as the owner's name),
//! `round` (a measured figure: whole from 10 up, one decimal below).

use std::collections::BTreeMap;

use isthmus_core::object::{Object, Settled, StatusMachine};
use serde::Serialize;

/// A kind's part of the console, written once per kind (`console/kinds.rs`).
pub trait ConsoleKind: Object {
    const VIEW: View;
    /// The status machines of the parts an object holds (a cluster's nodes), by name.
    fn parts() -> Machines {
        Machines::new()
    }
}

/// Status machines by name.
pub type Machines = BTreeMap<&'static str, Phases>;

/// The fixed texts and layout of a kind's pages.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct View {
    /// "Network": the kind as a heading word.
    pub title: &'static str,
    /// "Networks": the list page's heading and navigation link.
    pub titles: &'static str,
    /// How one object reads in a select (a create form's owner field).
    pub option: &'static str,
    /// The list's columns between the name and the status.
    pub columns: &'static [Column],
    /// The create form.
    pub form: &'static [Field],
    /// After a create, open the new object's page (else stay on the list).
    pub open_after_create: bool,
    /// The detail page's properties.
    pub details: &'static [Column],
    /// A line per status that says what it means for the user (else the status message).
    pub help: &'static [(&'static str, &'static str)],
    /// The bespoke panel of the detail page, by the name the script knows it by.
    pub panel: Option<&'static str>,
}

/// A value shown in a list's column or a detail page's property.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Column {
    pub label: &'static str,
    /// The template of the value.
    pub value: &'static str,
    /// Hidden on narrow screens.
    pub optional: bool,
    /// Shown as code (addresses, ids).
    pub code: bool,
    /// The element's id, for the properties a user (or a test) looks for.
    pub id: Option<&'static str>,
    /// Shown when the value is empty; `None` hides an empty property.
    pub empty: Option<&'static str>,
}

impl Column {
    pub const fn new(label: &'static str, value: &'static str) -> Column {
        Column {
            label,
            value,
            optional: false,
            code: false,
            id: None,
            empty: Some("—"),
        }
    }
    pub const fn optional(self) -> Column {
        Column {
            optional: true,
            ..self
        }
    }
    pub const fn code(self) -> Column {
        Column { code: true, ..self }
    }
    pub const fn id(self, id: &'static str) -> Column {
        Column {
            id: Some(id),
            ..self
        }
    }
    pub const fn or(self, empty: &'static str) -> Column {
        Column {
            empty: Some(empty),
            ..self
        }
    }
    pub const fn hidden_when_empty(self) -> Column {
        Column {
            empty: None,
            ..self
        }
    }
}

/// How a create form's field takes its value.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// A line of text, trimmed.
    Text,
    /// One of `options`.
    Select,
    /// A list, one item per line (or separated by spaces or commas).
    Lines,
    /// A checkbox: true or false.
    Check,
    /// An object of the kind's owner, picked by name.
    Owner,
    /// A provider of the catalog (`/console/catalog.json`).
    Provider,
    /// A region of the catalog: of the form's provider, else of the chosen owner's.
    Region,
    /// An engine of the catalog.
    Engine,
    /// A topology the form's engine supports, from the catalog.
    Topology,
}

/// One field of a create form.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Field {
    /// The element id is `<kind>-<id>`.
    pub id: &'static str,
    pub label: &'static str,
    /// Where the value goes in the request body (`peer.account_id`); also what the API's
    /// field errors name, so an error shows under its field.
    pub field: &'static str,
    pub control: Control,
    /// The initial value (a select's selected option).
    pub value: &'static str,
    pub placeholder: &'static str,
    /// `(value, text)` of a select.
    pub options: &'static [(&'static str, &'static str)],
}

impl Field {
    pub const fn new(
        id: &'static str,
        label: &'static str,
        field: &'static str,
        control: Control,
    ) -> Field {
        Field {
            id,
            label,
            field,
            control,
            value: "",
            placeholder: "",
            options: &[],
        }
    }
    pub const fn text(id: &'static str, label: &'static str, field: &'static str) -> Field {
        Field::new(id, label, field, Control::Text)
    }
    pub const fn value(self, value: &'static str) -> Field {
        Field { value, ..self }
    }
    pub const fn placeholder(self, placeholder: &'static str) -> Field {
        Field {
            placeholder,
            ..self
        }
    }
    pub const fn options(self, options: &'static [(&'static str, &'static str)]) -> Field {
        Field { options, ..self }
    }
}

/// Where each status of a machine stands.
pub type Phases = BTreeMap<&'static str, Settled>;

pub fn phases<S: StatusMachine>() -> Phases {
    S::all().iter().map(|s| (s.as_str(), s.phase())).collect()
}

/// Everything the script reads about one kind.
#[derive(Debug, Clone, Serialize)]
pub struct Descriptor {
    pub name: &'static str,
    pub plural: &'static str,
    /// The kind of the object this kind lives in.
    pub owner: Option<&'static str>,
    /// The field that holds the owner's id.
    pub owner_field: Option<&'static str>,
    /// Every status, and where it stands.
    pub phases: Phases,
    /// `deleting` and `deleted`: no delete button then.
    pub going: [&'static str; 2],
    /// The machines of its parts (a cluster's `node`).
    pub parts: Machines,
    #[serde(flatten)]
    pub view: View,
}

impl Descriptor {
    pub fn of<K: ConsoleKind>() -> Descriptor {
        let status = |s: K::Status| s.as_str();
        Descriptor {
            name: K::INFO.name,
            plural: K::INFO.plural,
            owner: K::INFO.owner.map(|o| o.kind),
            owner_field: K::INFO.owner.map(|o| o.field),
            phases: phases::<K::Status>(),
            going: [
                status(<K::Status as StatusMachine>::DELETING),
                status(<K::Status as StatusMachine>::DELETED),
            ],
            parts: K::parts(),
            view: K::VIEW,
        }
    }
}
