//! `/v1/projects/{p}/networks`: a CIDR block in one provider region.

use isthmus_core::resources::{Network, NetworkCreate, Provider};

use super::problem::{ApiError, ApiResult};
use super::resources::{ApiDocs, ApiKind};
use crate::state::AppState;

impl ApiKind for Network {
    const DOCS: ApiDocs = ApiDocs {
        create_conflict: "Overlaps another network",
        updated: "Updated",
        update_invalid: "Invalid (e.g. an immutable field)",
        delete_conflict: Some(
            "Clusters remain in the network, or peerings do and cascade is not true",
        ),
    };

    /// A network of a provider this server has no driver for would sit in `error`
    /// forever (a `local` network on a server without the local provider): refused.
    fn check_create(state: &AppState, req: &NetworkCreate) -> ApiResult<()> {
        if state.provisioners.find::<Network>(req.provider).is_some() {
            return Ok(());
        }
        let why = match req.provider {
            Provider::Local => crate::local::unavailable_reason()
                .unwrap_or_else(|| "it was started without the local provider".to_string()),
            _ => "no driver for it is configured".to_string(),
        };
        Err(ApiError::invalid(
            "provider",
            "provider-unavailable",
            format!(
                "this server cannot make {} networks: {why}; a network there would never \
                 become active",
                req.provider.as_str()
            ),
        ))
    }
}
