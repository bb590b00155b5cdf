//! Isthmus server: the REST API, the controller, and authentication.

pub mod controller;
