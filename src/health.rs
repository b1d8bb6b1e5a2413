//! The aggregator: windows, ratios, states and percentiles. Pure: no I/O, no clock.
