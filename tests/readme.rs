//! The README holds: every TOML block in it and `assets/config.example.toml`
//! load through the real loader as written, the alert examples in
//! `docs/alerts.md` load beside the example's models, the screenshot in the
//! README is `assets/screenshot.txt`, and its two commands are the ones
//! `.ci/run` and a person run.

use std::path::{Path, PathBuf};

use chainwatch::config::Config;

fn file(rel: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (path, text)
}

/// The fenced blocks of `lang` in a Markdown text, with the line each
/// starts on.
fn blocks(md: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut open, fence) {
            (None, true) => {
                let info = line.trim_start().trim_start_matches('`').trim();
                // Other languages' blocks are opened too, to be skipped whole.
                open = Some((
                    i + 2,
                    if info == lang {
                        String::new()
                    } else {
                        "\0".into()
                    },
                ));
            }
            (Some((start, text)), true) => {
                if !text.starts_with('\0') {
                    out.push((*start, std::mem::take(text)));
                }
                open = None;
            }
            (Some((_, text)), false) => {
                if !text.starts_with('\0') {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            (None, false) => {}
        }
    }
    out
}

#[test]
fn every_toml_block_in_the_readme_loads_as_written() {
    let (path, readme) = file("README.md");
    let found = blocks(&readme, "toml");
    assert!(!found.is_empty(), "the README shows a config");
    for (line, text) in &found {
        let config = Config::parse(text, &path)
            .unwrap_or_else(|e| panic!("README.md block at line {line} is refused: {e}"));
        // The chain it shows names models it defines (the loader checks),
        // and the comparison it promises is there.
        assert!(!config.chain.is_empty());
        if config.model("claude-direct").is_some() {
            assert_eq!(chainwatch::compare::pairs(&config).len(), 1);
        }
    }
}

#[test]
fn the_example_config_loads_and_its_alerts_and_pair_are_real() {
    let (path, _) = file("assets/config.example.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.alerts.is_empty(), "the example shows [[alert]]");
    let pairs = chainwatch::compare::pairs(&config);
    assert!(
        pairs
            .iter()
            .any(|p| p.first == "claude-sonnet" && p.second == "claude-direct"),
        "{pairs:?}"
    );
}

#[test]
fn the_alert_examples_load_beside_the_example_models() {
    let (_, example) = file("assets/config.example.toml");
    // The example's own alerts left out: the docs' may share their names.
    let example = example.split("\n[[alert]]").next().unwrap_or_default();
    let (path, alerts) = file("docs/alerts.md");
    let found = blocks(&alerts, "toml");
    assert!(!found.is_empty());
    for (line, text) in found {
        let whole = format!("{example}\n{text}");
        let config = Config::parse(&whole, &path)
            .unwrap_or_else(|e| panic!("docs/alerts.md block at line {line}: {e}"));
        assert!(!config.alerts.is_empty());
    }
}

#[test]
fn the_readme_shows_the_screenshot_and_keeps_its_two_commands() {
    let (_, readme) = file("README.md");
    let (_, shot) = file("assets/screenshot.txt");
    let shot = shot.trim_end();
    assert_eq!(shot.lines().count(), 32, "120×32");
    assert!(shot.lines().all(|l| l.chars().count() == 120), "120×32");
    assert!(
        blocks(&readme, "")
            .iter()
            .any(|(_, b)| b.trim_end() == shot),
        "the README's screenshot is assets/screenshot.txt"
    );
    let commands = blocks(&readme, "sh");
    let first = &commands[0].1;
    assert!(first.lines().any(|l| l.starts_with("cargo run --release ")));
    assert!(first.lines().any(|l| l.starts_with("cargo test ")));
    let (_, ci) = file(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim_start().starts_with("cargo test")),
        ".ci/run runs the tests the README names"
    );
}
