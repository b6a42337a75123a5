//! Commands that read or act on what happened: trace, failed, replay — on this machine's state,
//! or with `--aws` on a deployed stack.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use shared::aws::{DeployedStack, Redriven};
use shared::ids::{ConnectionId, SourceId};
use shared::local::LocalStack;
use shared::ports::*;
use shared::records::EntityKind;

use crate::connection::pick;
use crate::output;

#[derive(Subcommand)]
pub enum FailedCommand {
    /// Lists records that could not post, with the reason (the audit trail has the rest).
    ///
    /// With --aws it reads a deployed stack; export its outputs first:
    /// MLC_CONNECTIONS_TABLE, MLC_STATE_TABLE, MLC_AUDIT_TABLE, MLC_QUEUE_URL, MLC_DLQ_URL
    /// (and AWS credentials and region as for the AWS CLI).
    ///
    /// Example: mlc failed list        mlc failed list --aws --connection shop
    List {
        #[arg(long)]
        aws: bool,
    },
}

/// The connections a command looks in: the one named, or every one (a machine may hold a
/// WooCommerce and a BigCommerce connection; a record id says which by where it is found).
async fn connections_for(stack: &LocalStack, name: Option<&str>) -> Result<Vec<Connection>> {
    if name.is_some() {
        return Ok(vec![pick(stack, name).await?]);
    }
    let all = stack.store.connections().await?;
    if all.is_empty() {
        return Err(shared::Error::bad_input("there is no connection yet: add one with `mlc connection add`").into());
    }
    Ok(all)
}

/// A record's journey: by store order id (`1042`), Odoo move id (`account.move:17`) or Odoo
/// move name (`INV/2026/00017`, looked up in Odoo). Without --connection, the one connection
/// whose trail has it.
pub async fn trace(dir: &Path, name: Option<&str>, what: &str, json: bool) -> Result<()> {
    let stack = LocalStack::open(dir, false)?;
    let mut found = Vec::new();
    let connections = connections_for(&stack, name).await?;
    let several = connections.len() > 1;
    for connection in connections {
        let (store, secrets) = (stack.store.as_ref(), stack.secrets.as_ref());
        let entries = shared::lookup::trail_of(store, store, secrets, &connection, what, several).await?;
        if !entries.is_empty() {
            found.push((connection.id, entries));
        }
    }
    let entries = match found.len() {
        0 => {
            let on = name.map(|n| format!(" on {n}")).unwrap_or_default();
            return Err(shared::Error::bad_input(format!("nothing in the audit trail for {what}{on}")).into());
        }
        1 => found.pop().expect("one").1,
        _ => {
            let names = found.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>().join(", ");
            return Err(shared::Error::bad_input(format!(
                "{what} is in the trail of {names}: say which with --connection"
            ))
            .into());
        }
    };
    if json {
        return output::json(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("{} {}", e.kind, e.source_id),
                format!("{:?}", e.stage),
                e.odoo.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
                e.message.clone(),
            ]
        })
        .collect();
    output::table(&["WHEN (UTC)", "RECORD", "STAGE", "ODOO", "WHAT HAPPENED"], &rows);
    Ok(())
}

fn failed_rows(records: &[FailedRecord]) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            vec![
                format!("{} {}", r.kind, r.source_id),
                r.failed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.class.clone(),
                r.reason.clone(),
            ]
        })
        .collect()
}

fn print_failed(connection: &str, records: &[FailedRecord], json: bool) -> Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| serde_json::json!({ "connection": r.connection_id, "kind": r.kind, "source_id": r.source_id, "failed_at": r.failed_at, "class": r.class, "reason": r.reason }))
            .collect();
        return output::json(&rows);
    }
    if records.is_empty() {
        println!("no failed records on {connection}");
        return Ok(());
    }
    output::table(&["RECORD", "FAILED AT (UTC)", "CLASS", "WHY"], &failed_rows(records));
    println!("\nfix the rule or the data, then `mlc replay <id>` or `mlc replay --all`");
    Ok(())
}

/// The connection on a deployed stack: named, or the only one.
async fn aws_connection(stack: &DeployedStack, name: Option<&str>) -> Result<Connection> {
    let all = stack.connections.connections().await?;
    match name {
        Some(n) => {
            let id = ConnectionId::parse(n)?;
            Ok(all
                .into_iter()
                .find(|c| c.id == id)
                .ok_or_else(|| shared::Error::bad_input(format!("the stack has no connection {n}")))?)
        }
        None if all.len() == 1 => Ok(all.into_iter().next().expect("one")),
        None => Err(shared::Error::bad_input("say which connection with --connection").into()),
    }
}

pub async fn failed(dir: &Path, name: Option<&str>, command: FailedCommand, json: bool) -> Result<()> {
    let FailedCommand::List { aws } = command;
    if aws {
        let stack = DeployedStack::from_env().await?;
        let connection = aws_connection(&stack, name).await?;
        let records = stack.state.failed(&connection.id).await?;
        return print_failed(connection.id.as_str(), &records, json);
    }
    let stack = LocalStack::open(dir, false)?;
    let connections = connections_for(&stack, name).await?;
    let mut records = Vec::new();
    for connection in &connections {
        records.extend(stack.store.failed(&connection.id).await?);
        records.extend(dead_lettered(&stack, connection).await?);
    }
    let on = match connections.as_slice() {
        [one] => one.id.to_string(),
        _ => "any connection".to_string(),
    };
    print_failed(&on, &records, json)
}

/// What sits in the dead-letter queue, as failed records with the last error their trail gives;
/// `mlc replay --all` sends them back.
async fn dead_lettered(stack: &LocalStack, connection: &Connection) -> Result<Vec<FailedRecord>> {
    let mut out = Vec::new();
    for body in stack.dead_letters.peek(1000).await? {
        let Ok(envelope) = shared::records::Envelope::from_json(&body) else { continue };
        if envelope.connection_id != connection.id {
            continue;
        }
        let trail = stack.store.by_source(&connection.id, envelope.kind(), &envelope.source_id).await?;
        let last = trail
            .iter()
            .rev()
            .find(|e| e.stage == AuditStage::Failed)
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "no error was recorded".into());
        out.push(FailedRecord {
            connection_id: connection.id.clone(),
            kind: envelope.kind(),
            source_id: envelope.source_id.clone(),
            trace_id: envelope.trace_id,
            failed_at: trail.last().map(|e| e.at).unwrap_or(envelope.received_at),
            class: "dead-lettered".into(),
            reason: format!("in the dead-letter queue after {}; `mlc replay --all` sends it back", last),
            body,
        });
    }
    Ok(out)
}

pub async fn replay(
    dir: &Path,
    name: Option<&str>,
    record: Option<&str>,
    all: bool,
    aws: bool,
    json: bool,
) -> Result<()> {
    let only = match (record, all) {
        (Some(id), false) => Some(SourceId::parse(id)?),
        (None, true) => None,
        _ => return Err(shared::Error::bad_input("say which record to replay, or --all").into()),
    };
    let only_ref = only.as_ref().map(|s| (EntityKind::Order, s));
    let (count, redriven, connection) = if aws {
        let stack = DeployedStack::from_env().await?;
        let connection = aws_connection(&stack, name).await?;
        let count = shared::poster::replay(&stack.state, &stack.queue, &stack.audit, &connection, only_ref).await?;
        let redriven =
            if all { Some(shared::aws::redrive_dead_letters(&stack.dead_letters, &stack.queue).await?) } else { None };
        (count, redriven, connection.id.to_string())
    } else {
        let stack = LocalStack::open(dir, false)?;
        let connections = connections_for(&stack, name).await?;
        let mut count = 0;
        for connection in &connections {
            count += shared::poster::replay(
                stack.store.as_ref(),
                stack.queue.as_ref(),
                stack.store.as_ref(),
                connection,
                only_ref,
            )
            .await?;
        }
        // A record in the dead-letter queue is replayed by its id too (sent back, taken out).
        if let (Some(source), 0) = (&only, count) {
            let ids: Vec<ConnectionId> = connections.iter().map(|c| c.id.clone()).collect();
            let source = source.clone();
            let taken = stack
                .dead_letters
                .take_matching(move |body| {
                    shared::records::Envelope::from_json(body)
                        .is_ok_and(|e| e.source_id == source && ids.contains(&e.connection_id))
                })
                .await?;
            for body in &taken {
                let envelope = shared::records::Envelope::from_json(body)?;
                let mut message = shared::ports::OutgoingMessage::for_envelope(&envelope);
                message.deduplication_id =
                    format!("replay:{}:{}", envelope.trace_id, chrono::Utc::now().timestamp_micros());
                stack.queue.send_batch(&[message]).await?;
            }
            count += taken.len();
        }
        let connection = match connections.as_slice() {
            [one] => one.id.to_string(),
            _ => "any connection".to_string(),
        };
        let redriven = if all {
            Some(Redriven::Moved(shared::poster::redrive(stack.dead_letters.as_ref(), stack.queue.as_ref()).await?))
        } else {
            None
        };
        (count, redriven, connection)
    };
    if let (Some(id), 0) = (record, count) {
        return Err(shared::Error::bad_input(format!("{id} is not a failed record on {connection}")).into());
    }
    if json {
        let redrive = match &redriven {
            Some(Redriven::Task { handle }) => serde_json::json!({ "task": handle }),
            Some(Redriven::Moved(n)) => serde_json::json!({ "moved": n }),
            None => serde_json::Value::Null,
        };
        return output::json(&serde_json::json!({ "replayed": count, "dead_letters": redrive }));
    }
    println!("queued {count} failed record(s) again; the poster takes them from the queue (each posts once)");
    match redriven {
        Some(Redriven::Task { handle }) => {
            println!("dead-letter queue: SQS is moving its messages back (task {handle})")
        }
        Some(Redriven::Moved(n)) => println!("dead-letter queue: {n} message(s) moved back to the queue"),
        None => {}
    }
    Ok(())
}
