//! The chain, tiers and the fallback executor.
