//! Reading what changed in Odoo since the last poll: Odoo has no production webhooks, so the way
//! back to the stores starts here. A record's `write_date` is its transaction's start, to the
//! second, so one transaction gives many records the same value, and a long transaction can
//! commit records older than the last ones read. So the mark is `(write_date, id)`, pages go by
//! keyset in that order (never by offset, which skips records when others change meanwhile), and
//! each poll reads again an overlap before the mark; what it read before is flagged, for the
//! caller to drop by its content hash.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::{OdooClient, OdooError, Val};
use crate::ports::Watermark;

const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// How far a model has been read: the last record's `write_date` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangeMark {
    pub write_date: NaiveDateTime,
    pub id: i64,
}

impl ChangeMark {
    pub fn of_row(row: &Val) -> Option<ChangeMark> {
        let text = row.get("write_date")?.as_str()?;
        let write_date = NaiveDateTime::parse_from_str(text.get(..19)?, FORMAT).ok()?;
        Some(ChangeMark { write_date, id: row.get("id")?.as_i64()? })
    }

    /// As the sync state keeps it: `at` is the `write_date` (UTC), the cursor the id.
    pub fn to_watermark(self) -> Watermark {
        Watermark { at: self.write_date.and_utc(), cursor: Some(self.id.to_string()) }
    }

    pub fn from_watermark(mark: &Watermark) -> ChangeMark {
        let id = mark.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        ChangeMark { write_date: mark.at.naive_utc(), id }
    }
}

/// What to read of one model.
#[derive(Debug, Clone)]
pub struct ChangeQuery<'a> {
    pub model: &'a str,
    pub fields: &'a [&'a str],
    /// Leaves and-ed with the change window (`[("state", "=", "done")]`, say).
    pub filter: Vec<Val>,
    /// Read again before the mark, for transactions that committed late.
    pub overlap: Duration,
    pub page_size: u32,
}

/// One changed record, and whether it is at or before the mark it was read from: read again by
/// the overlap, it was either seen already or committed late by a long transaction, and only its
/// content (against the hash last synced) tells which.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub row: Val,
    pub mark: ChangeMark,
    pub before_mark: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub changes: Vec<Change>,
    /// The mark to keep once these are handled: the greatest seen (or the one read from).
    pub mark: Option<ChangeMark>,
    pub requests: u32,
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn text(at: NaiveDateTime) -> Val {
    Val::from(at.format(FORMAT).to_string())
}

/// After `last`: `(write_date, id) > last`, as a domain.
fn after(last: ChangeMark) -> Vec<Val> {
    vec![
        Val::from("|"),
        leaf("write_date", ">", text(last.write_date)),
        Val::from("&"),
        leaf("write_date", "=", text(last.write_date)),
        leaf("id", ">", Val::Int(last.id)),
    ]
}

/// Every record of `query.model` changed since `since` (all of them when `None`), oldest first,
/// read `page_size` at a time; `until` caps what is read (records written after it wait for the
/// next poll, so a poll ends).
pub async fn read_changes(
    client: &OdooClient,
    query: &ChangeQuery<'_>,
    since: Option<ChangeMark>,
    until: DateTime<Utc>,
) -> Result<Changes, OdooError> {
    let mut fields: Vec<&str> = query.fields.to_vec();
    for needed in ["id", "write_date"] {
        if !fields.contains(&needed) {
            fields.push(needed);
        }
    }
    let mut window = query.filter.clone();
    window.push(leaf("write_date", "<=", text(until.naive_utc())));
    if let Some(since) = since {
        window.push(leaf("write_date", ">=", text(since.write_date - query.overlap)));
    }
    let mut out = Changes { changes: Vec::new(), mark: since, requests: 0 };
    let mut last: Option<ChangeMark> = None;
    loop {
        let mut domain = window.clone();
        if let Some(last) = last {
            domain.extend(after(last));
        }
        let rows = client
            .search_read(query.model, Val::List(domain), &fields, Some(query.page_size), Some("write_date asc, id asc"))
            .await?;
        out.requests += 1;
        let full = rows.len() as u32 >= query.page_size;
        for row in rows {
            let Some(mark) = ChangeMark::of_row(&row) else {
                return Err(OdooError::protocol(format!("a {} row without id or write_date", query.model)));
            };
            last = Some(mark);
            out.mark = out.mark.max(Some(mark));
            out.changes.push(Change { before_mark: since.is_some_and(|s| mark <= s), mark, row });
        }
        if !full || last.is_none() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_order_by_write_date_then_id_and_survive_the_sync_state() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, FORMAT).unwrap();
        let a = ChangeMark { write_date: at("2026-12-03 10:00:00"), id: 9 };
        let b = ChangeMark { write_date: at("2026-12-03 10:00:00"), id: 10 };
        let c = ChangeMark { write_date: at("2026-12-03 10:00:01"), id: 1 };
        assert!(a < b && b < c);
        assert_eq!(ChangeMark::from_watermark(&b.to_watermark()), b);
        let row = Val::map([("id", Val::Int(10)), ("write_date", Val::from("2026-12-03 10:00:00"))]);
        assert_eq!(ChangeMark::of_row(&row), Some(b));
        assert_eq!(ChangeMark::of_row(&Val::map([("id", Val::Int(1))])), None);
    }
}
