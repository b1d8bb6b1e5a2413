//! The TOML schema, defaults, validation and API-key lookup.
