//! One frame of the dashboard with 500 models, drawn to `TestBackend`
//! (target: under 2 ms). The state is the screen tests' fixture.
//!
//! - `frame_*`: what a redraw costs while running: the whole view is
//!   rendered into the buffer and diffed against the previous frame.
//! - `full_repaint_*`: the same after a clear, so every cell is written to
//!   the backend too (the first frame, or after a resize).

#[path = "../tests/support/fixture.rs"]
mod fixture;

use chainwatch::tui::app::Action;
use chainwatch::tui::view;
use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn render(c: &mut Criterion) {
    for (w, h) in [(160u16, 48u16), (240, 70)] {
        let mut app = fixture::many(500, w, h);
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        c.bench_function(&format!("frame_500_models_{w}x{h}"), |b| {
            b.iter(|| {
                // Move the selection so the frame really differs.
                app.update(Action::Key(KeyEvent::new(
                    KeyCode::Down,
                    KeyModifiers::NONE,
                )));
                terminal
                    .draw(|f| view::draw(f, std::hint::black_box(&app)))
                    .expect("draw");
            })
        });
        c.bench_function(&format!("full_repaint_500_models_{w}x{h}"), |b| {
            b.iter(|| {
                terminal.clear().expect("clear");
                terminal
                    .draw(|f| view::draw(f, std::hint::black_box(&app)))
                    .expect("draw");
            })
        });
    }
    let app = fixture::many(500, 160, 48);
    c.bench_function("rows_500", |b| b.iter(|| std::hint::black_box(&app).rows()));
}

criterion_group!(benches, render);
criterion_main!(benches);
