//! The REST client against the sandbox store: OAuth over HTTP, Basic over HTTPS, paging, errors.

use std::time::Duration;

use base64::Engine as _;
use shared::ErrorClass;
use shared::http::RetryPolicy;
use shared::ports::Secret;
use shared::stores::woocommerce::client::{WooClient, WooConfig};
use woo_sandbox::{SandboxStore, StoreOptions};

fn config(url: &str, key: &str, secret: &str) -> WooConfig {
    WooConfig {
        store_url: url.parse().unwrap(),
        consumer_key: key.into(),
        consumer_secret: Secret::new(secret),
        allow_private_network: true,
        retry: RetryPolicy { attempts: 3, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(50) },
        timeout: Duration::from_secs(5),
        page_size: 100,
        ca_pem: None,
    }
}

/// A connection's typed WooCommerce settings reach the client: smaller pages, more of them.
#[tokio::test]
async fn the_connection_s_page_size_sets_how_many_items_each_request_asks_for() {
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let t = chrono::Utc::now() - chrono::Duration::hours(1);
    for id in 1..=25 {
        store.add_customer(id, &format!("c{id}@example.com"), "C", "D", t);
    }
    let connection: shared::ports::Connection = serde_json::from_value(serde_json::json!({
        "id": "shop", "source": "woocommerce", "store_url": store.url(), "odoo_url": "https://acme.odoo.com",
        "settings": { "store": "woocommerce", "page_size": 10 }
    }))
    .unwrap();
    let settings = shared::stores::woocommerce::WooSettings::of(&connection);
    assert_eq!(settings.page_size, 10);
    let o = store.options();
    let client = WooClient::connect(WooConfig {
        page_size: settings.page_size,
        ..config(store.url(), &o.consumer_key, &o.consumer_secret)
    })
    .await
    .unwrap();
    assert_eq!(client.all("/customers", &[]).await.unwrap().len(), 25);
    assert_eq!(store.requests_to("/wp-json/wc/v3/customers"), 3);
    // An older connection without settings gets the defaults; an unknown setting is refused.
    let old: shared::ports::Connection = serde_json::from_value(serde_json::json!({
        "id": "shop", "source": "woocommerce", "store_url": store.url(), "odoo_url": "https://acme.odoo.com"
    }))
    .unwrap();
    assert_eq!(shared::stores::woocommerce::WooSettings::of(&old).page_size, 100);
    let typo = serde_json::from_value::<shared::ports::Connection>(serde_json::json!({
        "id": "shop", "source": "woocommerce", "store_url": store.url(), "odoo_url": "https://acme.odoo.com",
        "settings": { "store": "woocommerce", "pagesize": 10 }
    }));
    assert!(typo.is_err());
}

#[tokio::test]
async fn pages_oauth_and_errors() {
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let t = chrono::Utc::now() - chrono::Duration::hours(1);
    for id in 1..=250 {
        store.add_order(id, 0, "processing", t);
    }
    let o = store.options();
    let client = WooClient::connect(config(store.url(), &o.consumer_key, &o.consumer_secret)).await.unwrap();
    let first =
        client.page("/orders", &[("orderby".into(), "id".into()), ("order".into(), "asc".into())], 1).await.unwrap();
    assert_eq!((first.items.len(), first.total, first.total_pages), (100, 250, 3));
    let all = client.all("/orders", &[("orderby".into(), "id".into()), ("order".into(), "asc".into())]).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=250).collect::<Vec<_>>());

    // A wrong secret is refused by the store's signature check: permanent, with its message.
    let wrong = WooClient::connect(config(store.url(), &o.consumer_key, "cs_wrong")).await.unwrap();
    let err = wrong.page("/orders", &[], 1).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(
        err.to_string().contains("Invalid signature")
            && err.to_string().contains("woocommerce_rest_authentication_error"),
        "{err}"
    );
    assert!(!err.to_string().contains("cs_wrong"));

    // An unknown route: WordPress's error body, permanent, not retried.
    let err = client.page("/no-such-thing", &[], 1).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains("rest_no_route"), "{err}");

    // Throttled: Retry-After is honoured, then it goes through.
    store.throttle(1, 1);
    let started = std::time::Instant::now();
    client.page("/orders", &[], 1).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn basic_auth_over_https_and_no_oauth() {
    let client = WooClient::connect(config("https://127.0.0.1:9", "ck_abc", "cs_def")).await.unwrap();
    let request = client.request("/orders", &[("page".into(), "2".into())]).build().unwrap();
    let auth = request.headers().get("authorization").unwrap().to_str().unwrap().to_string();
    assert_eq!(auth, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ck_abc:cs_def")));
    assert_eq!(request.url().as_str(), "https://127.0.0.1:9/wp-json/wc/v3/orders?page=2");

    let plain = WooClient::connect(config("http://127.0.0.1:9", "ck_abc", "cs_def")).await.unwrap();
    let request = plain.request("/orders", &[("page".into(), "2".into())]).build().unwrap();
    assert!(request.headers().get("authorization").is_none());
    let query = request.url().query().unwrap();
    for p in [
        "oauth_consumer_key=ck_abc",
        "oauth_signature_method=HMAC-SHA256",
        "oauth_signature=",
        "oauth_nonce=",
        "oauth_timestamp=",
        "page=2",
    ] {
        assert!(query.contains(p), "{query} lacks {p}");
    }
    assert!(!query.contains("cs_def"));

    // Public-address guard: a store on a private address needs the connection's permission.
    let mut guarded = config("http://10.0.0.5", "ck", "cs");
    guarded.allow_private_network = false;
    assert!(WooClient::connect(guarded).await.is_err());
}

#[tokio::test]
async fn category_paths_are_cached_including_products_the_store_no_longer_has() {
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let o = store.options();
    let client = WooClient::connect(config(store.url(), &o.consumer_key, &o.consumer_secret)).await.unwrap();
    store.remove_product(16);
    let first = client.category_paths(&[11, 16]).await.unwrap();
    assert!(!first[&11].is_empty(), "product 11 has a category in the sandbox catalog: {first:?}");
    assert!(first.get(&16).is_none_or(|p| p.is_empty()));
    let asked = store.requests();
    let again = client.category_paths(&[16, 11]).await.unwrap();
    assert_eq!(store.requests(), asked, "a cached product (or a missing one) was asked for again");
    assert_eq!(again[&11], first[&11]);
}

/// The sandbox checks OAuth with its own code: the product's signing passes, and the same request
/// signed by a plausible but wrong algorithm (values sorted unencoded into the key, no trailing
/// `&` on the key, SHA-256 declared as SHA-1) is refused.
#[tokio::test]
async fn the_sandbox_refuses_a_wrong_oauth_algorithm_and_accepts_the_products() {
    use hmac::{Hmac, Mac};
    let store = SandboxStore::start(StoreOptions::default()).await.unwrap();
    let o = store.options();
    let url = format!("{}/wp-json/wc/v3/orders", store.url().trim_end_matches('/'));
    let now = chrono::Utc::now().timestamp().to_string();
    let mut params: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), o.consumer_key.clone()),
        ("oauth_nonce".into(), "nonce 42".into()),
        ("oauth_signature_method".into(), "HMAC-SHA256".into()),
        ("oauth_timestamp".into(), now),
        ("per_page".into(), "5".into()),
    ];
    let http = reqwest::Client::new();
    let send = |signature: String, params: Vec<(String, String)>| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let mut query = params;
            query.push(("oauth_signature".into(), signature));
            http.get(url).query(&query).send().await.unwrap().status().as_u16()
        }
    };
    let signer = shared::http::oauth1::Signer {
        consumer_key: &o.consumer_key,
        consumer_secret: &o.consumer_secret,
        token: None,
    };
    let product = signer.signature("GET", &url.parse().unwrap(), &params);
    assert_eq!(send(product, params.clone()).await, 200, "the product's own signing passes");

    let b64 = base64::engine::general_purpose::STANDARD;
    let sign = |key: &str, base: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(base.as_bytes());
        b64.encode(mac.finalize().into_bytes())
    };
    let plain_join = |ps: &[(String, String)]| ps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // Unencoded values in the base string (`nonce 42` stays a space).
    let unencoded =
        sign(&format!("{}&", o.consumer_secret), &format!("GET&{}&{}", enc(&url), enc(&plain_join(&params))));
    assert_eq!(send(unencoded, params.clone()).await, 401, "values must be RFC 3986 encoded");
    // The key without its trailing `&`.
    let product_base = |ps: &[(String, String)]| {
        let joined = ps
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k).replace('+', "%20"), enc(v).replace('+', "%20")))
            .collect::<Vec<_>>()
            .join("&");
        format!("GET&{}&{}", enc(&url), enc(&joined).replace('+', "%20"))
    };
    let correct = sign(&format!("{}&", o.consumer_secret), &product_base(&params));
    assert_eq!(send(correct, params.clone()).await, 200, "control: this test's own base string is right");
    let no_ampersand = sign(&o.consumer_secret, &product_base(&params));
    assert_eq!(send(no_ampersand, params.clone()).await, 401, "the key is consumer_secret&");
    // SHA-256 computed, SHA-1 declared.
    params[2].1 = "HMAC-SHA1".into();
    let mislabelled = sign(&format!("{}&", o.consumer_secret), &product_base(&params));
    assert_eq!(send(mislabelled, params).await, 401, "the declared method is the one checked");
}
