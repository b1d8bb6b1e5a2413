//! `chainwatch init [--force]`: from the demo to real models in one step. It
//! writes a commented config to the XDG path (or `--config FILE`) with the
//! article's chain through OpenRouter and, for each of
//! `OPENROUTER_API_KEY`, `ANTHROPIC_API_KEY` and `OPENAI_API_KEY` found in
//! the environment, a matching endpoint. Keys are never written: the file
//! names the variables. An existing file is kept unless `--force` (then it
//! is moved aside to `….bak`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::Config;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// Replace an existing config file (the old one is kept as FILE.bak).
    #[arg(long)]
    pub force: bool,
}

/// The key variables `init` looks for, and what each adds.
pub const KEY_VARS: [&str; 3] = ["OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"];

/// Writes the config to `path` (`--config`), else the XDG default path.
pub fn run(
    args: &InitArgs,
    path: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let Some(path) = path.map(Path::to_path_buf).or_else(Config::default_path) else {
        anyhow::bail!(
            "neither XDG_CONFIG_HOME nor HOME is set, so there is no default config path; \
             give one with `chainwatch init --config FILE`"
        );
    };
    let found: Vec<&str> = KEY_VARS
        .into_iter()
        .filter(|var| env(var).is_some_and(|v| !v.trim().is_empty()))
        .collect();
    let text = render(&found);
    match write(&path, &text, args.force) {
        Ok(moved) => {
            // What was written must load; a bug here is better found now.
            Config::load(&path)
                .with_context(|| format!("{} was written but does not load", path.display()))?;
            writeln!(out, "chainwatch: wrote {}", path.display())?;
            if let Some(old) = moved {
                writeln!(out, "chainwatch: the old file is now {}", old.display())?;
            }
            for var in KEY_VARS {
                let what = match var {
                    "OPENROUTER_API_KEY" => "the article's chain through OpenRouter",
                    "ANTHROPIC_API_KEY" => {
                        "Claude directly (claude-direct), compared with OpenRouter's"
                    }
                    _ => "GPT-4o directly (gpt-4o-direct), compared with OpenRouter's",
                };
                let state = if found.contains(&var) {
                    "set"
                } else {
                    "not set"
                };
                writeln!(out, "  {var:<19} {state:<8} {what}")?;
            }
            if !found.contains(&"OPENROUTER_API_KEY") {
                writeln!(
                    out,
                    "chainwatch: OPENROUTER_API_KEY is not set: the chain's models show as \
                     misconfigured until you export it"
                )?;
            }
            writeln!(
                out,
                "chainwatch: `chainwatch` watches it, `chainwatch check` gives a verdict; \
                 keys stay in the environment, never in the file"
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(WriteError::Exists) => {
            eprintln!(
                "chainwatch: {} already exists; keep it, or replace it with \
                 `chainwatch init --force` (the old one is kept as .bak)",
                path.display()
            );
            Ok(ExitCode::from(2))
        }
        Err(WriteError::Io(e)) => Err(e),
    }
}

enum WriteError {
    Exists,
    Io(anyhow::Error),
}

/// Writes `text` to `path`, creating its directory; without `force` an
/// existing file is left alone. Returns where an old file was moved.
fn write(path: &Path, text: &str, force: bool) -> Result<Option<PathBuf>, WriteError> {
    let io = |what: &str, e: std::io::Error| {
        WriteError::Io(anyhow::Error::new(e).context(format!("{what} {}", path.display())))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    }
    let mut moved = None;
    if force && path.exists() {
        let mut bak = path.as_os_str().to_owned();
        bak.push(".bak");
        let bak = PathBuf::from(bak);
        std::fs::rename(path, &bak).map_err(|e| io("moving aside", e))?;
        moved = Some(bak);
    }
    // `create_new`: two `init`s at once, or a file made meanwhile, are not
    // overwritten.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(WriteError::Exists),
        Err(e) => return Err(io("creating", e)),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("writing", e))?;
    Ok(moved)
}

/// The article's models through OpenRouter: (name, id, tier).
const ARTICLE: [(&str, &str, &str); 7] = [
    ("claude-sonnet", "anthropic/claude-sonnet-4", "premium"),
    ("gpt-4o", "openai/gpt-4o", "premium"),
    ("gemini-pro", "google/gemini-2.5-pro", ""),
    ("deepseek", "deepseek/deepseek-chat", "standard"),
    ("gemini-flash", "google/gemini-2.5-flash", "standard"),
    ("gpt-4o-mini", "openai/gpt-4o-mini", "budget"),
    (
        "gemini-flash-lite",
        "google/gemini-2.5-flash-lite",
        "budget",
    ),
];

/// The config text for the key variables `found` in the environment.
pub fn render(found: &[&str]) -> String {
    let has = |var: &str| found.contains(&var);
    let yes_no = |var: &str| if has(var) { "set" } else { "not set" };
    let mut t = String::new();
    t.push_str(&format!(
        "# chainwatch configuration, written by `chainwatch init`.
#
# Durations are human strings (\"250ms\", \"30s\", \"15m\"). Keys are never
# written here: each endpoint names the environment variable that holds its
# key. When this file was written:
#   OPENROUTER_API_KEY  {}
#   ANTHROPIC_API_KEY   {}
#   OPENAI_API_KEY      {}
# Every setting is described in assets/config.example.toml in chainwatch's
# source. `chainwatch check` probes every model once and gives a verdict.

# The fallback chain, tried in this order for your prompts (the article's).
chain = [\"claude-sonnet\", \"gpt-4o\", \"gemini-pro\", \"deepseek\"]

[health]
window = \"15m\"          # sliding window for the success ratio
threshold = 0.95        # healthy when the ratio is above this
recover_after = 3       # successes in a row that re-admit an unhealthy model

[probe]
interval = \"60s\"        # each model gets a tiny test prompt this often
max_tokens = 16
# daily_budget = 0.50   # USD per day spent on probes; no limit when left out

# One OpenAI-compatible endpoint for many models.
[[endpoint]]
name = \"openrouter\"
base_url = \"https://openrouter.ai/api/v1\"
api_key_env = \"OPENROUTER_API_KEY\"
",
        yes_no("OPENROUTER_API_KEY"),
        yes_no("ANTHROPIC_API_KEY"),
        yes_no("OPENAI_API_KEY"),
    ));
    if has("ANTHROPIC_API_KEY") {
        t.push_str(
            "
# Anthropic's own API: the same Claude directly. The provider view (Tab)
# compares the two ways (time to first token, total, price).
[[endpoint]]
name = \"anthropic\"
base_url = \"https://api.anthropic.com/v1\"
api_key_env = \"ANTHROPIC_API_KEY\"
dialect = \"anthropic\"
",
        );
    }
    if has("OPENAI_API_KEY") {
        t.push_str(
            "
# OpenAI's own API: the same GPT-4o directly, compared likewise.
[[endpoint]]
name = \"openai\"
base_url = \"https://api.openai.com/v1\"
api_key_env = \"OPENAI_API_KEY\"
",
        );
    }
    for (name, id, tier) in ARTICLE {
        t.push_str(&format!(
            "\n[[model]]\nname = \"{name}\"\nid = \"{id}\"\nendpoint = \"openrouter\"\n"
        ));
        if !tier.is_empty() {
            t.push_str(&format!("tier = \"{tier}\"\n"));
        }
        if name == "gemini-pro" {
            t.push_str(
                "# A reasoning model: room for thinking tokens, the least effort.\n\
                 probe = { max_tokens = 256 }\n\
                 extra = { reasoning = { effort = \"low\" } }\n",
            );
        }
    }
    let direct = |name: &str, id: &str, endpoint: &str, same: &str| {
        format!(
            "\n# Not in the chain: watched and compared (add it to `chain` to route to it).\n\
             [[model]]\nname = \"{name}\"\nid = \"{id}\"\nendpoint = \"{endpoint}\"\n\
             same_as = \"{same}\"\n# The direct API is paid per probe: probe it less often.\n\
             probe = {{ interval = \"5m\" }}\n"
        )
    };
    if has("ANTHROPIC_API_KEY") {
        t.push_str(&direct(
            "claude-direct",
            "claude-sonnet-4-20250514",
            "anthropic",
            "claude-sonnet",
        ));
    }
    if has("OPENAI_API_KEY") {
        t.push_str(&direct("gpt-4o-direct", "gpt-4o", "openai", "gpt-4o"));
    }
    t.push_str(
        "
# Cost tiers for `chainwatch ask --tier`, escalating budget → standard → premium.
[tiers]
premium  = [\"claude-sonnet\", \"gpt-4o\"]
standard = [\"gemini-flash\", \"deepseek\"]
budget   = [\"gpt-4o-mini\", \"gemini-flash-lite\"]

# Tell someone when a chain model goes down: uncomment, and export the
# webhook URL (it carries a token, so it lives in the environment).
# Slack, PagerDuty and commands: docs/alerts.md in chainwatch's source.
# [[alert]]
# name = \"on-call\"
# to = [\"unhealthy\", \"misconfigured\"]
# chain_only = true
# url_env = \"SLACK_WEBHOOK_URL\"
# format = \"slack\"
# min_interval = \"10m\"
",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Dialect;

    fn every_combination() -> Vec<Vec<&'static str>> {
        (0..8u8)
            .map(|bits| {
                KEY_VARS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, v)| *v)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_written_file_loads_and_names_only_found_endpoints() {
        for found in every_combination() {
            let text = render(&found);
            let c = Config::parse(&text, Path::new("config.toml"))
                .unwrap_or_else(|e| panic!("{found:?}: {e}\n{text}"));
            assert_eq!(
                c.chain,
                ["claude-sonnet", "gpt-4o", "gemini-pro", "deepseek"]
            );
            let endpoints: Vec<&str> = c.endpoints.iter().map(|e| e.name.as_str()).collect();
            let mut want = vec!["openrouter"];
            if found.contains(&"ANTHROPIC_API_KEY") {
                want.push("anthropic");
            }
            if found.contains(&"OPENAI_API_KEY") {
                want.push("openai");
            }
            assert_eq!(endpoints, want, "{found:?}");
            assert_eq!(
                c.endpoint("anthropic").map(|e| e.dialect),
                found
                    .contains(&"ANTHROPIC_API_KEY")
                    .then_some(Dialect::Anthropic)
            );
            // The direct models pair with their OpenRouter twins.
            let pairs = crate::compare::pairs(&c);
            assert_eq!(
                pairs.len(),
                usize::from(found.contains(&"ANTHROPIC_API_KEY"))
                    + usize::from(found.contains(&"OPENAI_API_KEY")),
                "{pairs:?}"
            );
            assert!(c.alerts.is_empty(), "the alert example is commented out");
            // Uncommented, the alert example loads too.
            let at = text.find("# [[alert]]").unwrap();
            let (head, example) = text.split_at(at);
            let uncommented: String = example
                .lines()
                .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
                .collect();
            let uncommented = format!("{head}{uncommented}");
            let with_alert = Config::parse(&uncommented, Path::new("config.toml"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(with_alert.alerts.len(), 1);
        }
    }

    #[test]
    fn keys_are_never_written_and_an_existing_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let env = |var: &str| match var {
            "OPENROUTER_API_KEY" => Some("sk-or-v1-0123456789abcdef0123456789".to_string()),
            "ANTHROPIC_API_KEY" => Some("sk-ant-api03-secretsecretsecret".to_string()),
            "OPENAI_API_KEY" => Some("   ".to_string()),
            _ => None,
        };
        let mut out = Vec::new();
        let code = run(&InitArgs::default(), Some(&path), env, &mut out).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("0123456789abcdef") && !text.contains("secretsecret"));
        assert!(text.contains("name = \"anthropic\""));
        assert!(
            !text.contains("name = \"openai\""),
            "a blank variable is not set"
        );
        let said = String::from_utf8(out).unwrap();
        assert!(
            said.contains(&format!("wrote {}", path.display())),
            "{said}"
        );
        assert!(!said.contains("0123456789abcdef"), "{said}");

        // Again: refused, the file untouched.
        std::fs::write(&path, "# mine\n").unwrap();
        let code = run(&InitArgs::default(), Some(&path), env, &mut Vec::new()).unwrap();
        assert_eq!(code, ExitCode::from(2));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

        // With --force: replaced, the old one kept beside it.
        let mut out = Vec::new();
        let code = run(&InitArgs { force: true }, Some(&path), env, &mut out).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(Config::load(&path).is_ok());
        let bak = dir.path().join("sub/config.toml.bak");
        assert_eq!(std::fs::read_to_string(bak).unwrap(), "# mine\n");
    }
}
