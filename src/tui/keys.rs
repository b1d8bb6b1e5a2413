//! The key bindings as data. The footer, the help overlay, the key handler
//! and the key tables of README.md and docs/dashboard.md all read
//! [`BINDINGS`] (and [`MOUSE`]), so what the screen and the docs say is
//! what the keys do. The tests fail when a binding is missing from help or
//! from the docs, or when two bindings clash in one [stack](STACKS).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, including while typing.
    Global,
    /// Every view (table, detail, providers, failure log), not while typing.
    Screen,
    /// The models table (the main view).
    Table,
    /// The detail view of one model.
    Detail,
    /// The failure log.
    Log,
    /// Typing a prompt.
    Prompt,
    /// Typing a filter (after `/`).
    Filter,
    /// A question waiting for yes or no.
    Confirm,
    /// The help overlay.
    Help,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "anywhere",
            Context::Screen => "every view",
            Context::Table => "models table",
            Context::Detail => "detail view",
            Context::Log => "failure log",
            Context::Prompt => "typing a prompt",
            Context::Filter => "typing a filter",
            Context::Confirm => "confirming",
            Context::Help => "help",
        }
    }
}

/// The contexts in force, first match first, for each state of the screen.
pub const TABLE: &[Context] = &[Context::Global, Context::Table, Context::Screen];
pub const DETAIL: &[Context] = &[Context::Global, Context::Detail, Context::Screen];
pub const LOG: &[Context] = &[Context::Global, Context::Log, Context::Screen];
pub const VIEW: &[Context] = &[Context::Global, Context::Screen];
pub const PROMPT: &[Context] = &[Context::Global, Context::Prompt];
pub const FILTER: &[Context] = &[Context::Global, Context::Filter];
pub const CONFIRM: &[Context] = &[Context::Global, Context::Confirm];
pub const HELP: &[Context] = &[Context::Global, Context::Help];

/// Every stack the screen uses, by name: the clash test walks these.
pub const STACKS: &[(&str, &[Context])] = &[
    ("table", TABLE),
    ("detail", DETAIL),
    ("failure log", LOG),
    ("providers", VIEW),
    ("prompt", PROMPT),
    ("filter", FILTER),
    ("confirm", CONFIRM),
    ("help", HELP),
];

/// What a key asks for; `update` gives it meaning in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    MoveUp,
    MoveDown,
    MoveTop,
    ToggleChain,
    ResetChain,
    Undo,
    Probe,
    ProbeAll,
    FocusPrompt,
    Detail,
    Providers,
    FailureLog,
    CycleSort,
    CycleTarget,
    /// Buffer the prompt panel's answers (shown once complete) or stream them.
    ToggleBuffer,
    /// Send the last prompt again.
    Resend,
    Filter,
    NextMatch,
    PrevMatch,
    ClockTimes,
    Copy,
    /// Cancel a running prompt or clear the filter, else leave the view.
    Back,
    Acknowledge,
    EventsUp,
    EventsDown,
    Send,
    Newline,
    ClearInput,
    DeleteChar,
    KeepFilter,
    ClearFilter,
    Yes,
    No,
}

/// One binding: the keys that trigger it, how the footer and help name it.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the footer writes the keys, short: "K/J", "↑↓".
    pub label: &'static str,
    pub help: &'static str,
    pub context: Context,
    pub action: KeyAction,
    /// Shown in the footer (help and the docs show all).
    pub footer: bool,
}

/// A key and the modifiers it needs. For characters, Shift is ignored: the
/// character itself says whether Shift was held ('J' versus 'j').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// What the mouse does: not looked up (the handler reads the event), but
/// listed with the keys in help and the docs.
#[derive(Debug, Clone, Copy)]
pub struct MouseBinding {
    pub label: &'static str,
    pub help: &'static str,
    pub context: Context,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn shift(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::SHIFT,
    }
}

const fn alt(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::ALT,
    }
}

macro_rules! bind {
    ($ctx:ident, $action:ident, $label:expr, $help:expr, $footer:expr, [$($k:expr),+ $(,)?]) => {
        Binding {
            keys: &[$($k),+],
            label: $label,
            help: $help,
            context: Context::$ctx,
            action: KeyAction::$action,
            footer: $footer,
        }
    };
}

use KeyCode::{Backspace, Down, End, Enter, Esc, Home, PageDown, PageUp, Tab, Up};

/// Every binding, in the order the footer and help list them. Bindings of
/// one context that share their help text are one line in help ("↑ k ↓ j
/// select").
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind!(Global, Quit, "^C", "quit", false, [ctrl('c')]),
    bind!(Screen, Quit, "q", "quit", true, [ch('q')]),
    bind!(Table, Up, "↑↓", "select", true, [key(Up), ch('k')]),
    bind!(Table, Down, "↑↓", "select", false, [key(Down), ch('j')]),
    bind!(Table, Filter, "/", "filter", true, [ch('/')]),
    bind!(Table, NextMatch, "n/N", "next/previous match", false, [ch('n')]),
    bind!(Table, PrevMatch, "n/N", "next/previous match", false, [ch('N')]),
    bind!(Table, MoveUp, "K/J", "move in chain", true, [ch('K'), shift(Up)]),
    bind!(Table, MoveDown, "K/J", "move in chain", false, [ch('J'), shift(Down)]),
    bind!(Table, MoveTop, "T", "move to the chain's top", false, [ch('T')]),
    bind!(Table, ToggleChain, "space", "in/out of chain", true, [ch(' ')]),
    bind!(Table, Undo, "u", "undo", true, [ch('u')]),
    bind!(Table, ResetChain, "R", "reset the chain (asks)", false, [ch('R')]),
    bind!(Table, Probe, "p", "probe now", true, [ch('p')]),
    bind!(Table, ProbeAll, "P", "probe all now", false, [ch('P')]),
    bind!(Table, FocusPrompt, "i", "prompt", true, [ch('i'), ch(':')]),
    bind!(Table, CycleTarget, "t", "prompt target", false, [ch('t')]),
    bind!(Table, ToggleBuffer, "b", "buffer answers (on/off)", false, [ch('b')]),
    bind!(Table, Resend, "r", "send the last prompt again", false, [ch('r')]),
    bind!(Table, Detail, "enter", "detail", true, [key(Enter)]),
    bind!(Table, CycleSort, "s", "sort", false, [ch('s')]),
    bind!(Table, PageUp, "pgup/pgdn", "page up/down", false, [key(PageUp)]),
    bind!(Table, PageDown, "pgup/pgdn", "page up/down", false, [key(PageDown)]),
    bind!(Table, Top, "g/G", "first/last", false, [key(Home), ch('g')]),
    bind!(Table, Bottom, "g/G", "first/last", false, [key(End), ch('G')]),
    bind!(Detail, Acknowledge, "a", "acknowledge drift", true, [ch('a')]),
    bind!(Detail, Probe, "p", "probe now", true, [ch('p')]),
    bind!(Detail, Up, "↑↓", "previous/next model", true, [key(Up), ch('k')]),
    bind!(Detail, Down, "↑↓", "previous/next model", false, [key(Down), ch('j')]),
    bind!(Log, Up, "↑↓", "select", true, [key(Up), ch('k')]),
    bind!(Log, Down, "↑↓", "select", false, [key(Down), ch('j')]),
    bind!(Log, Copy, "y", "copy the line", true, [ch('y')]),
    bind!(Log, Filter, "/", "filter", true, [ch('/')]),
    bind!(Log, NextMatch, "n/N", "next/previous match", false, [ch('n')]),
    bind!(Log, PrevMatch, "n/N", "next/previous match", false, [ch('N')]),
    bind!(Log, PageUp, "pgup/pgdn", "page up/down", false, [key(PageUp)]),
    bind!(Log, PageDown, "pgup/pgdn", "page up/down", false, [key(PageDown)]),
    bind!(Log, Top, "g/G", "newest/oldest", false, [key(Home), ch('g')]),
    bind!(Log, Bottom, "g/G", "newest/oldest", false, [key(End), ch('G')]),
    bind!(Screen, Back, "esc", "back / cancel prompt", true, [key(Esc)]),
    bind!(Screen, FailureLog, "l", "failure log", true, [ch('l')]),
    bind!(Screen, Providers, "tab", "providers", true, [key(Tab)]),
    bind!(Screen, ClockTimes, "c", "clock/relative times", false, [ch('c')]),
    bind!(Screen, EventsUp, "[ ]", "scroll events", false, [ch('[')]),
    bind!(Screen, EventsDown, "[ ]", "scroll events", false, [ch(']')]),
    bind!(Screen, Help, "?", "help", true, [ch('?')]),
    bind!(Prompt, Send, "enter", "send", true, [key(Enter)]),
    bind!(Prompt, Newline, "alt+enter", "new line", true, [alt(Enter), shift(Enter)]),
    bind!(Prompt, Back, "esc", "cancel / leave", true, [key(Esc)]),
    bind!(Prompt, ClearInput, "^U", "clear", false, [ctrl('u')]),
    bind!(Prompt, DeleteChar, "⌫", "delete", false, [key(Backspace)]),
    bind!(Filter, KeepFilter, "enter", "keep the filter", true, [key(Enter)]),
    bind!(Filter, ClearFilter, "esc", "clear the filter", true, [key(Esc)]),
    bind!(Filter, ClearInput, "^U", "clear", false, [ctrl('u')]),
    bind!(Filter, DeleteChar, "⌫", "delete", false, [key(Backspace)]),
    bind!(Confirm, Yes, "y", "yes", true, [ch('y'), key(Enter)]),
    bind!(Confirm, No, "n", "no", true, [ch('n'), key(Esc)]),
    bind!(Help, Up, "↑↓", "scroll", false, [key(Up), ch('k')]),
    bind!(Help, Down, "↑↓", "scroll", false, [key(Down), ch('j')]),
];

/// The mouse, for help and the docs.
pub const MOUSE: &[MouseBinding] = &[
    MouseBinding {
        label: "click",
        help: "select a row",
        context: Context::Table,
    },
    MouseBinding {
        label: "wheel",
        help: "select up/down",
        context: Context::Table,
    },
    MouseBinding {
        label: "click",
        help: "select a line",
        context: Context::Log,
    },
    MouseBinding {
        label: "wheel",
        help: "select up/down",
        context: Context::Log,
    },
];

impl Key {
    fn matches(&self, event: &KeyEvent) -> bool {
        let mods = event.modifiers & !KeyModifiers::SHIFT;
        let want = self.mods & !KeyModifiers::SHIFT;
        match (self.code, event.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                // Terminals disagree on the case they report with Ctrl held.
                let same = if want.contains(KeyModifiers::CONTROL) {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a == b
                };
                same && mods == want
            }
            (a, b) => a == b && event.modifiers == self.mods,
        }
    }

    /// How help and the docs write the key: "k", "↑", "shift+↑", "ctrl+u",
    /// "space".
    pub fn name(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("ctrl+");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("alt+");
        }
        // A shifted character is written as itself ('J').
        if self.mods.contains(KeyModifiers::SHIFT) && !matches!(self.code, KeyCode::Char(_)) {
            out.push_str("shift+");
        }
        out.push_str(&base);
        out
    }
}

/// The binding for a key press in the given contexts (first match wins, in
/// the order the contexts are given). Key releases are ignored.
pub fn lookup(event: &KeyEvent, contexts: &[Context]) -> Option<KeyAction> {
    binding_for(event, contexts).map(|b| b.action)
}

fn binding_for(event: &KeyEvent, contexts: &[Context]) -> Option<&'static Binding> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    contexts.iter().find_map(|ctx| {
        BINDINGS
            .iter()
            .filter(|b| b.context == *ctx)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
    })
}

/// The footer's items for a stack, in table order: (keys, what they do),
/// with a label shared by two bindings shown once.
pub fn footer(contexts: &[Context]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for b in BINDINGS
        .iter()
        .filter(|b| b.footer && contexts.contains(&b.context))
    {
        if !out.iter().any(|(l, _)| *l == b.label) {
            out.push((b.label, b.help));
        }
    }
    out
}

/// The order help and the docs list the contexts in.
const HELP_ORDER: [Context; 9] = [
    Context::Table,
    Context::Screen,
    Context::Detail,
    Context::Log,
    Context::Prompt,
    Context::Filter,
    Context::Confirm,
    Context::Help,
    Context::Global,
];

/// Every binding grouped by context, every key named: (context, [(keys,
/// what)]). Bindings of a context that share their help text are one item
/// ("↑ k ↓ j", "select"); the mouse comes after a context's keys.
pub fn help() -> Vec<(Context, Vec<(String, &'static str)>)> {
    HELP_ORDER
        .iter()
        .map(|ctx| {
            let mut items: Vec<(String, &'static str)> = Vec::new();
            for b in BINDINGS.iter().filter(|b| b.context == *ctx) {
                let names: Vec<String> = b.keys.iter().map(Key::name).collect();
                match items.iter_mut().find(|(_, h)| *h == b.help) {
                    Some((keys, _)) => {
                        keys.push(' ');
                        keys.push_str(&names.join(" "));
                    }
                    None => items.push((names.join(" "), b.help)),
                }
            }
            for m in MOUSE.iter().filter(|m| m.context == *ctx) {
                items.push((format!("mouse {}", m.label), m.help));
            }
            (*ctx, items)
        })
        .filter(|(_, items)| !items.is_empty())
        .collect()
}

/// The key table of README.md and docs/dashboard.md, as Markdown.
pub fn markdown() -> String {
    let mut out = String::from("| keys | where | what |\n|---|---|---|\n");
    for (ctx, items) in help() {
        for (keys, what) in items {
            let keys: Vec<String> = keys
                .split(' ')
                .map(|k| match k {
                    "mouse" => "mouse".to_string(),
                    "|" => "`\\|`".to_string(),
                    k => format!("`{k}`"),
                })
                .collect();
            out.push_str(&format!(
                "| {} | {} | {what} |\n",
                keys.join(" "),
                ctx.title()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shift_letters_and_arrows() {
        let t = TABLE;
        assert_eq!(
            lookup(&press(KeyCode::Char('J'), KeyModifiers::SHIFT), t),
            Some(KeyAction::MoveDown)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('j'), KeyModifiers::NONE), t),
            Some(KeyAction::Down)
        );
        assert_eq!(
            lookup(&press(KeyCode::Up, KeyModifiers::SHIFT), t),
            Some(KeyAction::MoveUp)
        );
        assert_eq!(
            lookup(&press(KeyCode::Up, KeyModifiers::NONE), t),
            Some(KeyAction::Up)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('C'), KeyModifiers::CONTROL), t),
            Some(KeyAction::Quit)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('/'), KeyModifiers::NONE), t),
            Some(KeyAction::Filter)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('x'), KeyModifiers::NONE), t),
            None
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('q'), KeyModifiers::CONTROL), t),
            None,
            "a modifier the binding does not name does not match"
        );
    }

    /// Every key of every binding, and every mouse binding, appears in help
    /// under its context.
    #[test]
    fn help_lists_every_binding() {
        let help = help();
        for b in BINDINGS {
            let (_, items) = help
                .iter()
                .find(|(c, _)| *c == b.context)
                .unwrap_or_else(|| panic!("no help group for {:?}", b.context));
            for k in b.keys {
                let name = k.name();
                let listed = items
                    .iter()
                    .any(|(keys, what)| *what == b.help && keys.split(' ').any(|n| n == name));
                assert!(
                    listed,
                    "{name} ({}) is missing from help under {:?}",
                    b.help, b.context
                );
            }
        }
        for m in MOUSE {
            let listed = help.iter().any(|(c, items)| {
                *c == m.context
                    && items
                        .iter()
                        .any(|(k, h)| *h == m.help && k.ends_with(m.label))
            });
            assert!(listed, "mouse {} is missing from help", m.label);
        }
        let markdown = markdown();
        for b in BINDINGS {
            for k in b.keys {
                assert!(
                    markdown.contains(&format!("`{}`", k.name())),
                    "{} missing from the docs' table",
                    k.name()
                );
            }
        }
    }

    /// No key means two things in one stack: the second could never fire.
    #[test]
    fn no_two_bindings_clash_in_a_stack() {
        for (stack, contexts) in STACKS {
            let active: Vec<&Binding> = BINDINGS
                .iter()
                .filter(|b| contexts.contains(&b.context))
                .collect();
            for (i, a) in active.iter().enumerate() {
                for b in &active[i + 1..] {
                    for ka in a.keys {
                        // A key event that `ka` matches, tried against `b`.
                        let event = KeyEvent::new(ka.code, ka.mods);
                        let clash = b.keys.iter().any(|kb| kb.matches(&event));
                        assert!(
                            !clash,
                            "in the {stack} stack, {} means both {:?} ({:?}) and {:?} ({:?})",
                            ka.name(),
                            a.action,
                            a.context,
                            b.action,
                            b.context
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn footer_and_help_read_the_table() {
        let f = footer(TABLE);
        assert!(f.contains(&("q", "quit")));
        assert!(f.contains(&("K/J", "move in chain")));
        assert!(f.contains(&("/", "filter")));
        assert_eq!(f.iter().filter(|(l, _)| *l == "↑↓").count(), 1);
        let help = help();
        let table = &help.iter().find(|(c, _)| *c == Context::Table).unwrap().1;
        assert!(table.contains(&("↑ k ↓ j".to_string(), "select")));
        assert!(table.contains(&("K shift+↑ J shift+↓".to_string(), "move in chain")));
        assert!(table.contains(&("i :".to_string(), "prompt")));
        assert!(table.contains(&("home g end G".to_string(), "first/last")));
        let prompt = &help.iter().find(|(c, _)| *c == Context::Prompt).unwrap().1;
        assert!(prompt.contains(&("ctrl+u".to_string(), "clear")));
        assert!(markdown().contains("| `R` | models table | reset the chain (asks) |"));
    }
}
