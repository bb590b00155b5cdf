//! A minimal DNS client for tests: one question over UDP (or TCP), the parsed reply back.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub struct Reply {
    pub code: ResponseCode,
    pub authoritative: bool,
    pub message: Message,
}

impl Reply {
    /// The A addresses in the answer section, sorted.
    pub fn a_records(&self) -> Vec<Ipv4Addr> {
        let mut ips: Vec<Ipv4Addr> = self
            .message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        ips.sort();
        ips
    }

    pub fn has_soa_in_authority(&self) -> bool {
        self.message
            .authorities
            .iter()
            .any(|r| matches!(r.data, RData::SOA(_)))
    }
}

fn question(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = rand_id(name);
    message.add_query(Query::query(
        Name::from_str(name).expect("valid name"),
        qtype,
    ));
    message.to_vec().expect("encode query")
}

fn rand_id(name: &str) -> u16 {
    name.bytes()
        .fold(7u16, |acc, b| acc.wrapping_mul(31).wrapping_add(b as u16))
}

fn parse(bytes: &[u8]) -> Reply {
    let message = Message::from_vec(bytes).expect("decode reply");
    Reply {
        code: message.metadata.response_code,
        authoritative: message.metadata.authoritative,
        message,
    }
}

pub async fn query_udp(server: SocketAddr, name: &str, qtype: RecordType) -> Reply {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket
        .send_to(&question(name, qtype), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("the server answers")
        .expect("recv");
    parse(&buf[..len])
}

pub async fn query_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Reply {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    let q = question(name, qtype);
    stream.write_u16(q.len() as u16).await.expect("send length");
    stream.write_all(&q).await.expect("send");
    let len = tokio::time::timeout(Duration::from_secs(5), stream.read_u16())
        .await
        .expect("the server answers")
        .expect("read length");
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.expect("read reply");
    parse(&buf)
}
