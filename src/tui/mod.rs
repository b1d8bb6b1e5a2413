//! The dashboard: app state and update, the event loop, one file per panel.
