//! One A question to the platform DNS over UDP, as `dig @addr name` asks it.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

/// A guard against hanging, not a speed assertion.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub struct Answer {
    pub code: ResponseCode,
    /// The A records of the answer, sorted.
    pub ips: Vec<Ipv4Addr>,
}

pub async fn query_a(server: SocketAddr, name: &str) -> Answer {
    let mut message = Message::query();
    message.metadata.id = 4242;
    message.add_query(Query::query(
        Name::from_str(name).expect("valid name"),
        RecordType::A,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket
        .send_to(&message.to_vec().expect("encode query"), server)
        .await
        .expect("send query");
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(ANSWER_WITHIN, socket.recv_from(&mut buf))
        .await
        .expect("the platform DNS answers")
        .expect("receive answer");
    let reply = Message::from_vec(&buf[..len]).expect("decode answer");
    let mut ips: Vec<Ipv4Addr> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    ips.sort();
    Answer {
        code: reply.metadata.response_code,
        ips,
    }
}
