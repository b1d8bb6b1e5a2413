//! The plain-text printer. The commands build rows (check's table, the chain)
//! and lines (ask's narration, watch's events); this lays them out and writes
//! them, so every table is aligned the same way and every field is set apart
//! by the same gap.
//!
//! Widths count terminal columns (wide CJK and emoji count two); a column is as wide as its
//! widest cell, its header, or its minimum. The last column, when it is left
//! aligned, is never padded (no trailing blanks).

use std::io::{self, Write};

use crate::fmt::{display_width, pad};

/// Between two columns, and between the fields of a line.
pub const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    header: &'static str,
    align: Align,
    min: usize,
}

impl Column {
    pub fn left(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            min: 0,
        }
    }

    pub fn right(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Right,
            min: 0,
        }
    }

    /// At least `width` characters wide, so short tables line up with long ones.
    pub fn min(self, width: usize) -> Column {
        Column { min: width, ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Row(Vec<String>),
    /// A line of its own under a row, not aligned.
    Note(String),
}

/// Rows in columns. The header line is printed when any column has a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    columns: Vec<Column>,
    indent: usize,
    lines: Vec<Line>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            indent: 0,
            lines: Vec::new(),
        }
    }

    /// Every row and the header start this many spaces in.
    pub fn indent(self, spaces: usize) -> Table {
        Table {
            indent: spaces,
            ..self
        }
    }

    /// A row, a cell per column (missing cells are empty, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Row(cells));
    }

    /// A line under the last row, written as it is (notes are not aligned).
    pub fn note(&mut self, text: String) {
        self.lines.push(Line::Note(text));
    }

    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.lines
                    .iter()
                    .filter_map(|l| match l {
                        Line::Row(cells) => cells.get(i).map(|s| display_width(s)),
                        Line::Note(_) => None,
                    })
                    .chain([c.min, display_width(c.header)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        if self.columns.iter().any(|c| !c.header.is_empty()) {
            let header: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
            self.write_row(out, &header, &widths)?;
        }
        for line in &self.lines {
            match line {
                Line::Row(cells) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    self.write_row(out, &cells, &widths)?;
                }
                Line::Note(text) => writeln!(out, "{text}")?,
            }
        }
        out.flush()
    }

    fn write_row(&self, out: &mut impl Write, cells: &[&str], widths: &[usize]) -> io::Result<()> {
        let mut text = " ".repeat(self.indent);
        let last = self.columns.len().saturating_sub(1);
        for (i, (column, width)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            if i > 0 {
                text.push_str(GAP);
            }
            match column.align {
                Align::Left if i == last => text.push_str(cell),
                Align::Left => text.push_str(&pad(cell, *width, false)),
                Align::Right => text.push_str(&pad(cell, *width, true)),
            }
        }
        writeln!(out, "{text}")
    }
}

/// Fields set apart by [`GAP`]: one event line.
pub fn fields(parts: &[&str]) -> String {
    parts.join(GAP)
}

/// Writes one line and flushes it, so a reader sees it at once (lines are
/// written as things happen).
pub fn line(out: &mut impl Write, text: &str) -> io::Result<()> {
    writeln!(out, "{text}")?;
    out.flush()
}
