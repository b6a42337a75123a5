//! Error classes over both transports, retries with backoff for transient faults only, and the
//! URL policy refusing addresses before any request is made.

use std::time::{Duration, Instant};

use odoo_sandbox::Fault;
use shared::ErrorClass;
use shared::odoo::{OdooClient, OdooError, TransportChoice, Val};
use shared::ports::Secret;

const BOTH: [(u32, TransportChoice); 2] = [(17, TransportChoice::Auto), (19, TransportChoice::Auto)];

fn partner(name: &str) -> Val {
    Val::map([("name", Val::from(name))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_databases_are_auth_errors() {
    for (version, transport) in BOTH {
        let sandbox = crate::sandbox(version).await;
        let mut config = crate::config(&sandbox, transport);
        config.api_key = Secret::new("not-the-key-0123456789");
        let odoo = OdooClient::connect(config).await.unwrap();
        let err = odoo.create("res.partner", partner("x")).await.unwrap_err();
        assert!(matches!(err, OdooError::Auth { .. }), "v{version}: {err:?}");
        assert_eq!(shared::Error::from(err.clone()).class(), ErrorClass::Permanent);
        assert!(!format!("{err} {err:?}").contains("not-the-key"), "the key leaked: {err:?}");

        let mut config = crate::config(&sandbox, transport);
        config.database = Some("no_such_db".into());
        let odoo = OdooClient::connect(config).await.unwrap();
        let err = odoo.create("res.partner", partner("x")).await.unwrap_err();
        assert!(matches!(err, OdooError::Auth { .. }), "v{version}: {err:?}");
        // No partner was created by either attempt.
        assert!(
            sandbox
                .search("res.partner", Val::list([Val::list([Val::from("name"), Val::from("="), Val::from("x")])]))
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_keep_odoo_s_message_and_are_not_retried() {
    for (version, transport) in BOTH {
        let sandbox = crate::sandbox(version).await;
        let odoo = crate::client(&sandbox, transport).await;
        let invoice = odoo.create("account.move", Val::map([("move_type", Val::from("out_invoice"))])).await.unwrap();
        sandbox.clear_calls();
        let err = odoo.call_method("account.move", "action_post", &[invoice]).await.unwrap_err();
        assert_eq!(
            err,
            OdooError::Validation {
                message: "The field 'Customer' is required, please complete it to validate the Customer Invoice."
                    .into()
            },
            "v{version}"
        );
        assert_eq!(sandbox.call_names().len(), 1, "v{version}: a permanent error was retried");

        // An injected UserError is not retried either.
        sandbox.inject("res.partner", "create", Fault::UserError("Duplicate VAT number".into()), 1);
        sandbox.clear_calls();
        let err = odoo.create("res.partner", partner("y")).await.unwrap_err();
        assert_eq!(err, OdooError::Validation { message: "Duplicate VAT number".into() });
        assert_eq!(sandbox.call_names().len(), 1);

        // A failed call changes nothing: Odoo's transaction per call.
        let bad = Val::map([("name", Val::from("z")), ("country_id", Val::Int(9999))]);
        assert!(matches!(odoo.create("res.partner", bad).await.unwrap_err(), OdooError::MissingRecord { .. }));
        assert!(
            sandbox
                .search("res.partner", Val::list([Val::list([Val::from("name"), Val::from("="), Val::from("z")])]))
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_with_backoff() {
    for (version, transport) in BOTH {
        let sandbox = crate::sandbox(version).await;
        let odoo = crate::client(&sandbox, transport).await;
        sandbox.inject("res.partner", "create", Fault::Http { status: 503, retry_after_secs: None }, 1);
        sandbox.inject("res.partner", "create", Fault::SerializationFailure, 1);
        sandbox.clear_calls();
        let id = odoo.create("res.partner", partner("Retried")).await.unwrap();
        assert!(id > 0);
        let creates = sandbox.call_names().iter().filter(|(m, f)| m == "res.partner" && f == "create").count();
        assert_eq!(creates, 3, "v{version}: two failures, then success");
        assert_eq!(
            sandbox
                .search(
                    "res.partner",
                    Val::list([Val::list([Val::from("name"), Val::from("="), Val::from("Retried")])])
                )
                .len(),
            1
        );

        // Retry-After is honoured: the retry waits at least as long as the server asked.
        sandbox.inject("res.partner", "search_read", Fault::Http { status: 429, retry_after_secs: Some(1) }, 1);
        let started = Instant::now();
        odoo.search_read("res.partner", Val::List(vec![]), &["name"], Some(1), None).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1), "v{version}: retried after {:?}", started.elapsed());

        // A fault that does not pass gives up after the policy's attempts, as a retryable error.
        sandbox.inject("*", "*", Fault::Http { status: 503, retry_after_secs: None }, 100);
        sandbox.clear_calls();
        let err = odoo.create("res.partner", partner("never")).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(shared::Error::from(err).class(), ErrorClass::Retryable);
        assert_eq!(sandbox.call_names().len(), 4, "v{version}: attempts = 4");
        sandbox.clear_faults();

        // A gateway's 502 may hide a create Odoo did: a write is not sent again (the caller
        // looks for what it made first); a read is.
        sandbox.inject("res.partner", "create", Fault::Http { status: 502, retry_after_secs: None }, 1);
        sandbox.inject("res.partner", "search_read", Fault::Http { status: 502, retry_after_secs: None }, 1);
        sandbox.clear_calls();
        let err = odoo.create("res.partner", partner("maybe")).await.unwrap_err();
        assert!(err.is_ambiguous() && err.is_transient(), "{err:?}");
        assert_eq!(sandbox.call_names().len(), 1, "v{version}: an ambiguous create is sent once");
        odoo.search_read("res.partner", Val::List(vec![]), &["name"], Some(1), None).await.unwrap();
        assert_eq!(sandbox.call_names().len(), 3, "v{version}: a read is sent again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_methods_unknown_models_and_fields_get_odoo_s_errors() {
    for (version, transport) in BOTH {
        let sandbox = crate::sandbox(version).await;
        let odoo = crate::client(&sandbox, transport).await;
        let err = odoo.call_method("account.move", "_post", &[1]).await.unwrap_err();
        assert_eq!(
            err,
            OdooError::Access {
                message: "Private methods (such as 'account.move._post') cannot be called remotely.".into()
            }
        );

        let err = odoo.search_read("x.nothing", Val::List(vec![]), &[], None, None).await.unwrap_err();
        assert!(err.to_string().contains("x.nothing"), "{err}");
        assert_eq!(shared::Error::from(err).class(), ErrorClass::Permanent);

        let err = odoo
            .create("res.partner", Val::map([("name", Val::from("m")), ("mobile", Val::from("+33 6"))]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OdooError::Protocol { message } if message.contains("Invalid field 'mobile' on model 'res.partner'")),
            "v{version}: {err:?}"
        );

        let err = odoo.call_method("account.move", "no_such_method", &[1]).await.unwrap_err();
        assert!(err.to_string().contains("no_such_method"), "{err}");

        let err = odoo.read("res.partner", &[424242], &["name"]).await.unwrap_err();
        assert!(matches!(err, OdooError::MissingRecord { .. }), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_public_addresses_are_refused_unless_allowed() {
    let sandbox = crate::sandbox(19).await;
    let port = sandbox.url().rsplit(':').next().unwrap().to_string();
    for url in [
        "https://169.254.169.254".to_string(),
        "https://10.0.0.5".to_string(),
        format!("http://[::1]:{port}"),
        sandbox.url().to_string(),
    ] {
        let mut config = crate::config(&sandbox, TransportChoice::Auto);
        config.url = url.clone();
        config.allow_private_network = false;
        let err = OdooClient::connect(config).await.unwrap_err();
        assert!(matches!(err, OdooError::Endpoint { .. }), "{url}: {err:?}");
    }
    assert!(sandbox.calls().is_empty(), "a refused URL was contacted");
    // Allowed explicitly, the loopback sandbox is reachable.
    assert!(OdooClient::connect(crate::config(&sandbox, TransportChoice::Auto)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_latency_delays_and_timeouts_are_transient() {
    let sandbox = crate::sandbox(19).await;
    let odoo = crate::client(&sandbox, TransportChoice::Auto).await;
    sandbox.inject("res.partner", "search_read", Fault::Latency(Duration::from_millis(300)), 1);
    let started = Instant::now();
    odoo.search_read("res.partner", Val::List(vec![]), &["name"], Some(1), None).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    let mut config = crate::config(&sandbox, TransportChoice::Auto);
    config.timeout = Duration::from_millis(200);
    config.retry.attempts = 2;
    let impatient = OdooClient::connect(config).await.unwrap();
    sandbox.inject("res.partner", "search_read", Fault::Latency(Duration::from_secs(1)), 2);
    sandbox.clear_calls();
    let err = impatient.search_read("res.partner", Val::List(vec![]), &["name"], Some(1), None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(sandbox.call_names().len(), 2);
}
