//! The prober: when to probe what, jitter, concurrency, back-off.
