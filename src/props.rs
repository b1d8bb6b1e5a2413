//! Fuzz-style property tests of what reads outside bytes: the SSE reader,
//! the config loader and the state loader (the response and error parsers
//! are in `api/props.rs`). Arbitrary bytes never panic, and never make the
//! reader hold more memory than its cap (or a small multiple of its input):
//! the counting allocator in `testing` measures it. Cases are bounded so
//! `cargo test` stays quick.

use std::path::Path;

use proptest::prelude::*;

use crate::api::sse::{SseItem, SseParser};
use crate::config::Config;
use crate::store::{Store, STATE_FILE_MAX};
use crate::testing::peak_during;

/// Bytes that look a little like the real thing more often than chance.
fn bytes_like(samples: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (
            proptest::sample::select(samples),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16),
            any::<usize>(),
        )
            .prop_map(|(sample, flips, cut)| {
                let mut b = sample.as_bytes().to_vec();
                for (at, byte) in flips {
                    if !b.is_empty() {
                        let i = at % b.len();
                        b[i] = byte;
                    }
                }
                b.truncate(cut % (b.len() + 1));
                b
            }),
    ]
}

const SSE: &[&str] = &[
    "data: {\"choices\":[{\"delta\":{\"content\":\"po\"}}]}\n\ndata: [DONE]\n\n",
    ": OPENROUTER PROCESSING\r\n\r\nevent: message_start\r\ndata: {}\r\n\r\n",
    "data:a\ndata:b\r\rdata: c\n\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any bytes, cut anywhere: no panic, no event over the cap, and the
    /// parser never holds more than the cap plus what it hands back.
    #[test]
    fn sse_reader_takes_any_bytes(
        bytes in bytes_like(SSE),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        const CAP: usize = 512;
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let (items, peak) = peak_during(|| {
            let mut parser = SseParser::new(CAP);
            let mut items = Vec::new();
            let mut last = 0;
            for c in cuts.iter().copied().chain([bytes.len()]) {
                if parser.feed_into(&bytes[last..c], &mut items).is_err() {
                    return items;
                }
                last = c;
            }
            if let Ok(rest) = parser.finish() {
                items.extend(rest);
            }
            items
        });
        for item in &items {
            if let SseItem::Event(e) = item {
                prop_assert!(e.data.len() <= CAP, "{}", e.data.len());
            }
        }
        let limit = 8 * CAP + 16 * bytes.len() + 16 * 1024;
        prop_assert!(peak <= limit, "peak {} > {}", peak, limit);
    }

    /// Any text as a config: an error or a config, never a panic, and
    /// memory in proportion to the text.
    #[test]
    fn config_loader_takes_any_bytes(bytes in bytes_like(CONFIGS)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (_, peak) = peak_during(|| Config::parse(&text, Path::new("fuzz.toml")).map(|c| c.models.len()));
        // The text, and compiling the `expect` patterns (each within the
        // regex size limit; a pattern repeated is compiled once).
        let limit = 64 * text.len() + 4 * 1024 * 1024;
        prop_assert!(peak <= limit, "peak {} > {}", peak, limit);
    }

    /// Any bytes as a state file: a state or a warning, never a panic, and
    /// reading never renames or changes anything.
    #[test]
    fn state_loader_takes_any_bytes(bytes in bytes_like(STATES)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("state.json");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let store = Store::at(&path);
        let (_, peak) = peak_during(|| store.load());
        let limit = 64 * bytes.len() + 256 * 1024;
        prop_assert!(peak <= limit, "peak {} > {}", peak, limit);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        prop_assert_eq!(names.len(), 1);
        prop_assert_eq!(std::fs::read(&path).ok(), Some(bytes));
    }
}

const CONFIGS: &[&str] = &[
    include_str!("../assets/config.example.toml"),
    "chain = [\"a\"]\n[[endpoint]]\nname = \"e\"\nbase_url = \"http://x.test\"\n[[model]]\nname = \"a\"\nid = \"x/a\"\n[probe]\nconcurrency = 4\n",
];

const STATES: &[&str] = &[
    r#"{"format":"chainwatch-state","version":1,"chain":["a","b"],"acknowledged":[{"model":"a","served":"x","at":"2025-01-01T00:00:00Z"}],"models":{"a":{"id":"x/a","samples":[{"at":"2025-01-01T00:00:00Z","class":null,"kind":"probe","latency_ms":5,"ttft_ms":1,"tokens_per_s":null}],"lifetime_ok":1,"lifetime_counted":1,"consecutive_ok":1}},"seen":{"a":"2025-01-01T00:00:00Z"},"ledger":{"days":[{"day":"2025-01-01","models":{"a":{"probes":1,"probe_usd":0.5,"prompts":0,"prompt_usd":0.0}}}]}}"#,
    r#"{"version":1,"chain":null}"#,
];

#[test]
fn files_over_the_caps_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::File::create(&state)
        .unwrap()
        .set_len(STATE_FILE_MAX + 1)
        .unwrap();
    let ((_, warning), peak) = peak_during(|| Store::at(&state).load());
    assert!(warning.unwrap().contains("over the 64 MiB"));
    assert!(peak < 64 * 1024, "{peak}");

    let config = dir.path().join("big.toml");
    std::fs::File::create(&config)
        .unwrap()
        .set_len(crate::config::CONFIG_FILE_MAX + 1)
        .unwrap();
    let (err, peak) = peak_during(|| Config::load(&config).unwrap_err().to_string());
    assert!(err.contains("over the 1 MiB a config file may be"), "{err}");
    assert!(peak < 64 * 1024, "{peak}");
}
