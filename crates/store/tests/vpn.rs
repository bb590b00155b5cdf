//! VPN gateways and clients in the store: the rules run inside the write (one gateway per
//! network, ranges that collide with nothing routed, grants on the gateway's network),
//! addresses are handed out once, and a network's delete takes its gateway and clients.

#[macro_use]
mod common;

use common::*;
use isthmus_core::kinds::vpn_client::{VpnClient, VpnClientCreate, VpnClientUpdate};
use isthmus_core::kinds::vpn_gateway::{VpnGateway, VpnGatewayCreate};
use isthmus_core::object::{Object, StatusMachine};
use isthmus_core::resources::{Cluster, Network};
use isthmus_core::CoreError;
use isthmus_store::api::{Api, Env};
use isthmus_store::StoreError;
use serde_json::json;

fn gateway_req(network_id: &str, cidr: &str) -> VpnGatewayCreate {
    serde_json::from_value(json!({
        "name": "laptops", "network_id": network_id, "client_cidr": cidr,
    }))
    .unwrap()
}

fn client_req(gateway_id: &str, key: &str, grants: serde_json::Value) -> VpnClientCreate {
    serde_json::from_value(json!({
        "name": format!("ada-{}", &key[..4]), "gateway_id": gateway_id, "public_key": key, "grants": grants,
    }))
    .unwrap()
}

const KEY_A: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const KEY_B: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

fn rule_of(e: StoreError) -> (Option<String>, String) {
    match e {
        StoreError::Core(CoreError::Invalid(errors)) => {
            (Some(errors[0].field.clone()), errors[0].rule.clone())
        }
        StoreError::Core(CoreError::Conflict { field, rule, .. }) => (field, rule),
        other => panic!("expected a rule error, got {other:?}"),
    }
}

on_both_backends!(gateways_and_clients_obey_their_rules_inside_the_write);
async fn gateways_and_clients_obey_their_rules_inside_the_write(backend: Backend) {
    let t = open(backend).await;
    let p = project(&*t.store, "acme").await;
    let net = network(&*t.store, p, "prod", "10.1.0.0/16").await;
    let other_net = network(&*t.store, p, "stage", "10.2.0.0/16").await;
    let zone = Env {
        dns_zone: "isthmus.internal".to_string(),
    };
    let clusters = Api::<Cluster>::new(t.store.docs());
    let db = clusters
        .create(
            &alice(),
            p,
            &cluster_req(&net.id.to_string(), "orders"),
            &zone,
            None,
        )
        .await
        .unwrap()
        .resource;
    let elsewhere = clusters
        .create(
            &alice(),
            p,
            &cluster_req(&other_net.id.to_string(), "logs"),
            &zone,
            None,
        )
        .await
        .unwrap()
        .resource;
    let env = Env::default();
    let gateways = Api::<VpnGateway>::new(t.store.docs());
    let gw = gateways
        .create(
            &alice(),
            p,
            &gateway_req(&net.id.to_string(), "100.64.0.0/24"),
            &env,
            None,
        )
        .await
        .unwrap()
        .resource;
    let second = gateways
        .create(
            &alice(),
            p,
            &gateway_req(&net.id.to_string(), "100.65.0.0/24"),
            &env,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        rule_of(second),
        (Some("network_id".into()), "one-gateway-per-network".into())
    );
    // Another network's gateway may not reuse an overlapping client range (the index).
    let overlapping = gateways
        .create(
            &alice(),
            p,
            &gateway_req(&other_net.id.to_string(), "100.64.0.128/25"),
            &env,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        rule_of(overlapping),
        (Some("client_cidr".into()), "no-overlap".into())
    );
    let over_network = gateways
        .create(
            &alice(),
            p,
            &gateway_req(&other_net.id.to_string(), "10.2.9.0/24"),
            &env,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule_of(over_network).1, "no-overlap");

    let clients = Api::<VpnClient>::new(t.store.docs());
    let gid = gw.id.to_string();
    let a = clients
        .create(
            &alice(),
            p,
            &client_req(&gid, KEY_A, json!([{"cluster_id": db.id, "ports": [5432]}])),
            &env,
            None,
        )
        .await
        .unwrap()
        .resource;
    assert_eq!(a.address.to_string(), "100.64.0.2");
    let wrong = clients
        .create(
            &alice(),
            p,
            &client_req(
                &gid,
                KEY_B,
                json!([{"cluster_id": elsewhere.id, "ports": [5432]}]),
            ),
            &env,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        rule_of(wrong),
        (Some("grants[0].cluster_id".into()), "same-network".into())
    );
    let b = clients
        .create(&alice(), p, &client_req(&gid, KEY_B, json!([])), &env, None)
        .await
        .unwrap()
        .resource;
    assert_eq!(b.address.to_string(), "100.64.0.3");
    // Rotating b onto a's key is refused; a rotation keeps the address.
    let clash = VpnClientUpdate {
        public_key: Some(KEY_A.into()),
        ..Default::default()
    };
    assert_eq!(
        rule_of(
            clients
                .update(&alice(), p, b.id.0, &clash, None)
                .await
                .unwrap_err()
        )
        .1,
        "key-in-use"
    );

    // The network's delete cascades to the gateway, and the gateway's to its clients.
    Api::<Network>::new(t.store.docs())
        .delete(&alice(), p, net.id.0, None)
        .await
        .unwrap_err(); // the cluster blocks
    let going = gateways.delete(&alice(), p, gw.id.0, None).await.unwrap();
    assert!(going.status().is_going());
    let a_now = clients.get(p, a.id.0).await.unwrap();
    assert_eq!(a_now.status.as_str(), "deleting");
}
