//! The entry point the DNS fuzz target (`fuzz/fuzz_targets/dns.rs`) and the stable smoke
//! test (`tests/dns_entry_points.rs`) drive: raw request bytes → hickory's request decoding
//! → the platform zone handler (`PlatformZoneHandler`) → the encoded response, over a small
//! fixed zone (two clusters, one with a public endpoint, and `ns.<zone>`).
//!
//! Must hold for any bytes: no panic; the response decodes, carries the request's id, and
//! every answer is for the name asked.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};

use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::proto::op::{Message, MessageType};
use hickory_server::proto::rr::{Name, Record};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use isthmus_connect::dns::{ClusterRecords, PlatformZoneHandler, Zone};
use isthmus_core::id::{ClusterId, Id};

/// Keeps the encoded response instead of sending it (encoded as hickory's UDP handle does:
/// at most 512 bytes, or the EDNS payload size the response advertises).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let max = response.edns().map_or(512, |e| e.max_payload());
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max);
        let info = response.destructive_emit(&mut encoder)?;
        *self.0.lock().unwrap() = Some(bytes);
        Ok(info)
    }
}

struct Fixture {
    handler: PlatformZoneHandler,
    runtime: tokio::runtime::Runtime,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let zone = Zone::new("isthmus.internal", Some(Ipv4Addr::new(127, 0, 0, 53))).unwrap();
    zone.set_clusters(vec![
        ClusterRecords {
            cluster_id: ClusterId(Id::from_parts(1_700_000_000, [1; 8])),
            node_ips: (1..=3).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect(),
            public_ip: Some(Ipv4Addr::new(198, 18, 0, 1)),
        },
        ClusterRecords {
            cluster_id: ClusterId(Id::from_parts(1_700_000_000, [2; 8])),
            node_ips: vec![Ipv4Addr::new(10, 0, 1, 4)],
            public_ip: None,
        },
    ]);
    Fixture {
        handler: PlatformZoneHandler {
            zone: Arc::new(zone),
            view: isthmus_connect::dns::View::Default,
        },
        runtime: tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    }
});

/// One raw DNS message, as the platform DNS server would receive it over UDP.
pub fn dns_message(data: &[u8]) {
    let f = &*FIXTURE;
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 5353));
    // What hickory's server does before the handler: decode, drop responses.
    let Ok(request) = Request::from_bytes(data.to_vec(), src, Protocol::Udp) else {
        return;
    };
    if request.metadata.message_type == MessageType::Response {
        return;
    }
    let capture = Capture::default();
    f.runtime.block_on(
        f.handler
            .handle_request::<_, TokioTime>(&request, capture.clone()),
    );
    let Some(bytes) = capture.0.lock().unwrap().take() else {
        // Only an encoding failure leaves no response; hickory then sends SERVFAIL.
        return;
    };
    let response = Message::from_vec(&bytes).expect("the response decodes");
    assert_eq!(response.metadata.id, request.metadata.id);
    assert_eq!(response.metadata.message_type, MessageType::Response);
    if let Ok(info) = request.request_info() {
        let asked = Name::from(info.query.name().clone());
        for answer in &response.answers {
            // `Name` compares case-insensitively, as DNS does.
            assert_eq!(answer.name, asked, "an answer for another name");
        }
    }
}
