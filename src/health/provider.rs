//! The rollups: models grouped by provider (the part of their id before
//! `/`, the article's rule, else their endpoint's name), by the provider
//! that served them, or by configured endpoint.
//!
//! A group's verdict is made from its models' verdicts and nothing else, and
//! its "n/m ok" counts the same verdicts, so the two can never disagree (a
//! provider is not "unhealthy" beside "2/2 ok"). The window's samples summed
//! over the group are kept beside it as evidence, not as the verdict.

use std::fmt;

use crate::fmt::describe_failure;

use super::window::ratio;
use super::{ModelSnapshot, Status};

/// A provider's rollup over its models.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSnapshot {
    pub provider: String,
    pub models: Vec<String>,
    /// The window's samples summed over its models: evidence, not the verdict.
    pub ok: u32,
    pub counted: u32,
    pub ratio: Option<f64>,
    /// The verdict, from its models' verdicts (see [`verdict`]).
    pub status: Status,
    /// How many of its models are in each status, in [`Status::ALL`] order,
    /// zeros left out.
    pub by_status: Vec<(Status, usize)>,
    /// Some of its models are judged on a recovery: their windows still hold
    /// an outage, so `ratio` is lower than the verdict suggests.
    pub holds_outage: bool,
}

impl ProviderSnapshot {
    /// Models in `status`.
    pub fn count(&self, status: Status) -> usize {
        count_of(&self.by_status, status)
    }

    /// "2/2 ok", "1/3 ok · 1 down · 1 unknown": the verdict's evidence.
    pub fn models_words(&self) -> String {
        models_words(&self.by_status, self.models.len())
    }
}

/// How to group models into providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKey {
    /// The part of the model id before `/` (the article's rule), else the
    /// endpoint's name ([`ModelSnapshot::provider`]).
    IdPrefix,
    /// The serving provider that responses name (OpenRouter's `provider`).
    ServedBy,
}

/// Rolls model snapshots up by provider, in first-seen order.
pub fn rollup(snapshots: &[ModelSnapshot], key: ProviderKey) -> Vec<ProviderSnapshot> {
    let mut out: Vec<ProviderSnapshot> = Vec::new();
    let mut statuses: Vec<Vec<Status>> = Vec::new();
    for snap in snapshots {
        let provider = match key {
            ProviderKey::IdPrefix => snap.provider(),
            ProviderKey::ServedBy => match &snap.served_by {
                Some(p) => p.as_str(),
                None => continue,
            },
        };
        let i = match out.iter().position(|p| p.provider == provider) {
            Some(i) => i,
            None => {
                out.push(ProviderSnapshot {
                    provider: provider.to_string(),
                    models: Vec::new(),
                    ok: 0,
                    counted: 0,
                    ratio: None,
                    status: Status::Unknown,
                    by_status: Vec::new(),
                    holds_outage: false,
                });
                statuses.push(Vec::new());
                out.len() - 1
            }
        };
        let (Some(entry), Some(seen)) = (out.get_mut(i), statuses.get_mut(i)) else {
            continue;
        };
        entry.models.push(snap.name.clone());
        entry.ok += snap.ok;
        entry.counted += snap.counted;
        entry.holds_outage |= snap.recovery.is_some();
        seen.push(snap.status);
    }
    for (p, seen) in out.iter_mut().zip(statuses) {
        p.ratio = (p.counted > 0).then(|| ratio(p.ok, p.counted));
        p.by_status = tally(&seen);
        p.status = verdict(&p.by_status);
    }
    out
}

/// A group's verdict from its models' verdicts:
///
/// - `unknown` while none of them has one;
/// - all of those with a verdict routable: the worst of them (`recovering`,
///   then `degraded`, else `healthy`);
/// - none routable: their common status (`misconfigured` when every key is
///   missing, say), else `unhealthy`;
/// - some routable and some not: `degraded` (partly down).
pub fn verdict(by_status: &[(Status, usize)]) -> Status {
    let judged: Vec<Status> = by_status
        .iter()
        .filter(|(s, n)| *s != Status::Unknown && *n > 0)
        .map(|(s, _)| *s)
        .collect();
    let up = judged.iter().filter(|s| s.is_routable()).count();
    match judged.as_slice() {
        [] => Status::Unknown,
        _ if up == judged.len() => [Status::Recovering, Status::Degraded]
            .into_iter()
            .find(|s| judged.contains(s))
            .unwrap_or(Status::Healthy),
        [only] if up == 0 => *only,
        _ if up == 0 => Status::Unhealthy,
        _ => Status::Degraded,
    }
}

/// Statuses counted in [`Status::ALL`] order, zeros left out.
fn tally(statuses: &[Status]) -> Vec<(Status, usize)> {
    Status::ALL
        .iter()
        .map(|s| (*s, statuses.iter().filter(|x| *x == s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn count_of(by_status: &[(Status, usize)], status: Status) -> usize {
    by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

/// "2/2 ok", "1/3 ok · 1 down · 1 unknown".
fn models_words(by_status: &[(Status, usize)], total: usize) -> String {
    let mut words = format!("{}/{total} ok", count_of(by_status, Status::Healthy));
    for (s, n) in by_status.iter().filter(|(s, _)| *s != Status::Healthy) {
        words.push_str(&format!(" · {n} {}", s.count_word()));
    }
    words
}

/// One configured endpoint's models in one line, so that a dead endpoint
/// is one line ("litellm: connect: connection refused, 6 models") rather
/// than a red row per model.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    pub endpoint: String,
    pub models: Vec<String>,
    pub status: Status,
    pub by_status: Vec<(Status, usize)>,
    /// What every model of the endpoint suffers from, when they are all down
    /// for the same reason.
    pub problem: Option<String>,
}

impl fmt::Display for EndpointSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Some(problem) => write!(
                f,
                "{}: {problem}, {}",
                self.endpoint,
                n_models(self.models.len())
            ),
            None => write!(
                f,
                "{}: {}",
                self.endpoint,
                models_words(&self.by_status, self.models.len())
            ),
        }
    }
}

impl EndpointSummary {
    /// The same line in symbols, for a narrow screen: "openrouter: 7 models
    /// ✓2 ◐1 ✗1 ⧗1 !1 ?1" (the problem, when shared, is kept in words).
    pub fn compact(&self) -> String {
        if self.problem.is_some() {
            return self.to_string();
        }
        let counts: Vec<String> = self
            .by_status
            .iter()
            .map(|(s, n)| format!("{}{n}", s.symbol()))
            .collect();
        format!(
            "{}: {} {}",
            self.endpoint,
            n_models(self.models.len()),
            counts.join(" ")
        )
    }
}

/// "1 model", "6 models".
fn n_models(n: usize) -> String {
    format!("{n} model{}", if n == 1 { "" } else { "s" })
}

/// Rolls model snapshots up by their configured endpoint, in first-seen
/// order (models whose endpoint the book was not told are left out).
pub fn by_endpoint(snapshots: &[ModelSnapshot]) -> Vec<EndpointSummary> {
    let mut groups: Vec<(&str, Vec<&ModelSnapshot>)> = Vec::new();
    for snap in snapshots.iter().filter(|s| !s.endpoint.is_empty()) {
        match groups.iter_mut().find(|(e, _)| *e == snap.endpoint) {
            Some((_, models)) => models.push(snap),
            None => groups.push((&snap.endpoint, vec![snap])),
        }
    }
    groups
        .into_iter()
        .map(|(endpoint, models)| {
            let statuses: Vec<Status> = models.iter().map(|m| m.status).collect();
            let by_status = tally(&statuses);
            EndpointSummary {
                endpoint: endpoint.to_string(),
                models: models.iter().map(|m| m.name.clone()).collect(),
                status: verdict(&by_status),
                by_status,
                problem: common_problem(&models),
            }
        })
        .collect()
}

/// The one reason every model is down, when they share it: the missing key,
/// the same failure, or at least the same class of failure.
fn common_problem(models: &[&ModelSnapshot]) -> Option<String> {
    let all_down = models
        .iter()
        .all(|m| m.status != Status::Unknown && !m.status.is_routable());
    if !all_down {
        return None;
    }
    let problem = |m: &ModelSnapshot| match (&m.last_failure, m.status) {
        (Some(f), Status::Unhealthy | Status::RateLimited) => {
            describe_failure(f.class, f.http_status, Some(&f.message))
        }
        _ => m.reason.clone(),
    };
    let first = models.first()?;
    let words = problem(first);
    if models.iter().all(|m| problem(m) == words) {
        return Some(words);
    }
    let class = first.last_failure.as_ref().map(|f| f.class)?;
    models
        .iter()
        .all(|m| m.last_failure.as_ref().map(|f| f.class) == Some(class))
        .then(|| format!("every model down ({class})"))
}

/// The provider part of a model id: what comes before `/` (the article's
/// rule), else the whole id. Knowing the endpoint, prefer
/// [`provider_name`] (or [`ModelSnapshot::provider`]).
pub fn provider_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(provider, _)| provider)
}

/// The provider of a model: the part of its id before `/`, else the name of
/// the endpoint that serves it (LiteLLM, local servers and Anthropic's own
/// ids have no `/`), else the id itself.
pub fn provider_name<'a>(id: &'a str, endpoint: &'a str) -> &'a str {
    match id.split_once('/') {
        Some((p, _)) if !p.is_empty() => p,
        _ if !endpoint.is_empty() => endpoint,
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::api::FailureClass;
    use crate::health::{HealthBook, HealthPolicy, Observation, Sample};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn failed(message: &str) -> (Sample, Observation) {
        (
            Sample::failed(t(0), FailureClass::Connect, Duration::ZERO),
            Observation {
                message: Some(message.into()),
                ..Observation::default()
            },
        )
    }

    #[test]
    fn a_verdict_never_contradicts_its_counts() {
        // Every group of up to three models, in every mix of statuses.
        let all = Status::ALL;
        let mut groups: Vec<Vec<Status>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<Status>> = groups
                .iter()
                .flat_map(|g| {
                    all.iter().map(move |s| {
                        let mut g = g.clone();
                        g.push(*s);
                        g
                    })
                })
                .collect();
            groups.extend(longer);
        }
        for group in groups {
            let by = tally(&group);
            let v = verdict(&by);
            let judged = group.iter().filter(|s| **s != Status::Unknown).count();
            let healthy = count_of(&by, Status::Healthy);
            let up = group
                .iter()
                .filter(|s| **s != Status::Unknown && s.is_routable())
                .count();
            let words = models_words(&by, group.len());
            let why = format!("{group:?} → {v} ({words})");
            assert_eq!(v == Status::Unknown, judged == 0, "{why}");
            assert_eq!(
                v == Status::Healthy,
                judged > 0 && healthy == judged,
                "{why}"
            );
            assert_eq!(!v.is_routable(), judged > 0 && up == 0, "{why}");
            assert!(
                words.starts_with(&format!("{healthy}/{} ok", group.len())),
                "{why}"
            );
        }
    }

    #[test]
    fn verdicts_in_words() {
        use Status::*;
        let cases: [(&[Status], Status, &str); 8] = [
            (&[], Unknown, "0/0 ok"),
            (&[Healthy, Healthy], Healthy, "2/2 ok"),
            (&[Healthy, Unknown], Healthy, "1/2 ok · 1 unknown"),
            (&[Healthy, Recovering], Recovering, "1/2 ok · 1 recovering"),
            (&[Healthy, Degraded], Degraded, "1/2 ok · 1 degraded"),
            (&[Healthy, Unhealthy], Degraded, "1/2 ok · 1 down"),
            (
                &[Misconfigured, Misconfigured],
                Misconfigured,
                "0/2 ok · 2 misconfigured",
            ),
            (
                &[Unhealthy, RateLimited],
                Unhealthy,
                "0/2 ok · 1 down · 1 limited",
            ),
        ];
        for (group, want, words) in cases {
            let by = tally(group);
            assert_eq!(verdict(&by), want, "{group:?}");
            assert_eq!(models_words(&by, group.len()), words);
        }
    }

    /// Six models behind a LiteLLM proxy (ids without `/`) that refuses
    /// connections, and one OpenRouter model that answers.
    fn litellm_down() -> Vec<crate::health::ModelSnapshot> {
        let mut book = HealthBook::new(HealthPolicy::default());
        for i in 0..6 {
            let name = format!("local-{i}");
            book.add_model(&name, &format!("model-{i}"));
            book.set_endpoint(&name, "litellm");
            let (s, o) = failed("connection refused");
            book.record(&name, s, o, t(0));
        }
        book.add_model("claude", "anthropic/claude-sonnet-4");
        book.set_endpoint("claude", "openrouter");
        book.record(
            "claude",
            Sample::ok(t(0), Duration::from_millis(500)),
            Observation::default(),
            t(0),
        );
        book.snapshots(t(1))
    }

    #[test]
    fn a_dead_endpoint_is_one_line() {
        let snaps = litellm_down();
        let lines: Vec<String> = by_endpoint(&snaps)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "litellm: connect: connection refused, 6 models",
                "openrouter: 1/1 ok"
            ]
        );
        assert_eq!(by_endpoint(&snaps)[0].status, Status::Unhealthy);
        assert_eq!(by_endpoint(&snaps)[1].compact(), "openrouter: 1 model ✓1");
    }

    #[test]
    fn ids_without_a_slash_are_named_by_their_endpoint() {
        let snaps = litellm_down();
        assert_eq!(snaps[0].provider(), "litellm");
        assert_eq!(snaps[6].provider(), "anthropic");
        let by_id = rollup(&snaps, ProviderKey::IdPrefix);
        let names: Vec<&str> = by_id.iter().map(|p| p.provider.as_str()).collect();
        assert_eq!(names, ["litellm", "anthropic"], "one row, not six");
        assert_eq!(by_id[0].models_words(), "0/6 ok · 6 down");
        assert_eq!(provider_name("gpt-4o", ""), "gpt-4o");
        assert_eq!(provider_name("/odd", "ep"), "ep");
    }

    #[test]
    fn a_shared_missing_key_is_the_endpoint_line() {
        let mut book = HealthBook::new(HealthPolicy::default());
        for name in ["a", "b"] {
            book.add_model(name, &format!("openai/{name}"));
            book.set_endpoint(name, "openrouter");
            book.set_missing_key(name, Some("OPENROUTER_API_KEY is not set".into()), t(0));
        }
        let summary = &by_endpoint(&book.snapshots(t(1)))[0];
        assert_eq!(
            summary.to_string(),
            "openrouter: OPENROUTER_API_KEY is not set, 2 models"
        );
        assert_eq!(summary.compact(), summary.to_string(), "the fix is kept");
        // Different failures of one class still make one line.
        let mut book = HealthBook::new(HealthPolicy::default());
        for (name, message) in [("a", "connection refused"), ("b", "connection reset")] {
            book.add_model(name, name);
            book.set_endpoint(name, "local");
            let (s, o) = failed(message);
            book.record(name, s, o, t(0));
        }
        let line = by_endpoint(&book.snapshots(t(1)))[0].to_string();
        assert_eq!(line, "local: every model down (connect), 2 models");
    }

    #[test]
    fn a_provider_sums_its_window_and_counts_its_models() {
        let mut book = HealthBook::new(HealthPolicy::default());
        for name in ["a", "b", "c"] {
            book.add_model(name, &format!("openai/{name}"));
        }
        book.add_model("quiet", "mistral/quiet");
        let ok = |secs| (Sample::ok(t(secs), Duration::ZERO), Observation::default());
        for (name, (s, o)) in [
            ("a", ok(0)),
            ("a", ok(1)),
            ("b", ok(0)),
            ("c", failed("connection refused")),
        ] {
            book.record(name, s, o, t(2));
        }
        let rolled = rollup(&book.snapshots(t(2)), ProviderKey::IdPrefix);
        let openai = &rolled[0];
        assert_eq!((openai.ok, openai.counted), (3, 4));
        assert_eq!(openai.ratio, Some(0.75));
        assert_eq!(openai.count(Status::Healthy), 2);
        assert_eq!(openai.count(Status::Unhealthy), 1);
        assert_eq!(openai.count(Status::Degraded), 0);
        assert_eq!(openai.status, Status::Degraded, "partly down");
        // No counted sample: no ratio (not 0/0).
        let quiet = &rolled[1];
        assert_eq!((quiet.provider.as_str(), quiet.ratio), ("mistral", None));
        assert_eq!(quiet.count(Status::Unknown), 1);
    }

    #[test]
    fn a_verdict_ignores_statuses_counted_zero_times() {
        use Status::*;
        assert_eq!(verdict(&[(Healthy, 2), (Unhealthy, 0)]), Healthy);
        assert_eq!(verdict(&[(Unhealthy, 0)]), Unknown);
        assert_eq!(verdict(&[(Healthy, 0), (RateLimited, 1)]), RateLimited);
    }

    #[test]
    fn a_recovering_model_marks_its_provider() {
        let mut book = HealthBook::new(HealthPolicy::default());
        book.add_model("m", "openai/gpt-4o");
        book.record(
            "m",
            Sample::failed(t(0), FailureClass::ServerError, Duration::ZERO),
            Observation::default(),
            t(0),
        );
        for i in 1..=3 {
            book.record(
                "m",
                Sample::ok(t(i * 10), Duration::ZERO),
                Observation::default(),
                t(i * 10),
            );
        }
        let snaps = book.snapshots(t(31));
        assert_eq!(snaps[0].status, Status::Recovering);
        let p = &rollup(&snaps, ProviderKey::IdPrefix)[0];
        assert_eq!(p.status, Status::Recovering);
        assert!(p.holds_outage);
        assert_eq!(p.models_words(), "0/1 ok · 1 recovering");
    }
}
