//! Turns a DNS request into the zone's answer (hickory-server's `RequestHandler`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::record_set::View;
use super::zone::{Zone, ZoneAnswer};

pub struct PlatformZoneHandler {
    pub zone: Arc<Zone>,
    /// Whose answers: a lab VPC's resolver answers from its network's view first.
    pub view: View,
}

#[async_trait::async_trait]
impl RequestHandler for PlatformZoneHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        // Clients that speak EDNS expect an OPT record back.
        let response_edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &response_edns {
            builder.edns(edns);
        }

        let is_query = request.metadata.message_type == MessageType::Query
            && request.metadata.op_code == OpCode::Query;
        let outcome = if !is_query {
            let response = builder.error_msg(&request.metadata, ResponseCode::NotImp);
            response_handle.send_response(response).await
        } else {
            match request.request_info() {
                Err(_) => {
                    let response = builder.error_msg(&request.metadata, ResponseCode::FormErr);
                    response_handle.send_response(response).await
                }
                Ok(info) => {
                    let query = info.query;
                    // No question may take the handler down: a bug in answering one is
                    // a SERVFAIL for that question, and the next is answered as usual.
                    let answer = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        self.zone.lookup_in(
                            &self.view,
                            query.name(),
                            query.query_type(),
                            query.query_class(),
                        )
                    }))
                    .unwrap_or_else(|_| {
                        tracing::error!(name = %query.name(), "answering a DNS question panicked");
                        ZoneAnswer::server_failure()
                    });
                    let mut metadata = Metadata::response_from_request(&request.metadata);
                    metadata.authoritative = answer.authoritative;
                    metadata.response_code = answer.code;
                    let response = builder.build(
                        metadata,
                        answer.answers.iter(),
                        std::iter::empty(),
                        answer.soa.iter(),
                        std::iter::empty(),
                    );
                    response_handle.send_response(response).await
                }
            }
        };
        outcome.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not send a DNS response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        })
    }
}
