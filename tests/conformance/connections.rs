use std::sync::Arc;

use blackbox::Family;
use serde_json::json;
use shared::ids::ConnectionId;
use shared::ports::{Connection, Retention, SaveRules};
use shared::records::SourceSystem;

fn connection(id: &str) -> Connection {
    Connection {
        id: ConnectionId::parse(id).unwrap(),
        source: SourceSystem::Woocommerce,
        store_url: "https://shop.example.com".parse().unwrap(),
        odoo_url: "https://acme.odoo.com".parse().unwrap(),
        odoo_database: None,
        audit_retention: Retention::Days30,
        allow_private_network: false,
        paused: false,
        settings: Default::default(),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    }
}

pub async fn stores_lists_and_deletes_connections(family: Family) {
    let store = family.connections();
    let (a, mut b) = (connection("acme-woo"), connection("beta-woo"));
    store.put_connection(&b).await.unwrap();
    store.put_connection(&a).await.unwrap();
    assert_eq!(store.connection(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.connections().await.unwrap(), vec![a.clone(), b.clone()], "{}", family.name());

    b.paused = true;
    b.odoo_database = Some("beta-prod".into());
    b.reconcile_list_only = true;
    store.put_connection(&b).await.unwrap();
    assert_eq!(store.connection(&b.id).await.unwrap(), Some(b.clone()));

    store.save_rules(&a.id, None, &json!({"rules": []})).await.unwrap();
    store.delete_connection(&a.id).await.unwrap();
    assert_eq!(store.connection(&a.id).await.unwrap(), None);
    assert_eq!(store.latest_rules(&a.id).await.unwrap(), None, "{}: rules outlived their connection", family.name());
    assert_eq!(store.connections().await.unwrap(), vec![b]);
}

pub async fn versions_rules_with_optimistic_concurrency(family: Family) {
    let store = family.connections();
    let id = ConnectionId::parse("acme-woo").unwrap();
    assert_eq!(store.latest_rules(&id).await.unwrap(), None);
    let v1 = json!({"lines": [{"when": {"category": "Shirts"}, "account": "700100"}]});
    let v2 = json!({"lines": [{"when": {"category": "Shirts"}, "account": "700200"}]});

    assert_eq!(store.save_rules(&id, Some(3), &v1).await.unwrap(), SaveRules::Conflict { current: None });
    assert_eq!(store.save_rules(&id, None, &v1).await.unwrap(), SaveRules::Saved { version: 1 });
    assert_eq!(store.save_rules(&id, Some(1), &v2).await.unwrap(), SaveRules::Saved { version: 2 });
    // An editor who still had version 1 open must not overwrite version 2.
    assert_eq!(store.save_rules(&id, Some(1), &v1).await.unwrap(), SaveRules::Conflict { current: Some(2) });

    let latest = store.latest_rules(&id).await.unwrap().unwrap();
    assert_eq!((latest.version, &latest.rules), (2, &v2), "{}", family.name());
    // Every version stays readable, so a posting can always be explained by the rules it used.
    assert_eq!(store.rules_version(&id, 1).await.unwrap().unwrap().rules, v1);
    assert_eq!(store.rules_version(&id, 3).await.unwrap(), None);
}

pub async fn concurrent_rule_savers_do_not_both_win(family: Family) {
    let id = ConnectionId::parse("acme-woo").unwrap();
    family.connections().save_rules(&id, None, &json!({"v": 0})).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (store, barrier, id) = (family.connections(), barrier.clone(), id.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.save_rules(&id, Some(1), &json!({ "v": i })).await.unwrap()
            })
        })
        .collect();
    let mut saved = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), SaveRules::Saved { version: 2 }) {
            saved += 1;
        }
    }
    assert_eq!(saved, 1, "{}", family.name());
    assert_eq!(family.connections().latest_rules(&id).await.unwrap().unwrap().version, 2);
}
