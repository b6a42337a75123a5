//! What an unauthenticated request may leave behind. Anyone can send a webhook endpoint bad
//! signatures or huge bodies, so the audit trail keeps one entry per connection, reason and
//! minute, and that entry says how many like it came before it without an entry of their own.
//! Fields copied from such a request are cut to a few bytes ([`bounded`]).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::ids::ConnectionId;

/// At most this many bytes of a header an unauthenticated sender chose are kept.
pub const KEPT_HEADER_BYTES: usize = 64;
/// Keys kept at most; past it the oldest minute's keys are forgotten (their counts are logged).
const MAX_KEYS: usize = 4096;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// An id a sender chose, fit for keys and audit references: kept as it is when short and
/// printable, otherwise replaced by its SHA-256 (so it still deduplicates).
pub fn bounded_id(raw: &str) -> String {
    if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_graphic()) {
        raw.to_string()
    } else {
        format!("sha256-{}", hex::encode(Sha256::digest(raw.as_bytes())))
    }
}

/// Whether to write an audit entry for a refusal now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Write one; `earlier` refusals like it since the last entry were only counted.
    Record { earlier: u64 },
    /// Counted; an entry for this reason and connection was written this minute.
    Counted,
}

#[derive(Default)]
struct Window {
    minute: i64,
    counted: u64,
}

/// Per-process budget of refusal entries: one per connection, reason and minute.
#[derive(Default)]
pub struct RefusalBudget {
    windows: Mutex<HashMap<(ConnectionId, &'static str), Window>>,
}

impl RefusalBudget {
    pub fn admit(&self, connection: &ConnectionId, reason: &'static str, now: DateTime<Utc>) -> Refusal {
        let minute = now.timestamp().div_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS && !windows.contains_key(&(connection.clone(), reason)) {
            let dropped: u64 = windows.values().map(|w| w.counted).sum();
            tracing::warn!(dropped, "refusal counters reset: too many distinct connections refused at once");
            windows.clear();
        }
        let window =
            windows.entry((connection.clone(), reason)).or_insert_with(|| Window { minute: i64::MIN, counted: 0 });
        if window.minute == minute {
            window.counted += 1;
            return Refusal::Counted;
        }
        let earlier = std::mem::take(&mut window.counted);
        window.minute = minute;
        Refusal::Record { earlier }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_entry_per_connection_reason_and_minute_and_the_next_one_counts_the_rest() {
        let budget = RefusalBudget::default();
        let (a, b) = (ConnectionId::parse("a").unwrap(), ConnectionId::parse("b").unwrap());
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 5).unwrap();
        assert_eq!(budget.admit(&a, "signature", t), Refusal::Record { earlier: 0 });
        for _ in 0..199 {
            assert_eq!(budget.admit(&a, "signature", t), Refusal::Counted);
        }
        assert_eq!(budget.admit(&a, "size", t), Refusal::Record { earlier: 0 });
        assert_eq!(budget.admit(&b, "signature", t), Refusal::Record { earlier: 0 });
        let later = t + chrono::Duration::seconds(60);
        assert_eq!(budget.admit(&a, "signature", later), Refusal::Record { earlier: 199 });
        assert_eq!(budget.admit(&a, "signature", later), Refusal::Counted);
    }

    #[test]
    fn sender_chosen_text_is_cut_and_long_ids_are_hashed() {
        assert_eq!(bounded("order.created", 64), "order.created");
        let long = "é".repeat(100);
        let cut = bounded(&long, 64);
        assert!(cut.len() <= 64 + "…".len() && cut.ends_with('…'));
        assert_eq!(bounded_id("8f1c-42"), "8f1c-42");
        let hashed = bounded_id(&"x".repeat(600));
        assert!(hashed.starts_with("sha256-") && hashed.len() == 7 + 64);
        assert_ne!(bounded_id("a b"), "a b");
        assert_eq!(bounded_id(&"x".repeat(600)), hashed, "stable, so it still deduplicates");
    }
}
