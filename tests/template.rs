//! Pins what `sam validate --lint` does not check in `template.yaml`: the Rust runtime and
//! architecture, the cargo-lambda build method, SQS event source batch sizes and partial batch
//! responses, the queue's visibility against its consumers' timeouts, and that the tables match
//! the key design the DynamoDB adapters use.

use serde_yaml::Value;
use shared::aws::keys;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("template.yaml parses")
}

/// `!Ref X` and `!GetAtt X.Arn` as the logical id they point at.
fn referenced_id(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" || t.tag == "!GetAtt" => {
            t.value.as_str().map(|s| s.split('.').next().unwrap_or(s).to_string())
        }
        Value::Mapping(m) => m
            .get("Ref")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| m.get("Fn::GetAtt").and_then(|g| g.get(0)).and_then(Value::as_str).map(String::from)),
        _ => None,
    }
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v)).collect())
        .unwrap_or_default()
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    resources(t).into_iter().filter(|(_, r)| r["Type"].as_str() == Some(ty)).collect()
}

fn truthy(v: &Value) -> bool {
    v.as_bool() == Some(true) || v.as_str() == Some("true")
}

/// Every problem found; empty means the template is as it must be.
fn problems(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let globals = &t["Globals"]["Function"];
    let timeout_of = |f: &Value| f["Properties"]["Timeout"].as_u64().or(globals["Timeout"].as_u64()).unwrap_or(3);

    if globals["Runtime"].as_str() != Some("provided.al2023") {
        out.push(format!("Globals runtime is {:?}, not provided.al2023", globals["Runtime"]));
    }
    if globals["Architectures"] != Value::Sequence(vec!["arm64".into()]) {
        out.push(format!("Globals architectures are {:?}, not [arm64]", globals["Architectures"]));
    }

    // Every Lambda binary in functions/ is deployed, and every function builds one that exists.
    let crates: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../functions"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    let built: Vec<String> = of_type(t, "AWS::Serverless::Function")
        .iter()
        .filter_map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str().map(String::from))
        .collect();
    for krate in crates.iter().filter(|c| !matches!(c.as_str(), "mlc" | "README.md")) {
        if !built.contains(krate) {
            out.push(format!("functions/{krate} is not deployed by any function"));
        }
    }
    for binary in &built {
        if !crates.contains(binary) {
            out.push(format!("a function builds {binary}, which is not in functions/"));
        }
    }

    let queues = of_type(t, "AWS::SQS::Queue");
    let fifo = |id: &str| queues.iter().any(|(q, r)| q == id && truthy(&r["Properties"]["FifoQueue"]));

    for (id, f) in of_type(t, "AWS::Serverless::Function") {
        let p = &f["Properties"];
        let runtime = p["Runtime"].as_str().or(globals["Runtime"].as_str());
        if runtime != Some("provided.al2023") {
            out.push(format!("{id}: runtime {runtime:?} is not provided.al2023"));
        }
        let arch = if p["Architectures"].is_null() { &globals["Architectures"] } else { &p["Architectures"] };
        if *arch != Value::Sequence(vec!["arm64".into()]) {
            out.push(format!("{id}: architectures {arch:?} are not [arm64]"));
        }
        if f["Metadata"]["BuildMethod"].as_str() != Some("rust-cargolambda") {
            out.push(format!("{id}: BuildMethod {:?} is not rust-cargolambda", f["Metadata"]["BuildMethod"]));
        }
        let events = p["Events"].as_mapping().cloned().unwrap_or_default();
        for (name, event) in &events {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            let name = name.as_str().unwrap_or_default();
            let ep = &event["Properties"];
            let queue = referenced_id(&ep["Queue"]).unwrap_or_default();
            let batch = ep["BatchSize"].as_u64().unwrap_or(10);
            let limit = if fifo(&queue) { 10 } else { 10_000 };
            if batch == 0 || batch > limit {
                out.push(format!("{id}.{name}: BatchSize {batch} is outside 1..={limit} for {queue}"));
            }
            if fifo(&queue) && !ep["MaximumBatchingWindowInSeconds"].is_null() {
                out.push(format!("{id}.{name}: FIFO queues take no batching window"));
            }
            let responses = ep["FunctionResponseTypes"].as_sequence().cloned().unwrap_or_default();
            if !responses.iter().any(|r| r.as_str() == Some("ReportBatchItemFailures")) {
                out.push(format!(
                    "{id}.{name}: no ReportBatchItemFailures, so one bad record would retry the whole batch"
                ));
            }
        }
    }

    for (id, q) in &queues {
        let p = &q["Properties"];
        let Some(target) = p["RedrivePolicy"].get("deadLetterTargetArn").and_then(referenced_id) else { continue };
        if truthy(&p["FifoQueue"]) && !fifo(&target) {
            out.push(format!("{id}: a FIFO queue's dead-letter queue {target} must be FIFO too"));
        }
        // Consumers of this queue, or (while none exists yet) the global timeout they will inherit.
        let consumers: Vec<u64> = of_type(t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, f)| {
                f["Properties"]["Events"].as_mapping().is_some_and(|events| {
                    events.values().any(|e| {
                        e["Type"].as_str() == Some("SQS")
                            && referenced_id(&e["Properties"]["Queue"]).as_deref() == Some(id)
                    })
                })
            })
            .map(|(_, f)| timeout_of(f))
            .collect();
        let slowest = consumers.into_iter().max().unwrap_or(globals["Timeout"].as_u64().unwrap_or(3));
        let visibility = p["VisibilityTimeout"].as_u64().unwrap_or(30);
        if visibility < 6 * slowest {
            out.push(format!("{id}: visibility {visibility}s is under 6x its consumers' timeout ({slowest}s)"));
        }
    }
    if !queues.iter().any(|(_, q)| !q["Properties"]["RedrivePolicy"].is_null()) {
        out.push("no queue has a dead-letter queue".into());
    }

    for (id, table) in of_type(t, "AWS::DynamoDB::Table") {
        let p = &table["Properties"];
        if !truthy(&p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]) {
            out.push(format!("{id}: point-in-time recovery is off"));
        }
        let key: Vec<(&str, &str)> = p["KeySchema"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .map(|k| (k["AttributeName"].as_str().unwrap_or(""), k["KeyType"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        if key != [(keys::PARTITION_KEY, "HASH"), (keys::SORT_KEY, "RANGE")] {
            out.push(format!("{id}: key schema {key:?} is not the adapters' pk/sk"));
        }
        let ttl = &p["TimeToLiveSpecification"];
        if id != "ConnectionsTable"
            && (ttl["AttributeName"].as_str() != Some(keys::TTL_ATTRIBUTE) || !truthy(&ttl["Enabled"]))
        {
            out.push(format!("{id}: TTL must be enabled on {}", keys::TTL_ATTRIBUTE));
        }
    }
    let audit = &t["Resources"]["AuditTable"]["Properties"]["GlobalSecondaryIndexes"];
    let has_index = audit.as_sequence().is_some_and(|ix| {
        ix.iter().any(|i| {
            i["IndexName"].as_str() == Some(keys::AUDIT_ODOO_INDEX)
                && i["KeySchema"][0]["AttributeName"].as_str() == Some(keys::AUDIT_ODOO_KEY)
                && i["KeySchema"][1]["AttributeName"].as_str() == Some(keys::SORT_KEY)
        })
    });
    if !has_index {
        out.push(format!("AuditTable lacks the {} index on {}", keys::AUDIT_ODOO_INDEX, keys::AUDIT_ODOO_KEY));
    }

    // An audit entry is a PutItem and its hour's activity count an UpdateItem (`DynamoAudit::append`).
    for (id, function) in of_type(t, "AWS::Serverless::Function") {
        for policy in function["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default() {
            for statement in policy["Statement"].as_sequence().cloned().unwrap_or_default() {
                let on_audit = serde_yaml::to_string(&statement["Resource"]).unwrap_or_default().contains("AuditTable");
                let actions = serde_yaml::to_string(&statement["Action"]).unwrap_or_default();
                if on_audit && actions.contains("dynamodb:PutItem") && !actions.contains("dynamodb:UpdateItem") {
                    out.push(format!(
                        "{id}: appends to the audit table without dynamodb:UpdateItem for its activity counts"
                    ));
                }
            }
        }
    }

    for (id, policy) in of_type(t, "AWS::IAM::ManagedPolicy") {
        for statement in policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().cloned().unwrap_or_default()
        {
            let actions: Vec<String> = match &statement["Action"] {
                Value::Sequence(s) => s.iter().filter_map(|a| a.as_str().map(String::from)).collect(),
                Value::String(s) => vec![s.clone()],
                _ => vec![],
            };
            if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                let resource = match &statement["Resource"] {
                    Value::Tagged(t) => t.value.as_str().unwrap_or_default().to_string(),
                    other => other.as_str().unwrap_or_default().to_string(),
                };
                if actions != ["secretsmanager:GetSecretValue"] || !resource.ends_with(":secret:${SecretsPrefix}/*") {
                    out.push(format!(
                        "{id}: secrets access {actions:?} on {resource:?} is wider than the project's prefix"
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn the_template_pins_what_lint_misses() {
    let problems = problems(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A function as later issues will add them, consuming the records queue.
fn with_poster(edit: impl FnOnce(&mut Value)) -> Value {
    let mut t = template();
    let poster: Value = serde_yaml::from_str(
        r#"
Type: AWS::Serverless::Function
Metadata:
  BuildMethod: rust-cargolambda
Properties:
  CodeUri: functions/poster
  Events:
    Records:
      Type: SQS
      Properties:
        Queue: !GetAtt RecordsQueue.Arn
        BatchSize: 10
        FunctionResponseTypes: [ReportBatchItemFailures]
"#,
    )
    .unwrap();
    t["Resources"].as_mapping_mut().unwrap().insert("Poster".into(), poster);
    edit(&mut t);
    t
}

#[test]
fn a_well_formed_consumer_passes() {
    assert_eq!(problems(&with_poster(|_| {})), Vec::<String>::new());
}

#[test]
fn each_thing_lint_misses_is_caught() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("runtime", Box::new(|t| t["Resources"]["Poster"]["Properties"]["Runtime"] = "provided.al2".into())),
        (
            "architectures",
            Box::new(|t| {
                t["Resources"]["Poster"]["Properties"]["Architectures"] = serde_yaml::from_str("[x86_64]").unwrap()
            }),
        ),
        ("BuildMethod", Box::new(|t| t["Resources"]["Poster"]["Metadata"]["BuildMethod"] = "makefile".into())),
        (
            "BatchSize 11",
            Box::new(|t| {
                t["Resources"]["Poster"]["Properties"]["Events"]["Records"]["Properties"]["BatchSize"] = 11.into()
            }),
        ),
        (
            "BatchSize 0",
            Box::new(|t| {
                t["Resources"]["Poster"]["Properties"]["Events"]["Records"]["Properties"]["BatchSize"] = 0.into()
            }),
        ),
        (
            "batching window",
            Box::new(|t| {
                t["Resources"]["Poster"]["Properties"]["Events"]["Records"]["Properties"]["MaximumBatchingWindowInSeconds"] =
                    5.into()
            }),
        ),
        (
            "ReportBatchItemFailures",
            Box::new(|t| {
                t["Resources"]["Poster"]["Properties"]["Events"]["Records"]["Properties"]
                    .as_mapping_mut()
                    .unwrap()
                    .remove("FunctionResponseTypes");
            }),
        ),
        ("visibility", Box::new(|t| t["Resources"]["Poster"]["Properties"]["Timeout"] = 31.into())),
        ("global runtime", Box::new(|t| t["Globals"]["Function"]["Runtime"] = "nodejs22.x".into())),
        (
            "dead-letter FIFO",
            Box::new(|t| {
                t["Resources"]["RecordsDeadLetterQueue"]["Properties"].as_mapping_mut().unwrap().remove("FifoQueue");
            }),
        ),
        (
            "PITR",
            Box::new(|t| {
                t["Resources"]["StateTable"]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] =
                    false.into()
            }),
        ),
        (
            "TTL",
            Box::new(|t| {
                t["Resources"]["AuditTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl".into()
            }),
        ),
        (
            "key schema",
            Box::new(|t| t["Resources"]["StateTable"]["Properties"]["KeySchema"][0]["AttributeName"] = "id".into()),
        ),
        (
            "audit index",
            Box::new(|t| {
                t["Resources"]["AuditTable"]["Properties"]["GlobalSecondaryIndexes"][0]["IndexName"] = "odoo".into()
            }),
        ),
        (
            "secrets scope",
            Box::new(|t| {
                let statement =
                    &mut t["Resources"]["ConnectionSecretsReadPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
                statement["Resource"] = "*".into();
            }),
        ),
        (
            "an undeployed function crate",
            Box::new(|t| {
                t["Resources"].as_mapping_mut().unwrap().remove("FetcherFunction");
            }),
        ),
        (
            "a binary that does not exist",
            Box::new(|t| t["Resources"]["PosterFunction"]["Metadata"]["BuildProperties"]["Binary"] = "postr".into()),
        ),
    ];
    for (what, edit) in cases {
        let found = problems(&with_poster(edit));
        assert!(!found.is_empty(), "a broken {what} went unnoticed");
    }
}

#[test]
fn an_audit_writer_without_update_item_is_caught() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let narrowed = text.replacen("Action: [dynamodb:PutItem, dynamodb:UpdateItem]", "Action: [dynamodb:PutItem]", 1);
    assert_ne!(narrowed, text, "the template grants the audit writers PutItem and UpdateItem together");
    let problems = problems(&serde_yaml::from_str(&narrowed).unwrap());
    assert!(problems.iter().any(|p| p.contains("without dynamodb:UpdateItem")), "{problems:#?}");
}
