use kuma_core::resources::{Meta, Spec};
use serde_json::json;

use super::*;

fn mesh(name: &str, labels: &[(&str, &str)]) -> Resource {
    let meta = Meta {
        name: name.to_owned(),
        mesh: None,
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        creation_time: None,
        modification_time: None,
    };
    Resource { meta, spec: Spec::from_value(ResourceType::Mesh, json!({})).unwrap() }
}

#[test]
fn publisher_sends_full_state_then_only_differences() {
    let mut publisher = Publisher::new();
    let first = publisher.update(ResourceType::Mesh, &[]).expect("an answer even when empty");
    assert!(first.resources.is_empty());
    assert_eq!(first.type_url, "Mesh");

    let a = mesh("a", &[]);
    let b = mesh("b", &[]);
    let resp = publisher.update(ResourceType::Mesh, &[a.clone(), b.clone()]).unwrap();
    let names: Vec<&str> = resp.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a.", "b."]);
    assert!(
        publisher.update(ResourceType::Mesh, &[a.clone(), b.clone()]).is_none(),
        "nothing changed"
    );

    let b2 = mesh("b", &[("team", "x")]);
    let resp = publisher.update(ResourceType::Mesh, &[b2]).unwrap();
    assert_eq!(resp.resources.len(), 1, "only the changed resource");
    assert_eq!(resp.removed_resources, ["a."]);
    assert_ne!(resp.nonce, first.nonce);

    publisher.forget(&ResourceType::Mesh);
    let resp = publisher.update(ResourceType::Mesh, &[a]).unwrap();
    assert_eq!(resp.resources.len(), 1);
    assert!(resp.removed_resources.is_empty(), "after forget the peer gets a plain full state");
}

#[test]
fn subscriber_round_trip_with_the_publisher() {
    let mut publisher = Publisher::new();
    let mut subscriber = Subscriber::new(node("zone-1"));
    let req = subscriber.subscribe(ResourceType::Mesh);
    assert_eq!(classify(&req), Request::Subscribe(ResourceType::Mesh));
    assert_eq!(req.node.as_ref().unwrap().id, "zone-1");
    assert_eq!(req.resource_names_subscribe, ["*"]);

    let resp = publisher.update(ResourceType::Mesh, &[mesh("default", &[])]).unwrap();
    let received = subscriber.receive(resp.clone()).unwrap();
    assert!(received.full_state);
    assert_eq!(received.upserts[0].meta.name, "default");
    let ack = subscriber.ack(received.kind, &received.nonce);
    assert_eq!(classify(&ack), Request::Ack(ResourceType::Mesh));
    assert!(!subscriber.receive(resp).unwrap().full_state, "only the first answer is a full state");
}

#[test]
fn a_bad_resource_rejects_the_whole_response_with_a_nack() {
    let mut publisher = Publisher::new();
    let mut subscriber = Subscriber::new(node("z"));
    subscriber.subscribe(ResourceType::Mesh);
    let mut resp =
        publisher.update(ResourceType::Mesh, &[mesh("ok", &[]), mesh("bad", &[])]).unwrap();
    resp.resources[1].resource.as_mut().unwrap().value = vec![0xff, 0x01];
    let rejected = subscriber.receive(resp).unwrap_err();
    assert!(rejected.message.starts_with("resource \"bad.\""), "{}", rejected.message);
    let nack = subscriber.nack(&rejected);
    match classify(&nack) {
        Request::Nack { kind, message } => {
            assert_eq!(kind, ResourceType::Mesh);
            assert_eq!(message, rejected.message);
        }
        other => panic!("expected a NACK, got {other:?}"),
    }

    let unknown = DeltaDiscoveryResponse { type_url: "MeshTimeout".into(), ..Default::default() };
    assert!(subscriber.receive(unknown).unwrap_err().message.contains("unknown resource type"));
}

#[test]
fn a_type_never_subscribed_to_is_nacked_without_resubscribing() {
    let mut publisher = Publisher::new();
    let mut subscriber = Subscriber::new(node("global"));
    subscriber.subscribe(ResourceType::Dataplane);
    let resp = publisher.update(ResourceType::Mesh, &[mesh("default", &[])]).unwrap();
    let rejected = subscriber.receive(resp).unwrap_err();
    assert_eq!(rejected.message, r#"resource type "Mesh" was not subscribed to"#);
    let nack = subscriber.nack(&rejected);
    assert!(nack.resource_names_subscribe.is_empty(), "a NACK must not subscribe to the type");
    assert!(matches!(classify(&nack), Request::Nack { kind: ResourceType::Mesh, .. }));
}
