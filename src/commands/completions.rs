//! `chainwatch completions SHELL` and `chainwatch man`: the command line
//! described for shells (clap_complete) and for `man` (roff, clap_mangen),
//! both drawn from the one clap definition in `cli.rs`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `args.shell`, e.g.
/// `chainwatch completions bash > ~/.local/share/bash-completion/completions/chainwatch`.
pub fn completions(args: &CompletionsArgs, out: &mut impl Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "chainwatch", out);
    out.flush()
}

/// Prints the man page (roff), e.g. `chainwatch man > ~/.local/share/man/man1/chainwatch.1`,
/// with a section per subcommand.
pub fn man(out: &mut impl Write) -> std::io::Result<()> {
    let cmd = Cli::command();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut head = Vec::new();
    page.render_title(&mut head)?;
    page.render_name_section(&mut head)?;
    page.render_synopsis_section(&mut head)?;
    page.render_description_section(&mut head)?;
    page.render_options_section(&mut head)?;
    let mut seen = Vec::new();
    out.write_all(&tidy(&head, false, &mut seen))?;
    // One section per subcommand; its synopsis, description and options
    // are subsections of it.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"CHAINWATCH {}\"", name.to_uppercase())?;
        let sub_page = clap_mangen::Man::new(sub.clone().bin_name(format!("chainwatch {name}")));
        let mut body = Vec::new();
        sub_page.render_synopsis_section(&mut body)?;
        sub_page.render_description_section(&mut body)?;
        sub_page.render_options_section(&mut body)?;
        out.write_all(&tidy(&body, true, &mut seen))?;
    }
    let mut tail = Vec::new();
    page.render_version_section(&mut tail)?;
    out.write_all(&tidy(&tail, false, &mut seen))?;
    out.flush()
}

/// clap_mangen starts every section with the same two-line string
/// definition: kept once, at the top (`demote` bodies drop it). `demote`
/// also turns `.SH` into `.SS`.
fn tidy(roff: &[u8], demote: bool, seen: &mut Vec<String>) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.contains(".ds Aq") {
            if demote || seen.iter().any(|s| s == line) {
                continue;
            }
            seen.push(line.to_string());
        }
        match line.strip_prefix(".SH ") {
            Some(rest) if demote => out.push_str(&format!(".SS {rest}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_know_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            completions(&CompletionsArgs { shell }, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for sub in [
                "check",
                "ask",
                "chain",
                "watch",
                "init",
                "completions",
                "man",
            ] {
                assert!(text.contains(sub), "{shell}: no {sub}");
            }
            assert!(text.contains("--config"), "{shell}");
        }
    }

    #[test]
    fn man_page_is_roff_with_every_subcommand() {
        let mut out = Vec::new();
        man(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH chainwatch 1"),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(text.contains(".TH chainwatch 1"));
        assert!(text.contains(".SH NAME"));
        for sub in [
            "CHECK",
            "ASK",
            "CHAIN",
            "WATCH",
            "INIT",
            "COMPLETIONS",
            "MAN",
        ] {
            assert!(
                text.contains(&format!(".SH \"CHAINWATCH {sub}\"")),
                "no {sub}"
            );
        }
        assert!(
            text.contains(".SS SYNOPSIS"),
            "subcommands' sections are subsections"
        );
        assert!(text.contains("\\-\\-rounds"), "check's options are there");
        assert!(text.contains("\\-\\-force"), "init's options are there");
    }
}
