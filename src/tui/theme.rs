//! Colours. Status is never colour alone (a symbol and a word go with it), and
//! with `NO_COLOR` set every style here loses its colour but keeps its
//! emphasis, so the screen still reads.

use ratatui::style::{Color, Modifier, Style};

use crate::health::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme { color: true }
    }
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty (no-color.org).
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn status(&self, status: Status) -> Style {
        match status {
            Status::Unknown => self.fg(Color::Gray),
            Status::Healthy => self.fg(Color::Green),
            Status::Degraded => self.fg(Color::Yellow),
            // Routable again but not yet trusted: neither green nor red.
            Status::Recovering => self.fg(Color::LightBlue),
            Status::Unhealthy => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Status::RateLimited => self.fg(Color::Magenta),
            Status::Misconfigured => self.fg(Color::LightRed).add_modifier(Modifier::BOLD),
        }
    }

    pub fn border(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn header_row(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reversed works with and without colour.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn failure(&self) -> Style {
        self.fg(Color::Red)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn badge(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn input(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
}
