//! The key bindings as data. The footer, the help overlay and the key handler
//! all read [`BINDINGS`], so what the screen says is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, including while typing a prompt.
    Global,
    /// Everywhere except while typing a prompt.
    Screen,
    /// The models table (the main view).
    Table,
    /// The detail view of one model.
    Detail,
    /// Typing a prompt.
    Prompt,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "anywhere",
            Context::Screen => "views",
            Context::Table => "models table",
            Context::Detail => "detail view",
            Context::Prompt => "prompt input",
        }
    }
}

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
    ToggleChain,
    ResetChain,
    Probe,
    ProbeAll,
    FocusPrompt,
    Detail,
    Providers,
    CycleSort,
    CycleTarget,
    /// Cancel a running prompt, else leave the current view or input.
    Back,
    Acknowledge,
    EventsUp,
    EventsDown,
    Send,
    Newline,
}

/// One binding: the keys that trigger it, how the footer and help name it.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written on screen: "K/J", "↑↓".
    pub label: &'static str,
    pub help: &'static str,
    pub context: Context,
    pub action: KeyAction,
    /// Shown in the footer (the help overlay shows all).
    pub footer: bool,
}

/// A key and the modifiers it needs. For characters, Shift is ignored: the
/// character itself says whether Shift was held ('J' versus 'j').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
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

/// Every binding, in the order the footer and help list them.
pub const BINDINGS: &[Binding] = &[
    bind!(Global, Quit, "^C", "quit", false, [ctrl('c')]),
    bind!(Screen, Quit, "q", "quit", true, [ch('q')]),
    bind!(Table, Up, "↑↓", "select", true, [key(KeyCode::Up), ch('k')]),
    bind!(
        Table,
        Down,
        "↑↓",
        "select",
        false,
        [key(KeyCode::Down), ch('j')]
    ),
    bind!(
        Table,
        MoveUp,
        "K/J",
        "move in chain",
        true,
        [ch('K'), shift(KeyCode::Up)]
    ),
    bind!(
        Table,
        MoveDown,
        "K/J",
        "move in chain",
        false,
        [ch('J'), shift(KeyCode::Down)]
    ),
    bind!(
        Table,
        ToggleChain,
        "space",
        "in/out of chain",
        true,
        [ch(' ')]
    ),
    bind!(
        Table,
        ResetChain,
        "R",
        "reset chain order",
        false,
        [ch('R')]
    ),
    bind!(Table, Probe, "p", "probe now", true, [ch('p')]),
    bind!(Table, ProbeAll, "P", "probe all now", false, [ch('P')]),
    bind!(Table, FocusPrompt, "/", "prompt", true, [ch('/'), ch('i')]),
    bind!(Table, CycleTarget, "t", "prompt target", true, [ch('t')]),
    bind!(
        Table,
        Detail,
        "enter",
        "detail",
        true,
        [key(KeyCode::Enter)]
    ),
    bind!(
        Screen,
        Providers,
        "tab",
        "providers",
        true,
        [key(KeyCode::Tab)]
    ),
    bind!(Table, CycleSort, "s", "sort", true, [ch('s')]),
    bind!(
        Table,
        PageUp,
        "pgup",
        "page up",
        false,
        [key(KeyCode::PageUp)]
    ),
    bind!(
        Table,
        PageDown,
        "pgdn",
        "page down",
        false,
        [key(KeyCode::PageDown)]
    ),
    bind!(
        Table,
        Top,
        "home",
        "first model",
        false,
        [key(KeyCode::Home), ch('g')]
    ),
    bind!(
        Table,
        Bottom,
        "end",
        "last model",
        false,
        [key(KeyCode::End), ch('G')]
    ),
    bind!(Screen, EventsUp, "[ ]", "scroll events", false, [ch('[')]),
    bind!(Screen, EventsDown, "[ ]", "scroll events", false, [ch(']')]),
    bind!(
        Detail,
        Acknowledge,
        "a",
        "acknowledge drift",
        true,
        [ch('a')]
    ),
    bind!(Detail, Probe, "p", "probe now", true, [ch('p')]),
    bind!(
        Detail,
        Up,
        "↑↓",
        "previous/next model",
        true,
        [key(KeyCode::Up), ch('k')]
    ),
    bind!(
        Detail,
        Down,
        "↑↓",
        "previous/next model",
        false,
        [key(KeyCode::Down), ch('j')]
    ),
    bind!(
        Screen,
        Back,
        "esc",
        "back / cancel prompt",
        true,
        [key(KeyCode::Esc)]
    ),
    bind!(Screen, Help, "?", "help", true, [ch('?')]),
    bind!(Prompt, Send, "enter", "send", true, [key(KeyCode::Enter)]),
    bind!(
        Prompt,
        Newline,
        "alt+enter",
        "new line",
        true,
        [alt(KeyCode::Enter), shift(KeyCode::Enter)]
    ),
    bind!(
        Prompt,
        Back,
        "esc",
        "cancel / leave",
        true,
        [key(KeyCode::Esc)]
    ),
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
}

/// The binding for a key press in the given contexts (first match wins, in
/// the order the contexts are given). Key releases and repeats of releases
/// are ignored.
pub fn lookup(event: &KeyEvent, contexts: &[Context]) -> Option<KeyAction> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    contexts.iter().find_map(|ctx| {
        BINDINGS
            .iter()
            .filter(|b| b.context == *ctx)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    })
}

/// The footer's items for the given contexts, in table order: (keys, what
/// they do), with
/// duplicates (a label shared by two bindings) shown once.
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

/// Every binding grouped by context, for the help overlay.
pub fn help() -> Vec<(Context, Vec<(&'static str, &'static str)>)> {
    let contexts = [
        Context::Table,
        Context::Detail,
        Context::Screen,
        Context::Prompt,
        Context::Global,
    ];
    contexts
        .iter()
        .map(|ctx| {
            let mut items: Vec<(&str, &str)> = Vec::new();
            for b in BINDINGS.iter().filter(|b| b.context == *ctx) {
                if !items.iter().any(|(l, _)| *l == b.label) {
                    items.push((b.label, b.help));
                }
            }
            (*ctx, items)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shift_letters_and_arrows() {
        let t = [Context::Table, Context::Screen];
        assert_eq!(
            lookup(&press(KeyCode::Char('J'), KeyModifiers::SHIFT), &t),
            Some(KeyAction::MoveDown)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('j'), KeyModifiers::NONE), &t),
            Some(KeyAction::Down)
        );
        assert_eq!(
            lookup(&press(KeyCode::Up, KeyModifiers::SHIFT), &t),
            Some(KeyAction::MoveUp)
        );
        assert_eq!(
            lookup(&press(KeyCode::Up, KeyModifiers::NONE), &t),
            Some(KeyAction::Up)
        );
        assert_eq!(
            lookup(
                &press(KeyCode::Char('C'), KeyModifiers::CONTROL),
                &[Context::Global]
            ),
            Some(KeyAction::Quit)
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('x'), KeyModifiers::NONE), &t),
            None
        );
        assert_eq!(
            lookup(&press(KeyCode::Char('q'), KeyModifiers::CONTROL), &t),
            None,
            "a modifier the binding does not name does not match"
        );
    }

    #[test]
    fn footer_reads_the_table() {
        let f = footer(&[Context::Table, Context::Screen]);
        assert_eq!(f.first(), Some(&("q", "quit")));
        assert!(f.contains(&("K/J", "move in chain")));
        assert_eq!(f.iter().filter(|(l, _)| *l == "↑↓").count(), 1);
        let help = help();
        assert!(help
            .iter()
            .any(|(c, items)| *c == Context::Table && items.contains(&("R", "reset chain order"))));
    }
}
