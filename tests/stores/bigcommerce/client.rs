//! The REST client against the sandbox: `X-Auth-Token`, V2 paging with 204 on empty, V3 lists,
//! errors, and the shared quota: paced so steady work meets no 429, a spent quota waited out,
//! platform load backed off.

use std::time::Duration;

use bc_sandbox::{BcOptions, BigCommerceSandbox};
use chrono::Utc;
use shared::ErrorClass;
use shared::http::RetryPolicy;
use shared::ports::Secret;
use shared::stores::bigcommerce::client::{BcClient, BcConfig};

async fn client(store: &BigCommerceSandbox, token: &str) -> BcClient {
    BcClient::connect(BcConfig {
        api_base: store.api_base().parse().unwrap(),
        access_token: Secret::new(token),
        allow_private_network: true,
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        timeout: Duration::from_secs(5),
        ca_pem: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn v2_lists_page_at_250_and_an_empty_list_is_a_204() {
    let store = BigCommerceSandbox::start(BcOptions::default()).await.unwrap();
    let t = Utc::now() - chrono::Duration::hours(1);
    for id in 1..=300 {
        store.add_order(id, 0, 11, t, 1);
    }
    store.add_order(301, 0, 11, t, 60);
    let c = client(&store, &store.options().access_token.clone()).await;
    let orders = c.v2_all("/v2/orders", &[("sort".into(), "id:asc".into())]).await.unwrap();
    assert_eq!(orders.len(), 301);
    assert_eq!(store.requests_to("/v2/orders"), 2, "250 per page");
    let lines = c.v2_all("/v2/orders/301/products", &[]).await.unwrap();
    assert_eq!(lines.len(), 60, "more than the default 50 lines");
    // No shipments: 204 with no body is an empty list, not an error.
    assert!(c.v2_all("/v2/orders/301/shipments", &[]).await.unwrap().is_empty());
    let future = [("min_date_modified".to_string(), (Utc::now() + chrono::Duration::days(1)).to_rfc2822())];
    assert!(c.v2_all("/v2/orders", &future).await.unwrap().is_empty());
    // A V2 error is classified with its message; a wrong token is refused for good.
    let missing = c.get_json("/v2/orders/999999", &[]).await.unwrap_err();
    assert_eq!(missing.class(), ErrorClass::Permanent);
    assert!(missing.to_string().contains("not found"), "{missing}");
    let wrong = client(&store, "not-the-token").await;
    let refused = wrong.get_json("/v2/orders", &[]).await.unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert!(refused.to_string().contains("401") && !refused.to_string().contains("not-the-token"), "{refused}");
}

/// Steady work within a quota another app also uses: the client reads what is left from each
/// answer and waits for the reset before it runs out, so it meets no 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_work_within_a_shared_quota_meets_no_429() {
    let store =
        BigCommerceSandbox::start(BcOptions { quota: 20, window: Duration::from_millis(1500), ..BcOptions::default() })
            .await
            .unwrap();
    store.other_client_uses(6);
    store.add_order(1, 0, 11, Utc::now(), 1);
    let c = std::sync::Arc::new(client(&store, &store.options().access_token.clone()).await);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..15 {
                    c.get_json("/v2/orders/1", &[]).await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(c.requests_made(), 60);
    assert_eq!(store.throttled(), 0, "the client ran into the quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_is_waited_out_and_platform_load_backed_off() {
    let store =
        BigCommerceSandbox::start(BcOptions { quota: 10, window: Duration::from_millis(1000), ..BcOptions::default() })
            .await
            .unwrap();
    store.add_order(1, 0, 11, Utc::now(), 1);
    let token = store.options().access_token.clone();
    // Another client spends the window; ours, knowing nothing yet, meets a 429 with the quota
    // headers and waits for the reset.
    let other = reqwest::Client::new();
    for _ in 0..10 {
        let url = format!("{}/v2/orders/1", store.api_base());
        assert_eq!(other.get(url).header("x-auth-token", &token).send().await.unwrap().status(), 200);
    }
    let ours = client(&store, &token).await;
    assert!(ours.get_json("/v2/orders/1", &[]).await.is_ok(), "waited for the reset, then read");
    assert_eq!(ours.throttled(), 1, "one 429, then the wait the headers named");
    // Platform load: 429s without quota headers, backed off and retried.
    store.platform_load(2);
    assert!(ours.get_json("/v2/orders/1", &[]).await.is_ok());
    assert!(ours.throttled() >= 2);
}
