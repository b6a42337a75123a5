//! Test support for the black-box suites: builds each adapter family on real infrastructure
//! (SQLite files in a temporary directory; moto server on loopback for AWS) with fresh, uniquely
//! named resources per test, so tests run in parallel without seeing each other.

pub mod harness;
pub mod tls;
pub mod webhooks;

use std::sync::Arc;

use shared::aws::{DynamoAudit, DynamoConnections, DynamoState, SecretsManagerStore, SqsQueue, keys};
use shared::embedded::{Db, EmbeddedQueue, EmbeddedStore, EncryptedSecretsFile, Redrive, SecretsKey};
use shared::ports::{AuditLog, ConnectionStore, FailedRecords, QueueConsumer, RecordQueue, SecretStore, SyncState};

/// Expands `suite: test, …; other: test, …` into one test per adapter family:
/// `embedded::suite::test` and `aws::suite::test`, each calling `suite::test(family)` in the
/// module that invokes the macro (a test binary's root, or one store's module of it).
#[macro_export]
macro_rules! on_both_families {
    ($($suite:ident: $($test:ident),* $(,)?);+ $(;)?) => {
        $crate::on_both_families!(@family embedded, embedded; $($suite: $($test),*);+);
        $crate::on_both_families!(@family aws, aws; $($suite: $($test),*);+);
    };
    (@family $module:ident, $make:ident; $($suite:ident: $($test:ident),*);+) => {
        mod $module {
            $(
                mod $suite {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $test() {
                            super::super::$suite::$test($crate::Family::$make().await).await
                        }
                    )*
                }
            )+
        }
    };
}

/// A queue one can both send to and receive from.
pub trait Queue: RecordQueue + QueueConsumer {}
impl<T: RecordQueue + QueueConsumer> Queue for T {}

/// The moto endpoint the test command started. Missing means the suite was run outside the test
/// command: that is a failure, never a skip.
pub fn moto_endpoint() -> String {
    let endpoint = std::env::var("MLC_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MLC_MOTO_ENDPOINT is not set: the AWS conformance suites need moto server. \
             Run the tests with `scripts/test`, which installs moto into .venv and starts it."
        )
    });
    let url = url::Url::parse(&endpoint).expect("MLC_MOTO_ENDPOINT is a URL");
    let host = url.host_str().unwrap_or_default();
    assert!(
        host == "127.0.0.1" || host == "localhost" || host == "[::1]",
        "MLC_MOTO_ENDPOINT must be on loopback, not {host}: these tests never touch real AWS"
    );
    endpoint
}

/// AWS configuration pointed at moto, with moto's fake credentials.
pub async fn moto_config() -> aws_config::SdkConfig {
    let endpoint = moto_endpoint();
    shared::aws::config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// One adapter family, ready to hand out fresh adapters.
pub enum Family {
    Embedded(EmbeddedFamily),
    Aws(Box<AwsFamily>),
}

pub struct EmbeddedFamily {
    pub dir: tempfile::TempDir,
}

pub struct AwsFamily {
    pub config: aws_config::SdkConfig,
    pub connections_table: String,
    pub state_table: String,
    pub audit_table: String,
    pub secrets_prefix: String,
}

impl Family {
    pub fn name(&self) -> &'static str {
        match self {
            Family::Embedded(_) => "embedded",
            Family::Aws(_) => "aws",
        }
    }

    pub async fn embedded() -> Family {
        Family::Embedded(EmbeddedFamily { dir: tempfile::tempdir().expect("temporary directory") })
    }

    pub async fn aws() -> Family {
        let config = moto_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let family = AwsFamily {
            connections_table: unique("connections"),
            state_table: unique("state"),
            audit_table: unique("audit"),
            secrets_prefix: unique("mlc"),
            config,
        };
        create_table(&dynamo, &family.connections_table, false).await;
        create_table(&dynamo, &family.state_table, false).await;
        create_table(&dynamo, &family.audit_table, true).await;
        Family::Aws(Box::new(family))
    }

    /// A fresh FIFO queue and its dead-letter queue, with the given redrive threshold.
    pub async fn queue_with_dlq(&self, max_receive_count: u32) -> (Arc<dyn Queue>, Arc<dyn Queue>) {
        match self {
            Family::Embedded(f) => {
                let db = Db::open(f.dir.path().join("mlc.sqlite3")).expect("open db");
                let name = unique("records");
                let dlq_name = format!("{name}-dlq");
                let redrive = Redrive { dead_letter_queue: dlq_name.clone(), max_receive_count };
                (
                    Arc::new(EmbeddedQueue::new(db.clone(), name, Some(redrive))),
                    Arc::new(EmbeddedQueue::new(db, dlq_name, None)),
                )
            }
            Family::Aws(f) => {
                let sqs = aws_sdk_sqs::Client::new(&f.config);
                let (url, dlq_url) = create_fifo_queues(&sqs, &unique("records"), max_receive_count).await;
                (Arc::new(SqsQueue::new(sqs.clone(), url)), Arc::new(SqsQueue::new(sqs, dlq_url)))
            }
        }
    }

    pub fn connections(&self) -> Arc<dyn ConnectionStore> {
        match self {
            Family::Embedded(f) => Arc::new(EmbeddedStore::new(f.db())),
            Family::Aws(f) => Arc::new(DynamoConnections::new(f.dynamo(), &f.connections_table)),
        }
    }

    /// A new handle on the same state each call: its own SQLite connection, or its own AWS client.
    pub fn state(&self) -> Arc<dyn SyncState> {
        match self {
            Family::Embedded(f) => Arc::new(EmbeddedStore::new(f.db())),
            Family::Aws(f) => Arc::new(DynamoState::new(f.dynamo(), &f.state_table)),
        }
    }

    pub fn failed(&self) -> Arc<dyn FailedRecords> {
        match self {
            Family::Embedded(f) => Arc::new(EmbeddedStore::new(f.db())),
            Family::Aws(f) => Arc::new(DynamoState::new(f.dynamo(), &f.state_table)),
        }
    }

    pub fn audit(&self) -> Arc<dyn AuditLog> {
        match self {
            Family::Embedded(f) => Arc::new(EmbeddedStore::new(f.db())),
            Family::Aws(f) => Arc::new(DynamoAudit::new(f.dynamo(), &f.audit_table)),
        }
    }

    pub fn secrets(&self) -> Arc<dyn SecretStore> {
        match self {
            Family::Embedded(f) => {
                let key = SecretsKey::from_file(&f.dir.path().join("secrets.key")).expect("secrets key");
                Arc::new(EncryptedSecretsFile::new(f.dir.path().join("secrets.enc"), &key))
            }
            Family::Aws(f) => {
                Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&f.config), &f.secrets_prefix))
            }
        }
    }
}

impl EmbeddedFamily {
    fn db(&self) -> Db {
        Db::open(self.dir.path().join("mlc.sqlite3")).expect("open db")
    }
}

impl AwsFamily {
    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        // A client per handle: concurrent handles use separate connection pools, as separate Lambdas would.
        aws_sdk_dynamodb::Client::new(&self.config)
    }
}

/// Creates a table as `template.yaml` declares it: string `pk`/`sk`, on demand, and for the
/// audit table the `by_odoo` index.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, with_odoo_index: bool) {
    use aws_sdk_dynamodb::types::*;
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().expect("key");
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(keys::PARTITION_KEY))
        .attribute_definitions(attr(keys::SORT_KEY))
        .key_schema(key(keys::PARTITION_KEY, KeyType::Hash))
        .key_schema(key(keys::SORT_KEY, KeyType::Range));
    if with_odoo_index {
        create = create.attribute_definitions(attr(keys::AUDIT_ODOO_KEY)).global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(keys::AUDIT_ODOO_INDEX)
                .key_schema(key(keys::AUDIT_ODOO_KEY, KeyType::Hash))
                .key_schema(key(keys::SORT_KEY, KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("index"),
        );
    }
    create.send().await.unwrap_or_else(|e| panic!("creating table {name} in moto: {e:?}"));
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(keys::TTL_ATTRIBUTE).enabled(true).build().expect("ttl"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enabling TTL on {name} in moto: {e:?}"));
}

/// Creates a FIFO queue whose redrive policy sends messages received `max_receive_count` times to
/// a FIFO dead-letter queue, as `template.yaml` does. Returns both URLs.
pub async fn create_fifo_queues(client: &aws_sdk_sqs::Client, name: &str, max_receive_count: u32) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(A::FifoQueue, "true")
        .send()
        .await
        .expect("creating the dead-letter queue in moto")
        .queue_url
        .expect("queue url");
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .expect("reading the dead-letter queue's ARN")
        .attributes
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .expect("QueueArn");
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string();
    let url = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(A::FifoQueue, "true")
        .attributes(A::VisibilityTimeout, "30")
        .attributes(A::RedrivePolicy, redrive)
        .send()
        .await
        .expect("creating the queue in moto")
        .queue_url
        .expect("queue url");
    (url, dlq_url)
}

/// An embedded state in a new temporary directory with one WooCommerce connection `shop` to
/// `store` (its secrets stored, Odoo nowhere): what the benches of ingest and polling start from.
pub async fn local_woo_connection(
    store: &woo_sandbox::SandboxStore,
) -> (tempfile::TempDir, shared::local::LocalStack, shared::ids::ConnectionId) {
    use shared::ports::{Connection, Retention, SecretBundle};
    let dir = tempfile::tempdir().unwrap();
    let stack = shared::local::LocalStack::open(dir.path(), true).unwrap();
    let id = shared::ids::ConnectionId::parse("shop").unwrap();
    let connection = Connection {
        id: id.clone(),
        source: shared::records::SourceSystem::Woocommerce,
        store_url: store.url().parse().unwrap(),
        odoo_url: "http://127.0.0.1:9".parse().unwrap(),
        odoo_database: None,
        audit_retention: Retention::Days30,
        allow_private_network: true,
        paused: false,
        settings: Default::default(),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    };
    stack.store.put_connection(&connection).await.unwrap();
    let s = store.options();
    let secrets = SecretBundle::new()
        .with("woo_consumer_key", &s.consumer_key)
        .with("woo_consumer_secret", &s.consumer_secret)
        .with("woo_webhook_secret", &s.webhook_secret);
    stack.secrets.put(&id, &secrets).await.unwrap();
    (dir, stack, id)
}
