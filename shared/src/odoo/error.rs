//! What can go wrong talking to Odoo, in classes both transports map onto. Messages are Odoo's own
//! (a finance user can act on "The field 'Customer' is required"); API keys never appear in them,
//! because no request body, header or URL with a key is ever formatted into an error.

use std::time::Duration;

use super::value::Val;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdooError {
    /// Bad login, API key or database.
    #[error("Odoo refused the credentials: {message}")]
    Auth { message: String },
    /// The user may not do this (`AccessError`), or the method is private.
    #[error("Odoo access error: {message}")]
    Access { message: String },
    /// Odoo refused the data (`UserError`, `ValidationError`): permanent, message kept.
    #[error("Odoo refused: {message}")]
    Validation { message: String },
    /// A record that was referenced does not exist (`MissingError`).
    #[error("Odoo record missing: {message}")]
    MissingRecord { message: String },
    /// Worth retrying: 5xx, 429, timeouts, resets, PostgreSQL serialization failures.
    #[error("Odoo temporarily unavailable: {message}")]
    Transient { message: String, retry_after: Option<Duration> },
    /// The request went out but no answer came (a timeout, a dropped connection, a gateway's 502
    /// or 504): Odoo may or may not have done it. Reads retry it; writes do not, so a create is
    /// never sent twice — the caller finds out what happened (a move's marker) before trying again.
    #[error("Odoo did not answer; the call may have taken effect: {message}")]
    Ambiguous { message: String },
    /// The URL is refused before any request (scheme, SSRF guard).
    #[error("Odoo URL refused: {message}")]
    Endpoint { message: String },
    /// Anything else: unknown model or method, an application error, a malformed answer.
    #[error("Odoo error: {message}")]
    Protocol { message: String },
}

impl OdooError {
    /// Worth trying again later (for a write that was ambiguous: after finding out what happened).
    pub fn is_transient(&self) -> bool {
        matches!(self, OdooError::Transient { .. } | OdooError::Ambiguous { .. })
    }

    pub fn is_ambiguous(&self) -> bool {
        matches!(self, OdooError::Ambiguous { .. })
    }

    pub fn transient(message: impl Into<String>) -> Self {
        OdooError::Transient { message: message.into(), retry_after: None }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        OdooError::Protocol { message: message.into() }
    }
}

impl From<OdooError> for Error {
    fn from(e: OdooError) -> Error {
        match e {
            OdooError::Transient { .. } | OdooError::Ambiguous { .. } => Error::retryable(e),
            _ => Error::permanent(e),
        }
    }
}

/// PostgreSQL concurrency failures Odoo lets through as application errors: retrying is right.
fn is_concurrency_failure(text: &str) -> bool {
    [
        "SerializationFailure",
        "could not serialize access",
        "TransactionRollbackError",
        "LockNotAvailable",
        "DeadlockDetected",
        "deadlock detected",
        "ConcurrencyError",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The last line of a Python traceback is the exception; keep that, not the whole stack.
fn last_line(text: &str) -> String {
    text.trim_end().lines().last().unwrap_or(text).trim().to_string()
}

/// Maps an XML-RPC fault. `/xmlrpc/2` uses integer codes (1 application error, 2 `UserError`,
/// 3 `AccessDenied`, 4 `AccessError`); the legacy `/xmlrpc` uses strings ("warning -- …", "AccessDenied").
pub fn from_fault(code: &Val, message: &str) -> OdooError {
    let text = message.to_string();
    if is_concurrency_failure(&text) {
        return OdooError::transient(last_line(&text));
    }
    match code {
        Val::Int(2) => user_error(&text),
        Val::Int(3) => OdooError::Auth { message: text },
        Val::Int(4) => OdooError::Access { message: text },
        Val::Int(1) => application_error(&text),
        Val::Str(s) if s == "AccessDenied" => OdooError::Auth { message: "Access Denied".into() },
        Val::Str(s) if s.starts_with("warning -- ") => user_error(s.trim_start_matches("warning -- ").trim()),
        Val::Str(s) if s.starts_with("AccessError") => OdooError::Access { message: s.clone() },
        _ => application_error(&text),
    }
}

fn user_error(message: &str) -> OdooError {
    if message.contains("does not exist or has been deleted") {
        OdooError::MissingRecord { message: message.to_string() }
    } else {
        OdooError::Validation { message: message.to_string() }
    }
}

fn application_error(traceback: &str) -> OdooError {
    let last = last_line(traceback);
    if last.contains("database") && last.contains("does not exist") {
        OdooError::Auth { message: last }
    } else {
        OdooError::protocol(last)
    }
}

/// Maps a JSON-2 error: the HTTP status plus Odoo's `{"name","message","arguments","context","debug"}` body.
pub fn from_json2(status: u16, body: &str, retry_after: Option<Duration>) -> OdooError {
    let parsed = Val::from_json_str(body).ok();
    let name = parsed.as_ref().and_then(|b| b.get("name")).and_then(Val::as_str).unwrap_or_default().to_string();
    let message = parsed
        .as_ref()
        .and_then(|b| b.get("message"))
        .and_then(Val::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    if is_concurrency_failure(&name) || is_concurrency_failure(&message) {
        return OdooError::Transient { message, retry_after };
    }
    match status {
        401 => OdooError::Auth { message },
        429 => OdooError::Transient { message, retry_after },
        403 if name.ends_with("AccessDenied") => OdooError::Auth { message },
        403 => OdooError::Access { message },
        404 if name.ends_with("MissingError") => OdooError::MissingRecord { message },
        404 if message.to_lowercase().contains("database") => OdooError::Auth { message },
        404 => OdooError::protocol(format!("{message} ({name})")),
        409 => OdooError::Transient { message, retry_after }, // LockError: a record was locked by another transaction
        400 | 405 => OdooError::protocol(message),
        422 if name.is_empty() || name.starts_with("odoo.exceptions.") => OdooError::Validation { message },
        422 => OdooError::protocol(message),
        // A 5xx with Odoo's own error body is an exception in Odoo's code (a bug or bad data): retrying
        // the same call cannot help. A 5xx without one comes from a proxy or a restarting worker.
        500..=599 if !name.is_empty() => OdooError::protocol(format!("{name}: {message}")),
        // A gateway that got no answer from Odoo: Odoo may still have done the work.
        502 | 504 => OdooError::Ambiguous { message },
        500..=599 => OdooError::Transient { message, retry_after },
        _ => OdooError::protocol(format!("HTTP {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_rpc_fault_codes_map_to_classes() {
        assert!(matches!(from_fault(&Val::Int(3), "Access Denied"), OdooError::Auth { .. }));
        assert!(matches!(
            from_fault(&Val::Int(4), "Private methods (such as 'account.move._post') cannot be called remotely."),
            OdooError::Access { .. }
        ));
        assert_eq!(
            from_fault(&Val::Int(2), "The field 'Customer' is required"),
            OdooError::Validation { message: "The field 'Customer' is required".into() }
        );
        assert!(matches!(
            from_fault(&Val::Int(2), "Record does not exist or has been deleted.\n(Record: account.move(9,))"),
            OdooError::MissingRecord { .. }
        ));
        let tb = "Traceback (most recent call last):\n  File \"x\", line 1\npsycopg2.errors.SerializationFailure: could not serialize access due to concurrent update\n";
        assert!(from_fault(&Val::Int(1), tb).is_transient());
        assert_eq!(
            from_fault(&Val::Int(1), "Traceback…\nValueError: Invalid field 'foo' on model 'res.partner'\n"),
            OdooError::protocol("ValueError: Invalid field 'foo' on model 'res.partner'")
        );
        // Legacy /xmlrpc string codes.
        assert!(matches!(from_fault(&Val::from("AccessDenied"), "Access Denied"), OdooError::Auth { .. }));
        assert!(
            matches!(from_fault(&Val::from("warning -- UserError\n\nNo lines"), "x"), OdooError::Validation { message } if message.contains("No lines"))
        );
    }

    #[test]
    fn json2_statuses_and_bodies_map_to_classes() {
        let body = |name: &str, message: &str| {
            format!(
                r#"{{"name":"{name}","message":"{message}","arguments":["{message}"],"context":{{}},"debug":"tb"}}"#
            )
        };
        assert!(matches!(
            from_json2(401, &body("werkzeug.exceptions.Unauthorized", "Invalid apikey"), None),
            OdooError::Auth { .. }
        ));
        assert!(matches!(
            from_json2(422, &body("odoo.exceptions.UserError", "No lines"), None),
            OdooError::Validation { .. }
        ));
        assert!(matches!(
            from_json2(403, &body("odoo.exceptions.AccessError", "Private"), None),
            OdooError::Access { .. }
        ));
        assert!(matches!(
            from_json2(404, &body("odoo.exceptions.MissingError", "gone"), None),
            OdooError::MissingRecord { .. }
        ));
        assert!(matches!(
            from_json2(404, &body("werkzeug.exceptions.NotFound", "no such model"), None),
            OdooError::Protocol { .. }
        ));
        assert!(matches!(
            from_json2(500, &body("builtins.ValueError", "Invalid field"), None),
            OdooError::Protocol { .. }
        ));
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            from_json2(503, "<html>upstream</html>", wait),
            OdooError::Transient { message: "HTTP 503".into(), retry_after: wait }
        );
        assert!(from_json2(429, "", None).is_transient());
        assert!(
            from_json2(500, &body("psycopg2.errors.SerializationFailure", "could not serialize access"), None)
                .is_transient()
        );
        assert_eq!(crate::Error::from(from_json2(502, "", None)).class(), crate::ErrorClass::Retryable);
        assert!(from_json2(502, "<html>bad gateway</html>", None).is_ambiguous());
        assert!(from_json2(504, "", None).is_ambiguous());
        assert!(!from_json2(503, "", None).is_ambiguous());
        assert_eq!(
            crate::Error::from(from_json2(422, &body("odoo.exceptions.ValidationError", "x"), None)).class(),
            crate::ErrorClass::Permanent
        );
    }
}
