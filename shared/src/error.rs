//! The error every port and boundary returns, classified so callers know what to do with it:
//! retry later, give up and record why, or tell the sender its input was wrong.

use std::fmt;

/// What a caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later (network, throttling, 5xx, lock contention): the same input may succeed.
    Retryable,
    /// Retrying the same input cannot help (validation, missing configuration): record it for review.
    Permanent,
    /// The input itself is malformed; the sender must fix it.
    BadInput,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Permanent => "permanent",
            ErrorClass::BadInput => "bad input",
        })
    }
}

/// A classified failure. Inside adapters, build context with `anyhow`; at the boundary, pick the class.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    #[error("{0:#} (will retry)")]
    Retryable(anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::BadInput(_) => ErrorClass::BadInput,
            Error::Permanent(_) => ErrorClass::Permanent,
            Error::Retryable(_) => ErrorClass::Retryable,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }

    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        Error::Permanent(error.into())
    }

    pub fn retryable(error: impl Into<anyhow::Error>) -> Self {
        Error::Retryable(error.into())
    }

    /// The same class and message, for when one failure must be reported for several records.
    pub fn duplicate(&self) -> Self {
        match self {
            Error::BadInput(message) => Error::BadInput(message.clone()),
            Error::Permanent(e) => Error::Permanent(anyhow::anyhow!("{e:#}")),
            Error::Retryable(e) => Error::Retryable(anyhow::anyhow!("{e:#}")),
        }
    }

    /// Adds a line of context, keeping the class.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        match self {
            Error::BadInput(message) => Error::BadInput(format!("{context}: {message}")),
            Error::Permanent(e) => Error::Permanent(e.context(context)),
            Error::Retryable(e) => Error::Retryable(e.context(context)),
        }
    }
}

/// Attaches context to a `Result<_, Error>` without losing its class.
pub trait ResultExt<T> {
    fn context_class(self, context: impl fmt::Display + Send + Sync + 'static) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context_class(self, context: impl fmt::Display + Send + Sync + 'static) -> Result<T> {
        self.map_err(|e| e.context(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_class_and_reads_outside_in() {
        let e = Error::retryable(anyhow::anyhow!("connection reset")).context("sending to the queue");
        assert_eq!(e.class(), ErrorClass::Retryable);
        assert_eq!(e.to_string(), "sending to the queue: connection reset (will retry)");

        let copy = e.duplicate();
        assert_eq!((copy.class(), copy.to_string()), (e.class(), e.to_string()));

        let e = Error::bad_input("total is not a number").context("order 42");
        assert_eq!(e.class(), ErrorClass::BadInput);
        assert_eq!(e.to_string(), "bad input: order 42: total is not a number");
    }
}
