//! What survives a restart: chain order, acknowledged drifts, recent history.
