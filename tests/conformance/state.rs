use std::sync::Arc;
use std::time::Duration;

use blackbox::Family;
use chrono::{TimeZone, Utc};
use shared::ErrorClass;
use shared::ids::{ConnectionId, IdempotencyKey, OdooRef, SourceId};
use shared::ports::{Claim, Link, SyncState, Watermark};
use shared::records::EntityKind;

fn conn(s: &str) -> ConnectionId {
    ConnectionId::parse(s).unwrap()
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(format!("{s}-{}", uuid::Uuid::new_v4())).unwrap()
}

fn wm(secs: i64, cursor: Option<&str>) -> Watermark {
    Watermark { at: Utc.timestamp_opt(1_790_000_000 + secs, 0).unwrap(), cursor: cursor.map(String::from) }
}

pub async fn watermarks_only_move_forward(family: Family) {
    let state = family.state();
    let c = conn("acme");
    assert_eq!(state.watermark(&c, "orders").await.unwrap(), None);
    assert!(state.advance_watermark(&c, "orders", &wm(100, Some("page-2"))).await.unwrap());
    assert!(!state.advance_watermark(&c, "orders", &wm(50, None)).await.unwrap(), "{}: moved back", family.name());
    assert_eq!(state.watermark(&c, "orders").await.unwrap(), Some(wm(100, Some("page-2"))));
    assert!(state.advance_watermark(&c, "orders", &wm(100, Some("page-3"))).await.unwrap());
    assert!(state.advance_watermark(&c, "orders", &wm(200, None)).await.unwrap());
    assert_eq!(state.watermark(&c, "orders").await.unwrap(), Some(wm(200, None)));
    // Streams and connections are independent.
    assert_eq!(state.watermark(&c, "refunds").await.unwrap(), None);
    assert_eq!(state.watermark(&conn("other"), "orders").await.unwrap(), None);
}

pub async fn claims_complete_and_replay_the_outcome(family: Family) {
    let state = family.state();
    let k = key("order-1042-v1");
    let Claim::Acquired(token) = state.claim(&k, Duration::from_secs(60)).await.unwrap() else { panic!("first claim") };
    assert!(!token.took_over);
    assert!(
        matches!(state.claim(&k, Duration::from_secs(60)).await.unwrap(), Claim::InProgress { until } if until > Utc::now())
    );
    assert!(state.complete(&token, r#"{"move_id":17}"#, None).await.unwrap());
    assert_eq!(
        state.claim(&k, Duration::from_secs(60)).await.unwrap(),
        Claim::Completed { outcome: r#"{"move_id":17}"#.into() },
        "{}",
        family.name()
    );
    // Completing twice, or with someone else's token, changes nothing.
    assert!(!state.complete(&token, "other", None).await.unwrap());
}

pub async fn exactly_one_of_many_concurrent_claimers_wins(family: Family) {
    const CLAIMERS: usize = 8;
    for round in 0..5 {
        let k = key(&format!("race-{round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
        let tasks: Vec<_> = (0..CLAIMERS)
            .map(|_| {
                // Each claimer has its own handle: its own SQLite connection or its own AWS client.
                let state = family.state();
                let (k, barrier) = (k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    state.claim(&k, Duration::from_secs(60)).await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Claim::Acquired(_) => winners += 1,
                Claim::InProgress { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "{}: round {round}", family.name());
    }
}

pub async fn an_expired_claim_can_be_taken_over(family: Family) {
    let state = family.state();
    let k = key("crashed");
    let Claim::Acquired(first) = state.claim(&k, Duration::from_millis(500)).await.unwrap() else { panic!() };
    assert!(matches!(state.claim(&k, Duration::from_secs(60)).await.unwrap(), Claim::InProgress { .. }));
    // The first holder's Lambda timed out; its claim lapses.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let Claim::Acquired(second) = state.claim(&k, Duration::from_secs(60)).await.unwrap() else {
        panic!("{}: expired claim not taken over", family.name())
    };
    assert!(second.took_over);
    // The late first holder can no longer complete or release it.
    assert!(!state.complete(&first, "late", None).await.unwrap());
    state.release(&first).await.unwrap();
    assert!(matches!(state.claim(&k, Duration::from_secs(60)).await.unwrap(), Claim::InProgress { .. }));
    assert!(state.complete(&second, "done", None).await.unwrap());
}

pub async fn a_released_claim_can_be_claimed_again(family: Family) {
    let state = family.state();
    let k = key("failed-post");
    let Claim::Acquired(token) = state.claim(&k, Duration::from_secs(60)).await.unwrap() else { panic!() };
    state.release(&token).await.unwrap();
    let Claim::Acquired(again) = state.claim(&k, Duration::from_secs(60)).await.unwrap() else {
        panic!("{}: released key not claimable", family.name())
    };
    assert!(!again.took_over);
}

pub async fn completed_claims_expire_when_asked(family: Family) {
    let state = family.state();
    let k = key("short-lived");
    let Claim::Acquired(token) = state.claim(&k, Duration::from_secs(60)).await.unwrap() else { panic!() };
    assert!(state.complete(&token, "ok", Some(Duration::from_millis(400))).await.unwrap());
    assert!(matches!(state.claim(&k, Duration::from_secs(60)).await.unwrap(), Claim::Completed { .. }));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        matches!(state.claim(&k, Duration::from_secs(60)).await.unwrap(), Claim::Acquired(_)),
        "{}: expired outcome still served",
        family.name()
    );
}

fn link(source: &str, model: &str, id: i64) -> Link {
    Link {
        connection_id: conn("acme"),
        kind: EntityKind::Order,
        source_id: SourceId::parse(source).unwrap(),
        odoo: OdooRef::new(model, id),
        updated_at: Utc.timestamp_opt(1_790_000_000, 123_456_000).unwrap(),
    }
}

pub async fn links_go_both_ways_and_never_fork(family: Family) {
    let state: Arc<dyn SyncState> = family.state();
    let c = conn("acme");
    let order = link("1042", "account.move", 17);
    state.put_link(&order).await.unwrap();
    assert_eq!(state.link_by_source(&c, EntityKind::Order, &order.source_id).await.unwrap(), Some(order.clone()));
    assert_eq!(state.link_by_odoo(&c, &order.odoo).await.unwrap(), Some(order.clone()));
    // The same source id of another kind is another record.
    assert_eq!(state.link_by_source(&c, EntityKind::Customer, &order.source_id).await.unwrap(), None);
    assert_eq!(state.link_by_odoo(&conn("other"), &order.odoo).await.unwrap(), None);

    // Re-posted (say the first move was cancelled): the link moves, the old Odoo id forgets it.
    let moved = link("1042", "account.move", 18);
    state.put_link(&moved).await.unwrap();
    assert_eq!(state.link_by_source(&c, EntityKind::Order, &moved.source_id).await.unwrap(), Some(moved.clone()));
    assert_eq!(state.link_by_odoo(&c, &OdooRef::new("account.move", 17)).await.unwrap(), None, "{}", family.name());
    assert_eq!(state.link_by_odoo(&c, &moved.odoo).await.unwrap(), Some(moved.clone()));

    // Another order may not claim the same Odoo move: that would hide a double posting.
    let err = state.put_link(&link("1043", "account.move", 18)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(err.to_string().contains("already linked to order 1042"), "{err}");
    assert_eq!(state.link_by_source(&c, EntityKind::Order, &SourceId::parse("1043").unwrap()).await.unwrap(), None);
    // Writing the same link again is harmless.
    state.put_link(&moved).await.unwrap();
}
