//! What the router does with a failure before the first token: which are
//! worth one quick retry of the same model (raced with the next model, so
//! it costs no time), which ask for a short wait first, and which end the
//! route because they are the answer (a refusal).

use std::time::Duration;

use crate::api::{Failure, FailureClass};

/// What to do about a failed attempt, besides moving on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Ask the same model once more now, and start the next model beside it.
    RetryNow,
    /// Ask the same model once more after this wait (a short `Retry-After`).
    RetryAfter(Duration),
    /// The prompt was refused: that is the outcome, stop.
    Stop,
    /// Move on to the next model.
    MoveOn,
}

/// The next step after `failure` of a model not retried yet in this route
/// (`may_retry`), with `route.retry_after_max` = `wait_max` and
/// `route.reroute_refusals` = `reroute`.
pub(super) fn after(failure: &Failure, may_retry: bool, wait_max: Duration, reroute: bool) -> Next {
    match failure.class {
        FailureClass::Refused if !reroute => Next::Stop,
        // A 429 with a short Retry-After is waited out; a longer one (or none)
        // cools the model down, and the next model is tried now.
        FailureClass::RateLimited if may_retry => match failure.retry_after {
            Some(wait) if !wait_max.is_zero() && wait <= wait_max => Next::RetryAfter(wait),
            _ => Next::MoveOn,
        },
        _ if may_retry && transient(failure, wait_max) => Next::RetryNow,
        _ => Next::MoveOn,
    }
}

/// A single 5xx or a reset: likely gone on the next try. A 5xx that asks
/// for a longer wait than we would give a 429, and a refused or unresolvable
/// connection, are not.
fn transient(failure: &Failure, wait_max: Duration) -> bool {
    match failure.class {
        FailureClass::ServerError => failure.retry_after.is_none_or(|wait| wait <= wait_max),
        FailureClass::Connect => {
            let m = failure.message.to_ascii_lowercase();
            ![
                "refused",
                "dns",
                "resolve",
                "certificate",
                "tls",
                "ssl",
                "could not be built",
            ]
            .iter()
            .any(|w| m.contains(w))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(class: FailureClass, message: &str, retry_after: Option<u64>) -> Failure {
        Failure {
            class,
            message: message.into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn what_each_failure_leads_to() {
        let max = Duration::from_secs(2);
        use FailureClass::*;
        let cases = [
            (f(ServerError, "502 upstream", None), true, Next::RetryNow),
            (f(ServerError, "503", Some(1)), true, Next::RetryNow),
            (f(ServerError, "503", Some(30)), true, Next::MoveOn),
            (f(ServerError, "502 upstream", None), false, Next::MoveOn),
            (
                f(Connect, "connection reset by peer", None),
                true,
                Next::RetryNow,
            ),
            (
                f(Connect, "Connection refused (os error 111)", None),
                true,
                Next::MoveOn,
            ),
            (
                f(Connect, "dns error: failed to lookup address", None),
                true,
                Next::MoveOn,
            ),
            (f(RateLimited, "429", Some(2)), true, Next::RetryAfter(max)),
            (f(RateLimited, "429", Some(3)), true, Next::MoveOn),
            (f(RateLimited, "429", None), true, Next::MoveOn),
            (f(RateLimited, "429", Some(1)), false, Next::MoveOn),
            (
                f(Refused, "content_policy_violation", None),
                true,
                Next::Stop,
            ),
            (
                f(Refused, "content_policy_violation", None),
                false,
                Next::Stop,
            ),
            (
                f(BadRequest, "context_length_exceeded", None),
                true,
                Next::MoveOn,
            ),
            (
                f(Timeout, "no first token within 10s", None),
                true,
                Next::MoveOn,
            ),
            (f(Truncated, "cut", None), true, Next::MoveOn),
        ];
        for (failure, may_retry, want) in cases {
            assert_eq!(
                after(&failure, may_retry, max, false),
                want,
                "{failure:?} {may_retry}"
            );
        }
        // Refusals routed around on request; a zero wait never waits.
        assert_eq!(after(&f(Refused, "x", None), true, max, true), Next::MoveOn);
        assert_eq!(
            after(&f(RateLimited, "429", Some(1)), true, Duration::ZERO, false),
            Next::MoveOn
        );
    }
}
