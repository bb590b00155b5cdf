//! Kubernetes-style status conditions. A condition's `last_transition_time` only moves when
//! its status flips, so a reader can tell how long something has been true.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    /// e.g. `Ready`, `Reconciled`, `PeerAccepted`.
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// CamelCase reason, e.g. `AwaitingCustomer`, `DriverError`.
    pub reason: String,
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
}

/// Sets (or adds) the condition `type_`, moving `last_transition_time` only on a flip.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    now: DateTime<Utc>,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            last_transition_time: now,
        }),
    }
}

pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let t0 = Utc.timestamp_opt(1_000, 0).unwrap();
        let t1 = Utc.timestamp_opt(2_000, 0).unwrap();
        let t2 = Utc.timestamp_opt(3_000, 0).unwrap();
        let mut cs = Vec::new();
        set_condition(
            &mut cs,
            "Ready",
            ConditionStatus::False,
            "Provisioning",
            "",
            t0,
        );
        set_condition(
            &mut cs,
            "Ready",
            ConditionStatus::False,
            "StillProvisioning",
            "x",
            t1,
        );
        assert_eq!(cs[0].last_transition_time, t0);
        assert_eq!(cs[0].reason, "StillProvisioning");
        set_condition(&mut cs, "Ready", ConditionStatus::True, "Active", "", t2);
        assert_eq!(cs[0].last_transition_time, t2);
        assert_eq!(cs.len(), 1);
    }
}
