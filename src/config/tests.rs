//! The configuration's table tests: every refusal names its line and column,
//! every setting is read, the presets and the resolution order hold.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::error::line_col;
use super::schema::DEFAULT_EXPECT;
use super::*;
use crate::api::{Dialect, Secret};

/// One line each, so case texts keep their line numbers.
const E: &str =
    r#"endpoint = [{ name = "or", base_url = "https://or.test/v1", api_key_env = "OR_KEY" }]"#;
const M: &str =
    r#"model = [{ name = "a", id = "x/a" }, { name = "b", id = "y/b", tier = "budget" }]"#;

fn text(case: &str) -> String {
    case.replace("$E", E).replace("$M", M)
}

fn parse(case: &str) -> Result<Config, ConfigError> {
    Config::parse(&text(case), Path::new("config.toml"))
}

/// What every valid config promises the rest of the program.
fn assert_consistent(c: &Config) {
    assert!(!c.chain.is_empty());
    for name in c
        .chain
        .iter()
        .chain(Tier::ALL.iter().flat_map(|t| c.tiers.get(*t)))
    {
        assert!(c.model(name).is_some(), "{name} is not a model");
    }
    for m in &c.models {
        assert!(
            c.endpoint(&m.endpoint).is_some(),
            "{} has no endpoint",
            m.name
        );
        assert_eq!(c.endpoint_of(m).name, m.endpoint);
    }
    assert!(c.probe.ttft_timeout <= c.probe.timeout);
    assert!(c.route.ttft_timeout <= c.route.timeout);
}

#[test]
fn bad_files_say_where_and_what() {
    // (case, message fragment, line, column)
    let cases: &[(&str, &str, usize, Option<usize>)] = &[
        ("$E\n$M\n[health\n", "unclosed table, expected `]`", 3, Some(8)),
        ("$E\n$M\nfoo = 1", "unknown field `foo`, expected one of `chain`", 3, Some(1)),
        ("$E\n$M\n[probe]\nintervall = \"5s\"", "unknown field `intervall`", 4, Some(1)),
        ("$E\n$M\nchain = [\"a\", \"gpt-5\"]", "unknown model \"gpt-5\" in `chain`; known models: a, b", 3, Some(15)),
        ("$E\n$M\nchain = [\"a\", \"a\"]", "\"a\" appears twice in `chain`", 3, Some(15)),
        ("$E\n$M\nchain = []", "`chain` is empty", 3, Some(9)),
        ("$E\n$M\n[tiers]\npremium = [\"zz\"]", "unknown model \"zz\" in `tiers.premium`", 4, Some(12)),
        ("$E\n$M\n[tiers]\nbudget = [\"b\", \"b\"]", "appears twice in `tiers.budget`", 4, Some(16)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", endpoint = \"nope\" }]", "unknown endpoint \"nope\" in model \"a\"; known endpoints: or", 2, Some(47)),
        ("$E\n$M\n[health]\nwindow = \"abc\"", "expected a duration like \"30s\" or \"15m\"", 4, Some(10)),
        ("$E\n$M\n[health]\nslow = \"fast\"", "`health.slow`", 4, Some(8)),
        ("$E\n$M\n[probe]\ninterval = \"0s\"", "`probe.interval` must be more than zero", 4, Some(12)),
        ("$E\n$M\n[health]\nwindow = \"300000y\"", "`health.window` = \"300000y\" is too long", 4, Some(10)),
        ("$E\n$M\n[route]\nhedge = \"3000000000y\"", "too long", 4, Some(9)),
        ("$E\n$M\n[probe]\ntimeout = \"0ms\"", "`probe.timeout` must be more than zero", 4, Some(11)),
        ("$E\n$M\n[health]\nthreshold = 1.0", "expected a ratio from 0 up to (not including) 1", 4, Some(13)),
        ("$E\n$M\n[health]\nthreshold = -0.1", "`health.threshold` = -0.1", 4, Some(13)),
        ("$E\n$M\n[health]\nthreshold = \"high\"", "invalid type: string \"high\", expected f64", 4, Some(13)),
        ("$E\n$M\n[health]\nrecover_after = -1", "expected u32", 4, Some(17)),
        ("$E\n$M\n[health]\nrecover_after = 0", "`health.recover_after` = 0 is out of range: expected 1 to 100", 4, Some(17)),
        ("$E\n$M\n[health]\nrecover_after = 101", "expected 1 to 100", 4, Some(17)),
        ("$E\n$M\n[health]\nwindow = \"5s\"", "`health.window` = \"5s\" is out of range: expected 10s to 7days", 4, Some(10)),
        ("$E\n$M\n[probe]\ninterval = \"500ms\"", "`probe.interval` = \"500ms\" is out of range: expected 1s to 1day", 4, Some(12)),
        ("$E\n$M\n[probe]\nconcurrency = 2305843009213693952", "`probe.concurrency` = 2305843009213693952 is out of range: expected 1 to 1024", 4, Some(15)),
        ("$E\n$M\n[probe]\nconcurrency = 1025", "expected 1 to 1024", 4, Some(15)),
        ("$E\n$M\n[probe]\nmax_tokens = 4000000000", "expected 1 to 200000", 4, Some(14)),
        ("$E\n$M\n[probe]\ntimeout = \"2h\"", "`probe.timeout` = \"2h\" is out of range: expected 100ms to 1h", 4, Some(11)),
        ("$E\n$M\n[probe]\nttft_timeout = \"1ms\"", "`probe.ttft_timeout` = \"1ms\" is out of range: expected at least 100ms", 4, Some(16)),
        ("$E\n$M\n[probe]\ndaily_budget = 1e300", "expected US dollars per day, 0 to 10000", 4, Some(16)),
        ("$E\n$M\n[route]\nhedge = \"2m\"", "`route.hedge` = \"2m\" is out of range: expected 10ms to 30s", 4, Some(9)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { interval = \"2d\" } }]", "`probe.interval` = \"2d\" is out of range", 2, Some(57)),
        ("$E\n$M\n[health]\nslow = \"2h\"", "`health.slow` = \"2h\" is out of range", 4, Some(8)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\" }, { name = \"a\", id = \"y/a\" }]", "duplicate model name \"a\"", 2, Some(47)),
        ("endpoint = [{ name = \"or\", base_url = \"https://x.test\" }, { name = \"or\", base_url = \"https://y.test\" }]\n$M", "duplicate endpoint name \"or\"", 1, Some(68)),
        ("$E\n$M\n[probe]\nexpect = \"(pong\"", "`probe.expect` is not a valid regular expression", 4, Some(10)),
        ("endpoint = [{ name = \"or\", base_url = \"https://x.test\", dialect = \"gemini\" }]\n$M", "unknown dialect \"gemini\"; expected \"openai\" or \"anthropic\"", 1, Some(67)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", tier = \"gold\" }]", "unknown tier \"gold\"; expected \"budget\", \"standard\" or \"premium\"", 2, Some(43)),
        ("endpoint = [{ name = \"or\", base_url = \"ftp://x.test\" }]\n$M", "expected an http(s) URL", 1, Some(39)),
        ("endpoint = [{ name = \"or\", base_url = \"openrouter.ai/api/v1\" }]\n$M", "expected an http(s) URL", 1, Some(39)),
        ("$E\n$M\n[probe]\ntimeout = \"5s\"\nttft_timeout = \"10s\"", "`probe.ttft_timeout` (10s) is longer than the total timeout (5s)", 5, Some(16)),
        ("$E\n$M\n[route]\nconnect_timeout = \"1m\"", "`route.connect_timeout` (1m) is longer", 4, Some(19)),
        ("$E\n$M\n[route]\nhedge = \"sometimes\"", "expected \"auto\", \"off\" or a delay like \"2s\"", 4, Some(9)),
        ("$E\n$M\n[route]\nhedge = \"0s\"", "`route.hedge`", 4, Some(9)),
        ("$E\n$M\n[probe]\nmax_tokens = 0", "`probe.max_tokens` = 0 is out of range: expected 1 to 200000", 4, Some(14)),
        ("$E\n$M\n[probe]\nconcurrency = 0", "`probe.concurrency` = 0 is out of range: expected 1 to 1024", 4, Some(15)),
        ("$E\n$M\n[probe]\ndaily_budget = -1.0", "expected US dollars per day", 4, Some(16)),
        ("$E\n$M\n[probe]\nprompt = \"  \"", "`probe.prompt` is empty", 4, Some(10)),
        ("endpoint = [{ name = \"a\", base_url = \"http://a.test\" }, { name = \"b\", base_url = \"http://b.test\" }]\nmodel = [{ name = \"m\", id = \"x/m\" }]", "model \"m\" needs `endpoint = ...`; expected one of: a, b", 2, Some(19)),
        ("model = [{ name = \"m\", id = \"x/m\" }]", "defines no [[endpoint]]", 1, Some(19)),
        ("$E\n$M\n[tiers]\npremium = [\"a\"]", "model \"b\" has tier = \"budget\" but [tiers] does not list it under budget", 2, Some(71)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", extra = { model = \"other\" } }]", "`extra` may not set \"model\"", 2, Some(44)),
        ("$E\nmodel = [{ name = \"a\" }]", "missing field `id`", 2, Some(10)),
        ("$E\nmodel = [{ name = \"\", id = \"x/a\" }]", "model `name` is empty", 2, Some(19)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { interval = \"soon\" } }]", "`probe.interval` = \"soon\"", 2, Some(57)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { expect = \"[\" } }]", "not a valid regular expression", 2, Some(55)),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", probe = { timeout = \"1s\" } }]", "unknown field `timeout`", 2, None),
        ("$E\nmodel = [{ name = \"a\", id = \"x/a\", reasoning = \"yes\" }]", "invalid type: string \"yes\", expected a boolean", 2, None),
    ];
    let mut wrong = Vec::new();
    for (case, fragment, line, column) in cases {
        let err = match parse(case) {
            Ok(_) => {
                wrong.push(format!("accepted: {case}"));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        let placed = err.line == Some(*line) && (column.is_none() || err.column == *column);
        if !shown.contains(fragment) || !shown.starts_with("config.toml:") || !placed {
            wrong.push(format!(
                "{case}\n  got:  {shown}\n  want: {line}:{column:?}: {fragment}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_key_in_the_file_is_refused_without_echoing_it() {
    let cases = [
        r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key = "sk-or-v1-secret" }]"#,
        r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key_env = "sk-or-v1-secret" }]"#,
        r#"endpoint = [{ name = "or", base_url = "https://x.test", api_key_env = "" }]"#,
    ];
    for case in cases {
        let err = parse(&format!("{case}\n$M")).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("api_key_env"), "{err}");
        assert!(err.contains("config.toml:1:"), "{err}");
        assert!(!err.contains("secret"), "the key leaked: {err}");
    }
}

#[test]
fn credentials_in_base_url_are_refused_without_echoing_them() {
    for url in [
        "http://alice:s3cr3tpass@x.test/v1",
        "https://s3cr3tpass@x.test",
        "https://:s3cr3tpass@x.test",
        "htps//alice:s3cr3tpass@x.test",
    ] {
        let case = format!("endpoint = [{{ name = \"or\", base_url = \"{url}\" }}]\n$M");
        let err = parse(&case)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("config.toml:1:39:"), "{url}: {err}");
        assert!(err.contains("base_url"), "{err}");
        assert!(
            !err.contains("s3cr3t") && !err.contains("alice"),
            "echoed: {err}"
        );
    }
}

#[test]
fn no_models_is_an_error_without_a_position() {
    for case in ["", "$E", "$E\n[probe]\ninterval = \"5s\""] {
        let err = parse(case).err();
        let err = err.as_ref();
        assert!(err.is_some_and(|e| e.line.is_none()), "{case}: {err:?}");
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            shown.starts_with("config.toml: the file defines no [[model]]"),
            "{shown}"
        );
    }
}

#[test]
fn minimal_file_takes_every_default() {
    let c = parse("[[endpoint]]\nname = \"local\"\nbase_url = \"http://127.0.0.1:8080/v1/\"\n\n[[model]]\nname = \"m\"\nid = \"llama\"\n");
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_consistent(&c);
    assert_eq!(c.chain, ["m"]);
    assert_eq!(c.health, HealthSettings::default());
    assert_eq!(c.route, RouteSettings::default());
    assert_eq!(c.route.hedge, Hedge::Auto);
    assert_eq!(c.probe.interval, Duration::from_secs(60));
    assert_eq!(
        c.probe.expect.as_ref().map(Regex::as_str),
        Some(DEFAULT_EXPECT)
    );
    assert_eq!(
        (c.probe.max_tokens, c.probe.concurrency, c.probe.stream),
        (16, 4, true)
    );
    assert_eq!(c.tiers, Tiers::default());
    let m = &c.models[0];
    assert_eq!((m.endpoint.as_str(), m.tier), ("local", None));
    let ep = c.endpoint_of(m);
    assert_eq!(
        ep.base_url, "http://127.0.0.1:8080/v1",
        "trailing / trimmed"
    );
    assert_eq!(
        (ep.api_key_env.as_deref(), ep.dialect),
        (None, Dialect::Openai)
    );
    assert!(matches!(ep.api_key(), Ok(None)));
    assert_eq!(c.source, ConfigSource::File(PathBuf::from("config.toml")));
}

#[test]
fn full_file_reads_every_setting() {
    let full = r#"
chain = ["b", "a"]
[health]
window = "5m"
threshold = 0
recover_after = 5
slow = "2500ms"
[probe]
interval = "30s"
prompt = "ping?"
expect = ""
max_tokens = 8
timeout = "20s"
connect_timeout = "2s"
concurrency = 2
daily_budget = 0.25
stream = false
[route]
timeout = "4s"
hedge = "1500ms"
[[endpoint]]
name = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "ANTHROPIC_API_KEY"
dialect = "anthropic"
native_fallback = true
[[model]]
name = "a"
id = "claude-sonnet-4-20250514"
tier = "premium"
extra = { thinking = { type = "enabled", budget_tokens = 1024 }, top_k = 5 }
[[model]]
name = "b"
id = "claude-haiku"
probe = { interval = "2m", max_tokens = 4, expect = "(?i)ok", prompt = "Say ok" }
[tiers]
premium = ["a"]
budget = ["b"]
"#;
    let c = parse(full).unwrap_or_else(|e| panic!("{e}"));
    assert_consistent(&c);
    assert_eq!(c.chain, ["b", "a"]);
    let secs = Duration::from_secs;
    assert_eq!(
        c.health,
        HealthSettings {
            window: secs(300),
            threshold: 0.0,
            recover_after: 5,
            slow: Some(Duration::from_millis(2500))
        }
    );
    let p = &c.probe;
    assert_eq!(
        (p.interval, p.timeout, p.connect_timeout),
        (secs(30), secs(20), secs(2))
    );
    assert_eq!(p.ttft_timeout, secs(10), "default kept: it fits in 20s");
    assert!(p.expect.is_none(), "\"\" means no content check");
    assert_eq!(
        (p.prompt.as_str(), p.max_tokens, p.concurrency),
        ("ping?", 8, 2)
    );
    assert_eq!((p.daily_budget, p.stream), (Some(0.25), false));
    // Route deadlines default to [probe]'s, shortened to fit its own timeout.
    assert_eq!(
        c.route,
        RouteSettings {
            timeout: secs(4),
            ttft_timeout: secs(4),
            stall_timeout: secs(4),
            connect_timeout: secs(2),
            hedge: Hedge::After(Duration::from_millis(1500)),
            retry_after_max: crate::config::DEFAULT_RETRY_AFTER_MAX,
            reroute_refusals: false,
        }
    );
    let ep = &c.endpoints[0];
    assert_eq!((ep.dialect, ep.native_fallback), (Dialect::Anthropic, true));
    let a = c
        .model("a")
        .map(|m| serde_json::Value::Object(m.extra.clone()));
    assert_eq!(
        a,
        Some(
            serde_json::json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5})
        )
    );
    // b has no `tier`; [tiers] lists it under budget.
    assert_eq!(c.model("b").and_then(|m| m.tier), Some(Tier::Budget));
    assert_eq!(c.tiers.get(Tier::Standard), &[] as &[String]);
}

#[test]
fn hedge_and_tiers_from_models() {
    for (hedge, want) in [
        ("auto", Hedge::Auto),
        ("off", Hedge::Off),
        ("2s", Hedge::After(Duration::from_secs(2))),
    ] {
        let c = parse(&format!("$E\n$M\n[route]\nhedge = \"{hedge}\""));
        assert_eq!(c.map(|c| c.route.hedge).ok(), Some(want), "{hedge}");
    }
    let c = parse("$E\nmodel = [{ name = \"p\", id = \"x/p\", tier = \"premium\" }, { name = \"q\", id = \"x/q\" }, { name = \"r\", id = \"x/r\", tier = \"premium\" }]");
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tiers.premium, ["p", "r"]);
    assert!(c.tiers.budget.is_empty() && c.tiers.standard.is_empty());
    assert_eq!(
        c.chain,
        ["p", "q", "r"],
        "no `chain`: every model in file order"
    );
}

#[test]
fn example_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_consistent(&c);
    assert_eq!(c.source, ConfigSource::File(path));
    assert_eq!(c.endpoints.len(), 3);
    let local = c.endpoint("local").map(|e| e.api_key_env.clone());
    assert_eq!(local, Some(None), "the local server needs no key");
    assert_eq!(
        c.endpoint("anthropic").map(|e| e.dialect),
        Some(Dialect::Anthropic)
    );
    let extra = c
        .model("gemini-pro")
        .and_then(|m| m.extra.get("reasoning").cloned());
    assert_eq!(extra, Some(serde_json::json!({"effort": "low"})));
    assert_eq!(c.model("gemini-pro").and_then(|m| m.reasoning), Some(true));
    assert_eq!(c.model("gpt-4o").and_then(|m| m.reasoning), None);
    let direct = c.model("claude-direct").map(|m| c.probe_for(m).interval);
    assert_eq!(direct, Some(Duration::from_secs(300)));
    assert_eq!(c.tiers.get(Tier::Premium), ["claude-sonnet", "gpt-4o"]);
}

#[test]
fn builtin_is_the_articles_chain() {
    let c = Config::builtin();
    assert_consistent(&c);
    assert_eq!(c.source, ConfigSource::Builtin);
    assert_eq!(
        c.chain,
        ["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"]
    );
    let ids: Vec<&str> = c
        .chain
        .iter()
        .filter_map(|n| c.model(n))
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "anthropic/claude-sonnet-4",
            "openai/gpt-4o",
            "google/gemini-2.5-pro",
            "deepseek/deepseek-chat"
        ]
    );
    assert_eq!(c.tiers.get(Tier::Standard), ["gemini-flash", "deepseek"]);
    assert_eq!(
        c.tiers.get(Tier::Budget),
        ["gpt-4o-mini", "gemini-flash-lite"]
    );
    for t in Tier::ALL {
        for name in c.tiers.get(t) {
            assert_eq!(c.model(name).and_then(|m| m.tier), Some(t), "{name}");
        }
    }
    let or = &c.endpoints[0];
    assert_eq!(
        (or.name.as_str(), or.base_url.as_str()),
        ("openrouter", "https://openrouter.ai/api/v1")
    );
    assert_eq!(or.api_key_env.as_deref(), Some(OPENROUTER_KEY_VAR));
    assert_eq!(
        c.probe.timeout,
        Duration::from_secs(30),
        "the article's 30 s per attempt"
    );
}

#[test]
fn demo_uses_the_simulator() {
    let models = [
        (
            "fast".to_string(),
            "sim/fast".to_string(),
            Some(Tier::Budget),
        ),
        ("flaky".to_string(), "sim/flaky".to_string(), None),
        (
            "big".to_string(),
            "sim/big".to_string(),
            Some(Tier::Premium),
        ),
    ];
    let c = Config::demo("http://127.0.0.1:4000/v1/", &models);
    assert_consistent(&c);
    assert_eq!(c.source, ConfigSource::Demo);
    assert_eq!(c.chain, ["fast", "flaky", "big"]);
    assert_eq!(
        (c.tiers.budget.clone(), c.tiers.premium.clone()),
        (vec!["fast".to_string()], vec!["big".to_string()])
    );
    let ep = &c.endpoints[0];
    assert_eq!(
        (
            ep.name.as_str(),
            ep.base_url.as_str(),
            ep.api_key_env.clone()
        ),
        ("sim", "http://127.0.0.1:4000/v1", None)
    );
    let secs = Duration::from_secs;
    assert_eq!(
        (c.probe.interval, c.probe.ttft_timeout, c.probe.timeout),
        (secs(5), secs(4), secs(15))
    );
    assert_eq!((c.health.window, c.route.timeout), (secs(300), secs(15)));
}

#[test]
fn probe_for_applies_overrides() {
    let c = parse("$E\nmodel = [{ name = \"a\", id = \"x/a\" }, { name = \"b\", id = \"x/b\", probe = { interval = \"5m\", max_tokens = 64 } }, { name = \"c\", id = \"x/c\", probe = { expect = \"\", prompt = \"hi\" } }, { name = \"d\", id = \"x/d\", probe = { expect = \"^ok$\" } }]");
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    let get = |n: &str| c.model(n).map(|m| c.probe_for(m));
    let summary = |p: Option<ProbeSettings>| {
        p.map(|p| {
            (
                p.interval.as_secs(),
                p.max_tokens,
                p.prompt,
                p.expect.map(|r| r.as_str().to_string()),
                p.timeout.as_secs(),
            )
        })
    };
    let pong = Some(DEFAULT_EXPECT.to_string());
    let prompt = "Reply with the single word: pong".to_string();
    assert_eq!(
        summary(get("a")),
        Some((60, 16, prompt.clone(), pong.clone(), 30))
    );
    assert_eq!(summary(get("b")), Some((300, 64, prompt.clone(), pong, 30)));
    assert_eq!(
        summary(get("c")),
        Some((60, 16, "hi".to_string(), None, 30))
    );
    assert_eq!(
        summary(get("d")),
        Some((60, 16, prompt, Some("^ok$".to_string()), 30))
    );
}

#[test]
fn api_key_reads_the_environment_at_call_time() {
    let ep = |var: Option<&str>| Endpoint {
        name: "e".into(),
        base_url: "https://e.test".into(),
        api_key_env: var.map(String::from),
        dialect: Dialect::Openai,
        native_fallback: false,
    };
    let unset = ep(Some("CHAINWATCH_TEST_UNSET_KEY_9f2")).api_key();
    assert_eq!(
        unset.map_err(|e| e.to_string()),
        Err("CHAINWATCH_TEST_UNSET_KEY_9f2 is not set".to_string())
    );
    let with = |value: Option<&str>| {
        let value = value.map(String::from);
        ep(Some("K")).api_key_from(move |v| (v == "K").then(|| value.clone()).flatten())
    };
    assert_eq!(with(Some(" sk-abc\n")), Ok(Some(Secret::new("sk-abc"))));
    assert_eq!(
        with(Some("")),
        Err(MissingKey { var: "K".into() }),
        "empty counts as unset"
    );
    assert_eq!(with(None), Err(MissingKey { var: "K".into() }));
    assert_eq!(ep(None).api_key_from(|_| Some("unused".into())), Ok(None));
}

#[test]
fn resolution_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    let absent = dir.path().join("absent.toml");
    std::fs::write(&good, text("$E\n$M")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&bad, "chain = [").unwrap_or_else(|e| panic!("{e}"));
    let kind = |r: Result<Resolved, ConfigError>| match r {
        Ok(Resolved::Config(c)) => format!("{:?}", c.source),
        Ok(Resolved::Demo) => "Demo".to_string(),
        Err(e) => format!("error at {}", e.path.display()),
    };
    let file = |p: &Path| format!("{:?}", ConfigSource::File(p.to_path_buf()));
    let err = |p: &Path| format!("error at {}", p.display());
    let cases: [(Option<&Path>, Option<&Path>, bool, String); 8] = [
        (Some(&good), Some(&bad), false, file(&good)),
        (Some(&absent), Some(&good), true, err(&absent)),
        (Some(&bad), None, true, err(&bad)),
        (None, Some(&good), true, file(&good)),
        (None, Some(&bad), true, err(&bad)),
        (None, Some(&absent), true, "Builtin".into()),
        (None, Some(&absent), false, "Demo".into()),
        (None, None, false, "Demo".into()),
    ];
    for (explicit, default, key, want) in cases {
        assert_eq!(
            kind(resolve_with(explicit, default, key)),
            want,
            "{explicit:?} {default:?} {key}"
        );
    }
    let missing = Config::load(&absent).err().map(|e| (e.line, e.to_string()));
    let missing = missing.unwrap_or_default();
    assert_eq!(missing.0, None);
    assert!(
        missing
            .1
            .starts_with(&format!("{}: cannot read", absent.display())),
        "{}",
        missing.1
    );
}

#[test]
fn default_path_follows_xdg() {
    let os = |s: &'static str| Some(OsStr::new(s));
    let cases = [
        (
            os("/x/cfg"),
            os("/home/u"),
            Some("/x/cfg/chainwatch/config.toml"),
        ),
        (
            os("relative"),
            os("/home/u"),
            Some("/home/u/.config/chainwatch/config.toml"),
        ),
        (
            os(""),
            os("/home/u"),
            Some("/home/u/.config/chainwatch/config.toml"),
        ),
        (
            None,
            os("/home/u"),
            Some("/home/u/.config/chainwatch/config.toml"),
        ),
        (None, None, None),
        (None, os(""), None),
    ];
    for (xdg, home, want) in cases {
        assert_eq!(
            default_path_from(xdg, home),
            want.map(PathBuf::from),
            "{xdg:?} {home:?}"
        );
    }
}

#[test]
fn small_pieces() {
    assert!(Tier::Budget < Tier::Standard && Tier::Standard < Tier::Premium);
    for t in Tier::ALL {
        assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
    }
    assert_eq!(
        "Premium".parse::<Tier>(),
        Err(UnknownTier("Premium".into()))
    );
    assert_eq!(Tier::Budget.next(), Some(Tier::Standard));
    assert_eq!(Tier::Premium.next(), None);
    assert_eq!(line_col("ab\ncé✓x", 9), (2, 4), "columns count characters");
    assert_eq!(
        line_col("ab", 99),
        (1, 3),
        "offsets past the end are clamped"
    );
    let e = |line, column| ConfigError {
        path: "c.toml".into(),
        line,
        column,
        message: "m".into(),
    };
    assert_eq!(e(Some(12), Some(9)).to_string(), "c.toml:12:9: m");
    assert_eq!(e(None, None).to_string(), "c.toml: m");
    // An endpoint removed after validation: no panic, an unusable endpoint.
    let mut c = Config::builtin();
    c.endpoints.clear();
    let m = c.models[0].clone();
    assert_eq!(c.endpoint_of(&m).base_url, "");
}

#[test]
fn an_alert_may_name_every_status() {
    let c = parse("$E\n$M\n[[alert]]\nbell = true\nfrom = [\"unhealthy\"]\nto = [\"recovering\", \"healthy\"]")
        .expect("recovering is a status an alert may name");
    assert_eq!(
        c.alerts[0].to,
        [
            crate::health::Status::Recovering,
            crate::health::Status::Healthy
        ]
    );
}

#[test]
fn alerts_and_same_as_say_where_and_what() {
    // (case, message fragment, line, column)
    let cases: &[(&str, &str, usize, Option<usize>)] = &[
        (
            "$E\n$M\n[[alert]]\nname = \"x\"",
            "alert \"x\" does nothing",
            4,
            Some(8),
        ),
        (
            "$E\n$M\n[[alert]]\nurl = \"https://h.test/T0KEN\"\nurl_env = \"HOOK\"",
            "either `url` or `url_env`",
            5,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\nurl = \"hooks.test/T0KEN\"",
            "alert `url` is not an http(s) URL",
            4,
            Some(7),
        ),
        (
            "$E\n$M\n[[alert]]\nurl_env = \"https://h.test\"",
            "must name an environment variable",
            4,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\nbell = true\nto = [\"down\"]",
            "unknown status \"down\" in alert `to`; expected one of: healthy, recovering, degraded",
            5,
            Some(7),
        ),
        (
            "$E\n$M\n[[alert]]\nbell = true\nmodels = [\"zz\"]",
            "unknown model \"zz\" in alert `models`",
            5,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\nbell = true\nmin_interval = \"often\"",
            "`alert.min_interval` = \"often\"",
            5,
            Some(16),
        ),
        (
            "$E\n$M\n[[alert]]\nurl_env = \"HOOK\"\nformat = \"teams\"",
            "unknown alert format \"teams\"",
            5,
            Some(10),
        ),
        (
            "$E\n$M\n[[alert]]\nformat = \"pagerduty\"",
            "needs `routing_key_env`",
            4,
            Some(10),
        ),
        (
            "$E\n$M\n[[alert]]\ncommand = []",
            "alert `command` must be a non-empty string",
            4,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\ncommand = [\"notify\", 3]",
            "or an array of strings",
            4,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\ncommand = \"x\"\nurl_env = \"HOOK\"",
            "not both; write two [[alert]] sections",
            4,
            Some(11),
        ),
        (
            "$E\n$M\n[[alert]]\ncommand = \"x\"\nformat = \"slack\"",
            "`format` is for webhooks",
            5,
            Some(10),
        ),
        (
            "$E\n$M\n[[alert]]\nname = \"a\"\nbell = true\n[[alert]]\nname = \"a\"\nbell = true",
            "duplicate alert name \"a\"",
            7,
            Some(8),
        ),
        (
            "$E\n$M\n[[alert]]\nbell = true\nchannel = \"#ops\"",
            "unknown field `channel`",
            5,
            Some(1),
        ),
        (
            "$E\nmodel = [{ name = \"a\", id = \"x/a\", same_as = \"b\" }]",
            "unknown model \"b\" in `same_as` of model \"a\"; known models: a",
            2,
            Some(46),
        ),
        (
            "$E\nmodel = [{ name = \"a\", id = \"x/a\", same_as = \"a\" }]",
            "has `same_as` itself",
            2,
            Some(46),
        ),
    ];
    let mut wrong = Vec::new();
    for (case, fragment, line, column) in cases {
        let err = match parse(case) {
            Ok(_) => {
                wrong.push(format!("accepted: {case}"));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        let placed = err.line == Some(*line) && (column.is_none() || err.column == *column);
        if !shown.contains(fragment) || !placed || shown.contains("T0KEN") {
            wrong.push(format!(
                "{case}\n  got:  {shown}\n  want: {line}:{column:?}: {fragment}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let c = parse(
        r#"$E
model = [{ name = "a", id = "x/a" }, { name = "b", id = "a-20250514", same_as = "a" }]
[[alert]]
name = "on-call"
models = ["a", "b", "a"]
from = ["healthy", "degraded"]
to = ["unhealthy"]
chain_only = true
url_env = "SLACK_WEBHOOK_URL"
format = "slack"
min_interval = "10m"
timeout = "5s"
bell = true
[[alert]]
command = "notify-send chainwatch \"$CHAINWATCH_TEXT\""
[[alert]]
format = "pagerduty"
routing_key_env = "PD_KEY"
[[alert]]
command = ["logger", "-t", "chainwatch"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.model("b").and_then(|m| m.same_as.clone()),
        Some("a".into())
    );
    assert_eq!(c.model("a").and_then(|m| m.same_as.clone()), None);
    let [slack, shell, pd, argv] = c.alerts.as_slice() else {
        panic!("{:?}", c.alerts);
    };
    assert_eq!(
        slack,
        &AlertRule {
            name: "on-call".into(),
            models: vec!["a".into(), "b".into()],
            from: vec![
                crate::health::Status::Healthy,
                crate::health::Status::Degraded
            ],
            to: vec![crate::health::Status::Unhealthy],
            chain_only: true,
            delivery: Some(Delivery::Webhook {
                url: WebhookUrl::Env("SLACK_WEBHOOK_URL".into()),
                format: PayloadFormat::Slack,
                routing_key_env: None,
            }),
            bell: true,
            min_interval: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
        }
    );
    assert_eq!(shell.name, "alert 2");
    assert_eq!(
        shell.delivery,
        Some(Delivery::Command(vec![
            "sh".into(),
            "-c".into(),
            "notify-send chainwatch \"$CHAINWATCH_TEXT\"".into()
        ]))
    );
    assert_eq!(
        (shell.min_interval, shell.timeout, shell.bell),
        (ALERT_MIN_INTERVAL, ALERT_TIMEOUT, false)
    );
    assert!(shell.models.is_empty() && shell.from.is_empty() && !shell.chain_only);
    assert_eq!(
        pd.delivery,
        Some(Delivery::Webhook {
            url: WebhookUrl::Literal(PAGERDUTY_URL.into()),
            format: PayloadFormat::Pagerduty,
            routing_key_env: Some("PD_KEY".into()),
        })
    );
    assert_eq!(
        argv.delivery,
        Some(Delivery::Command(vec![
            "logger".into(),
            "-t".into(),
            "chainwatch".into()
        ]))
    );
    assert!(parse("$E\n$M").is_ok_and(|c| c.alerts.is_empty()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn never_panics_on_any_text(s in "\\PC{0,200}") {
        let _ = Config::parse(&s, Path::new("x.toml"));
    }

    #[test]
    fn never_panics_on_a_cut_or_patched_example(cut in 0usize..4000, at in 0usize..4000, junk in "[\\[\\]\"={}, a-z0-9\n]{0,6}") {
        let example = include_str!("../../assets/config.example.toml");
        let cut = example.char_indices().map(|(i, _)| i).find(|i| *i >= cut).unwrap_or(example.len());
        let _ = Config::parse(example.get(..cut).unwrap_or_default(), Path::new("x.toml"));
        let at = example.char_indices().map(|(i, _)| i).find(|i| *i >= at).unwrap_or(example.len());
        let (head, tail) = example.split_at(at);
        let _ = Config::parse(&format!("{head}{junk}{tail}"), Path::new("x.toml"));
    }
}

/// A config of `n` models, all in the chain and in a tier.
pub(crate) fn many_models(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("\"m{i}\"")).collect();
    let mut text = format!("$E\nchain = [{}]\n", names.join(","));
    for i in 0..n {
        text.push_str(&format!(
            "[[model]]\nname = \"m{i}\"\nid = \"x/m{i}\"\ntier = \"budget\"\n"
        ));
    }
    text.push_str(&format!("[tiers]\nbudget = [{}]\n", names.join(",")));
    text
}

#[test]
fn forty_thousand_models_validate() {
    // Every duplicate and cross-reference check is a set lookup, so this
    // is linear by construction (4 s before, with list scans; the figure
    // now is in docs/engine.md, from `cargo bench --bench config`).
    let c = parse(&many_models(40_000)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.models.len(), 40_000);
    assert_eq!(c.chain.len(), 40_000);
    assert_eq!(c.tiers.budget.len(), 40_000);
    // And a duplicate at the very end is still found, where it is.
    let dup = many_models(2_000).replacen(
        "[tiers]",
        "[[model]]\nname = \"m7\"\nid = \"x/m7\"\n[tiers]",
        1,
    );
    let err = parse(&dup).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("duplicate model name \"m7\""), "{err}");
}

#[test]
fn the_shared_store_is_read_its_variable_wins_and_its_password_is_never_shown() {
    let c = parse("$E\n$M\n[store]\nredis_url = \"redis://:hunter2@10.0.0.5:6379/2\"").unwrap();
    let url = c.store.redis_url.clone().unwrap();
    assert_eq!(
        StoreSettings::redis_shown(&url),
        "redis://***@10.0.0.5:6379/2"
    );
    assert_eq!(c.store.redis_url_from(|_| None), Some(url));
    let env = |var: &str| (var == REDIS_URL_VAR).then(|| "redis://127.0.0.1:7000/".to_string());
    assert_eq!(
        c.store.redis_url_from(env).as_deref(),
        Some("redis://127.0.0.1:7000/")
    );
    assert_eq!(
        parse("$E\n$M").unwrap().store.redis_url_from(|_| None),
        None
    );
    let err = parse("$E\n$M\n[store]\nredis_url = \"http://host:6379\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.redis_url") && err.contains(":4:"),
        "{err}"
    );
    let err = parse("$E\n$M\n[store]\nredis = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("redis"), "{err}");
}
