//! `chainwatch chain show | move NAME POS | remove NAME | add NAME [POS] | reset`:
//! the saved order of the fallback chain.
//!
//! The order lives in the state file (`State::chain`), so a running
//! dashboard, `ask` and a restart all see an edit at once. `None` there means
//! "the config's order"; `reset` goes back to it.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Config;
use crate::report::text::{Column, Table};
use crate::route::{save_edit, Chain, ChainEdit, SaveEditError};
use crate::store::Store;
use crate::text::SafeWriter;

#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
    #[command(subcommand)]
    pub action: Option<ChainAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum ChainAction {
    /// Print the order with positions, and the models out of the chain (the default).
    Show,
    /// Move a model to a position (1 = first choice).
    Move { name: String, pos: usize },
    /// Take a model out of the chain (it is still watched).
    Remove { name: String },
    /// Put a model back in the chain, at a position or at the end.
    Add { name: String, pos: Option<usize> },
    /// Go back to the config's order.
    Reset,
}

pub async fn run(
    args: ChainArgs,
    config: &Config,
    store: Option<Store>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    // Names and ids come from a config file that may not be the user's own.
    let (mut out, mut err) = (SafeWriter::lines(out), SafeWriter::lines(err));
    let (out, err) = (&mut out, &mut err);
    let edit = match args.action.unwrap_or(ChainAction::Show) {
        ChainAction::Show => None,
        ChainAction::Move { name, pos } => Some(ChainEdit::Move {
            model: name,
            to: pos,
        }),
        ChainAction::Remove { name } => Some(ChainEdit::Remove { model: name }),
        ChainAction::Add { name, pos } => Some(ChainEdit::Add {
            model: name,
            at: pos,
        }),
        ChainAction::Reset => Some(ChainEdit::Reset),
    };
    let Some(edit) = edit else {
        // Reading only: a file that cannot be used is reported, never moved.
        let (chain, warning) = Chain::load(config, store.as_ref());
        if let Some(w) = warning {
            writeln!(err, "warning: {w}")?;
        }
        show(&chain, config, out)?;
        return Ok(ExitCode::SUCCESS);
    };
    let Some(store) = &store else {
        writeln!(
            err,
            "error: there is nowhere to save the chain: set HOME or XDG_STATE_HOME"
        )?;
        return Ok(ExitCode::from(1));
    };
    // The edit is applied to the order on disk under the lock, so an edit
    // another process made meanwhile is kept.
    match save_edit(config, store, &edit) {
        Ok(chain) => {
            show(&chain, config, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(SaveEditError::Edit(e)) => {
            writeln!(err, "error: {e}")?;
            Ok(ExitCode::from(2))
        }
        Err(SaveEditError::Store(e)) => {
            writeln!(err, "error: could not save the chain: {e}")?;
            Ok(ExitCode::from(1))
        }
    }
}

fn show(chain: &Chain, config: &Config, out: &mut impl Write) -> std::io::Result<()> {
    let origin = if chain.is_customised() {
        "saved order; `chainwatch chain reset` goes back to the config's"
    } else {
        "the config's order"
    };
    writeln!(out, "chain ({origin}):")?;
    if chain.order().is_empty() {
        writeln!(
            out,
            "  (empty: add a model with `chainwatch chain add NAME`)"
        )?;
    }
    // As wide as every known name, so the order lines up before and after an edit.
    let width = chain
        .known()
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0);
    let mut table = Table::new(vec![
        Column::right("").min(2),
        Column::left("").min(width),
        Column::left(""),
    ])
    .indent(2);
    for (i, name) in chain.order().iter().enumerate() {
        let id = config.model(name).map_or("", |m| m.id.as_str());
        table.row(vec![(i + 1).to_string(), name.clone(), id.to_string()]);
    }
    table.write_to(out)?;
    let out_of_chain: Vec<&str> = chain
        .known()
        .iter()
        .filter(|n| !chain.contains(n))
        .map(String::as_str)
        .collect();
    if !out_of_chain.is_empty() {
        writeln!(out, "not in the chain: {}", out_of_chain.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::builtin()
    }

    async fn chain(store: &Store, action: Option<ChainAction>) -> (u8, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run(
            ChainArgs { action },
            &config(),
            Some(store.clone()),
            &mut out,
            &mut err,
        )
        .await
        .expect("runs");
        let code = if code == ExitCode::SUCCESS {
            0
        } else if code == ExitCode::from(1) {
            1
        } else if code == ExitCode::from(2) {
            2
        } else {
            255
        };
        (
            code,
            String::from_utf8(out).expect("utf-8"),
            String::from_utf8(err).expect("utf-8"),
        )
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::at(dir.path().join("state.json"));
        (dir, store)
    }

    #[tokio::test]
    async fn show_lists_positions_and_what_is_out() {
        let (_dir, store) = store();
        let (code, out, err) = chain(&store, None).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("chain (the config's order):"), "{out}");
        assert!(out.contains("   1  claude-sonnet"), "{out}");
        assert!(out.contains("   4  deepseek"), "{out}");
        assert!(
            out.contains("not in the chain: gemini-flash, gpt-4o-mini, gemini-flash-lite"),
            "{out}"
        );
        assert!(!store.path().exists(), "show writes nothing");
    }

    #[tokio::test]
    async fn edits_are_saved_and_survive_a_restart() {
        let (_dir, store) = store();
        let move_ = ChainAction::Move {
            name: "deepseek".into(),
            pos: 1,
        };
        assert_eq!(chain(&store, Some(move_)).await.0, 0);
        let (_, out, _) = chain(
            &store,
            Some(ChainAction::Remove {
                name: "gpt-4o".into(),
            }),
        )
        .await;
        assert!(out.contains("   1  deepseek"), "{out}");
        assert!(out.contains("saved order"), "{out}");
        let add = ChainAction::Add {
            name: "gpt-4o-mini".into(),
            pos: Some(2),
        };
        assert_eq!(chain(&store, Some(add)).await.0, 0);

        // A fresh load (a restart) reads the saved order.
        let (loaded, _) = Chain::load(&config(), Some(&store));
        assert_eq!(
            loaded.order(),
            ["deepseek", "gpt-4o-mini", "claude-sonnet", "gemini-pro"]
        );
        assert_eq!(
            store.load().0.chain.as_deref(),
            Some(loaded.order()),
            "written through the store"
        );

        let (code, out, _) = chain(&store, Some(ChainAction::Reset)).await;
        assert_eq!(code, 0);
        assert!(out.contains("the config's order"), "{out}");
        assert_eq!(store.load().0.chain, None, "reset follows the config again");
    }

    #[tokio::test]
    async fn unknown_names_and_bad_positions_are_usage_errors() {
        let (_dir, store) = store();
        let cases = [
            (
                ChainAction::Move {
                    name: "gpt-5".into(),
                    pos: 1,
                },
                "unknown model \"gpt-5\"; known models: claude-sonnet, gpt-4o",
            ),
            (
                ChainAction::Move {
                    name: "gpt-4o".into(),
                    pos: 9,
                },
                "position 9 is out of range",
            ),
            (
                ChainAction::Remove {
                    name: "gpt-4o-mini".into(),
                },
                "is not in the chain; add it with `chainwatch chain add gpt-4o-mini`",
            ),
            (
                ChainAction::Add {
                    name: "gpt-4o".into(),
                    pos: None,
                },
                "already in the chain",
            ),
        ];
        for (action, expected) in cases {
            let (code, out, err) = chain(&store, Some(action.clone())).await;
            assert_eq!(code, 2, "{action:?}");
            assert!(err.contains(expected), "{action:?}: {err}");
            assert!(out.is_empty(), "{action:?}");
        }
        assert!(!store.path().exists(), "a failed edit saves nothing");
    }

    #[tokio::test]
    async fn edits_keep_the_rest_of_the_state() {
        let (_dir, store) = store();
        store
            .update(|state| state.acknowledge("gpt-4o", "openai/gpt-4o-2", chrono::Utc::now()))
            .expect("seed");
        let remove = ChainAction::Remove {
            name: "gemini-pro".into(),
        };
        assert_eq!(chain(&store, Some(remove)).await.0, 0);
        let state = store.load().0;
        assert!(state.acknowledged_for("gpt-4o").is_some());
        assert_eq!(
            state.chain.as_deref(),
            Some(&["claude-sonnet", "gpt-4o", "deepseek"].map(String::from)[..])
        );
    }
}
