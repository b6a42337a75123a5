//! One retry policy for every outside system: exponential backoff with jitter, never shorter
//! than what the server asked for (`Retry-After`, `X-Retry-After`, or a spent quota's reset time).

use std::time::Duration;

use rand::Rng as _;
use reqwest::header::HeaderMap;

/// The longest wait a server can impose on one retry; past it the work is better left queued.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(120);

/// Exponential backoff with jitter; a server's requested wait is honoured when longer.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, base_delay: Duration::from_millis(250), max_delay: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// A single attempt: for health checks, where waiting helps nobody.
    pub fn once() -> Self {
        RetryPolicy { attempts: 1, ..RetryPolicy::default() }
    }

    /// The wait before retry number `retry` (0-based), given what the server asked for.
    pub fn delay(&self, retry: u32, server_wait: Option<Duration>) -> Duration {
        let ceiling = self.base_delay.saturating_mul(2u32.saturating_pow(retry)).min(self.max_delay);
        let jittered = Duration::from_micros(rand::rng().random_range(0..=ceiling.as_micros() as u64));
        // Never less than half the ceiling: pure full jitter can retry at once, which a
        // struggling server does not need.
        let backoff = jittered.max(ceiling / 2);
        server_wait.map_or(backoff, |wait| wait.min(MAX_SERVER_WAIT).max(backoff))
    }
}

/// One attempt of a request, as a client classifies it.
pub enum Attempt<T> {
    Done(T),
    /// Worth another try, after `wait` if the server named one. `refused`: the server answered
    /// without doing anything (a 429), so even a write may be sent again.
    Retry {
        error: crate::Error,
        wait: Option<Duration>,
        refused: bool,
    },
}

/// Runs `attempt` until it is done or the policy's attempts are spent. A read is always tried
/// again; a write only when it was refused unprocessed: a 5xx or a lost answer to a write may
/// have been applied, so it is the caller's to look before sending it again.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, read: bool, who: &str, mut attempt: F) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<Attempt<T>>>,
{
    let mut retry = 0;
    loop {
        match attempt().await? {
            Attempt::Done(t) => return Ok(t),
            Attempt::Retry { error, wait, refused } if retry + 1 < policy.attempts && (read || refused) => {
                let wait = policy.delay(retry, wait);
                tracing::warn!(%error, wait_ms = wait.as_millis() as u64, "{who} asked us to wait or failed; retrying");
                tokio::time::sleep(wait).await;
                retry += 1;
            }
            Attempt::Retry { error, .. } => return Err(error),
        }
    }
}

/// What the server asked us to wait, from whichever header it uses: `Retry-After` (seconds or an
/// HTTP date), `X-Retry-After` (seconds), or, when the quota is spent (`X-Rate-Limit-Requests-Left:
/// 0`, or on a 429), `X-Rate-Limit-Time-Reset-Ms`. The longest one wins.
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let seconds = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    let retry_after = seconds("retry-after").or_else(|| {
        let date = chrono::DateTime::parse_from_rfc2822(text("retry-after")?).ok()?;
        (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
    });
    let spent = text("x-rate-limit-requests-left").is_none_or(|left| left == "0");
    let reset = text("x-rate-limit-time-reset-ms")
        .filter(|_| spent)
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    [retry_after, seconds("x-retry-after"), reset].into_iter().flatten().max()
}

/// How much of the quota is left, when the server says (`X-Rate-Limit-Requests-Left`), with the
/// time until it refreshes: a client that sees it low can slow down before it is refused.
pub fn quota_left(headers: &HeaderMap) -> Option<(u64, Duration)> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    Some((number("x-rate-limit-requests-left")?, Duration::from_millis(number("x-rate-limit-time-reset-ms")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_server_wait_is_read_from_whichever_header_the_server_uses() {
        assert_eq!(server_wait(&headers(&[("retry-after", "7")])), Some(Duration::from_secs(7)));
        assert_eq!(server_wait(&headers(&[("x-retry-after", "3")])), Some(Duration::from_secs(3)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let from_date = server_wait(&headers(&[("retry-after", &later)])).unwrap();
        assert!(from_date > Duration::from_secs(25) && from_date <= Duration::from_secs(30), "{from_date:?}");
        // A quota that is spent waits for its reset; one with requests left does not.
        let spent = headers(&[("x-rate-limit-requests-left", "0"), ("x-rate-limit-time-reset-ms", "4500")]);
        assert_eq!(server_wait(&spent), Some(Duration::from_millis(4500)));
        let left = headers(&[("x-rate-limit-requests-left", "12"), ("x-rate-limit-time-reset-ms", "4500")]);
        assert_eq!(server_wait(&left), None);
        assert_eq!(quota_left(&left), Some((12, Duration::from_millis(4500))));
        assert_eq!(server_wait(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_never_undercuts_the_server() {
        let policy = RetryPolicy::default();
        for retry in 0..8 {
            let d = policy.delay(retry, None);
            let ceiling = policy.base_delay.saturating_mul(2u32.pow(retry)).min(policy.max_delay);
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
        }
        assert_eq!(policy.delay(0, Some(Duration::from_secs(9))), Duration::from_secs(9));
        assert_eq!(policy.delay(0, Some(Duration::from_secs(9999))), MAX_SERVER_WAIT);
    }
}
