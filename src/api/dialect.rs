//! What differs between the wire dialects, in one place: the URL path, the
//! headers, the request body, and how a whole reply and a stream event
//! parse. The client asks [`Dialect::wire`] once and never matches on the
//! dialect itself; adding a dialect is one `Wire` impl and one arm here.
//!
//! Error bodies are not a dialect matter: gateways answer in each other's
//! shapes, so one lenient parser (`classify.rs`) reads them all.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::piece::Piece;
use super::request::{ChatRequest, Target, TokenParam};
use super::{anthropic, openai};

/// The wire dialect an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// OpenAI-compatible `/chat/completions` (OpenRouter, OpenAI, vLLM, …).
    #[default]
    Openai,
    /// Anthropic's native `/messages`.
    Anthropic,
}

impl Dialect {
    /// How requests in this dialect are written and replies read.
    pub(crate) fn wire(self) -> &'static dyn Wire {
        match self {
            Dialect::Openai => &openai::Openai,
            Dialect::Anthropic => &anthropic::Anthropic,
        }
    }
}

/// One dialect on the wire. Parsers return a [`Piece`] (what the reply or
/// event contributes) or a message saying why it is malformed.
pub(crate) trait Wire: Sync {
    /// Appended to the endpoint's `base_url`.
    fn path(&self) -> &'static str;
    /// The header that carries the key, and its value.
    fn auth_header(&self, key: &str) -> (&'static str, String);
    /// Headers every request of this dialect carries, key or not.
    fn fixed_headers(&self) -> &'static [(&'static str, &'static str)];
    /// The JSON body of a completion request, its output limit in the
    /// field `limit` names where the dialect has a choice; `Err` says why a
    /// client's request carried through cannot be sent in this dialect.
    fn body(&self, target: &Target, req: &ChatRequest, limit: TokenParam) -> Result<Value, String>;
    /// A whole (non-streamed) reply.
    fn parse_reply(&self, json: &Value) -> Result<Piece, String>;
    /// One stream event: its `event:` name, if any, and its `data:`.
    fn parse_event(&self, event: Option<&str>, data: &str) -> Result<Piece, String>;
}
