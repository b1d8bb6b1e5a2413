//! What goes over the wire to Redis: the keys, the two Lua scripts (a
//! lease taken or renewed by its holder, a compare-and-set of the chain
//! that announces it), and the replies read back. Plain commands through
//! `redis::cmd`, so no typed-command feature of the crate is needed.

use redis::Value;

/// Every key chainwatch writes starts with this: one Redis (or one of
/// its numbered databases, `redis://host/2`) per team.
pub const PREFIX: &str = "chainwatch:";

pub fn chain_key() -> String {
    format!("{PREFIX}chain")
}

/// The pub/sub channel a chain change is announced on.
pub fn chain_channel() -> String {
    format!("{PREFIX}chain")
}

pub fn samples_key(model: &str) -> String {
    format!("{PREFIX}samples:{model}")
}

pub fn probe_lease_key(model: &str) -> String {
    format!("{PREFIX}lease:probe:{model}")
}

pub fn alert_lease_key(key: &str) -> String {
    format!("{PREFIX}lease:alert:{key}")
}

/// One UTC day's probe spend (USD, INCRBYFLOAT).
pub fn spend_key(day: chrono::NaiveDate) -> String {
    format!("{PREFIX}spend:{}", day.format("%Y-%m-%d"))
}

/// KEYS[1] the lease, ARGV[1] the holder, ARGV[2] its time to live (ms):
/// 1 when the holder has it (taken now, or renewed), 0 when another has.
pub const LEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS[1] the chain, ARGV[1] the value the edit was made on ('' for
/// none), ARGV[2] the new one, ARGV[3] the channel: 1 when set (and
/// published), 0 when another edit came first (read again, retry).
pub const CHAIN_CAS: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then v = '' end
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
";

/// A bulk or simple string reply as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        other => text(other)?.trim().parse().ok(),
    }
}

/// The pairs of an array (RESP2) or a map (RESP3).
fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(a) => a
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One stream entry: its id and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl Entry {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An `XREAD` reply: the entries of each stream key, in order. Nil (no
/// news) is empty.
pub fn xread(v: &Value) -> Vec<(String, Vec<Entry>)> {
    let streams: Vec<(&Value, &Value)> = match v {
        // RESP2: [[key, entries], …]
        Value::Array(items) => items
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) => match kv.as_slice() {
                    [k, e] => Some((k, e)),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        Value::Map(_) => pairs(v),
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = text(key)?;
            let Value::Array(entries) = entries else {
                return None;
            };
            let entries = entries
                .iter()
                .filter_map(|e| {
                    let Value::Array(e) = e else {
                        return None;
                    };
                    let [id, fields] = e.as_slice() else {
                        return None;
                    };
                    Some(Entry {
                        id: text(id)?,
                        fields: pairs(fields)
                            .into_iter()
                            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                            .collect(),
                    })
                })
                .collect();
            Some((key, entries))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn an_xread_reply_reads_back_and_nil_is_nothing() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("chainwatch:samples:a"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("from"), bulk("p1"), bulk("s"), bulk("{}")]),
            ])]),
        ])]);
        let read = xread(&reply);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].0, "chainwatch:samples:a");
        assert_eq!(read[0].1[0].id, "1-0");
        assert_eq!(read[0].1[0].get("from"), Some("p1"));
        assert!(xread(&Value::Nil).is_empty());
        assert_eq!(number(&bulk("0.25")), Some(0.25));
    }
}
