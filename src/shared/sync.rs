//! The background loop of a fleet member, every [`SYNC_EVERY`] (at once
//! on a chain message): the outbox sent (samples, spend), edits made while
//! Redis was away replayed, then the chain, the fleet's spend and
//! everyone else's samples read and handed to the engine. A failure marks
//! the store unreachable (the engine says so, once) and the loop retries
//! every [`RETRY_EVERY`]; the first success after it says it is back.
//! A second task listens on the chain's pub/sub channel and wakes the
//! loop, so a chain edit reaches every process within milliseconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, SharedSample};

use super::{lock, wire, CasError, Shared, STREAM_MAXLEN};

/// The loop's pace while Redis answers.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);
/// How often an unreachable Redis is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// One pass of the loop gives up after this.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Samples sent per pass at most (the rest go next time).
const OUTBOX_BATCH: usize = 512;
/// Entries read per stream per pass at most.
const READ_COUNT: usize = 1024;
/// A day's spend key outlives the day by a week.
const SPEND_TTL_SECS: u64 = 8 * 86_400;

impl Shared {
    /// Starts the loop and the chain listener; both end on `stop`.
    pub fn spawn(self: Arc<Self>, engine: Engine, stop: CancellationToken) -> JoinHandle<()> {
        let listener = tokio::spawn(self.clone().listen(stop.clone()));
        tokio::spawn(async move {
            self.run(engine, stop).await;
            listener.abort();
        })
    }

    async fn run(self: Arc<Self>, engine: Engine, stop: CancellationToken) {
        loop {
            let outcome = self.sync_now(&engine).await;
            let down = outcome.is_err();
            let pause = if down { RETRY_EVERY } else { SYNC_EVERY };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// One pass now, the store marked reachable or not after it (the loop
    /// runs it; tests call it to take the fleet's news in at once).
    pub async fn sync_now(&self, engine: &Engine) -> Result<(), String> {
        let outcome = match self.connected().await {
            Ok(mut conn) => tokio::time::timeout(SYNC_TIMEOUT, self.sync_once(&mut conn, engine))
                .await
                .unwrap_or_else(|_| Err("Redis did not answer in time".to_string())),
            Err(e) => Err(e),
        };
        self.set_down(engine, outcome.clone().err());
        outcome
    }

    async fn connected(&self) -> Result<ConnectionManager, String> {
        if let Some(conn) = self.conn() {
            return Ok(conn);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(super::OP_TIMEOUT * 2))
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        match made {
            Ok(Ok(conn)) => {
                lock(&self.state).conn = Some(conn.clone());
                Ok(conn)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no connection within a second".to_string()),
        }
    }

    fn set_down(&self, engine: &Engine, why: Option<String>) {
        let (was, now) = {
            let mut state = lock(&self.state);
            let was = state.down.is_some();
            state.down.clone_from(&why);
            (was, state.down.is_some())
        };
        match (was, now) {
            (false, true) => engine.fleet_changed(why.as_deref(), &self.shown),
            (true, false) => engine.fleet_changed(None, &self.shown),
            _ => {}
        }
    }

    async fn sync_once(&self, conn: &mut ConnectionManager, engine: &Engine) -> Result<(), String> {
        self.flush(conn).await?;
        self.replay(conn).await?;
        self.follow_chain(conn, engine).await?;
        self.read_spend(conn).await?;
        self.read_samples(conn, engine).await
    }

    /// The outbox: samples onto their streams, spend onto the ledger.
    async fn flush(&self, conn: &mut ConnectionManager) -> Result<(), String> {
        let (batch, unspent) = {
            let mut state = lock(&self.state);
            let n = state.outbox.len().min(OUTBOX_BATCH);
            let batch: Vec<(String, String)> = state.outbox.drain(..n).collect();
            (batch, std::mem::take(&mut state.unspent))
        };
        if batch.is_empty() && unspent.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (model, entry) in &batch {
            pipe.cmd("XADD")
                .arg(wire::samples_key(model))
                .arg("MAXLEN")
                .arg("~")
                .arg(STREAM_MAXLEN)
                .arg("*")
                .arg("from")
                .arg(&self.holder)
                .arg("s")
                .arg(entry)
                .ignore();
        }
        for (day, usd) in &unspent {
            let key = wire::spend_key(*day);
            pipe.cmd("INCRBYFLOAT").arg(&key).arg(*usd).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(SPEND_TTL_SECS).ignore();
        }
        let sent: redis::RedisResult<()> = pipe.query_async(conn).await;
        if let Err(e) = sent {
            // Back in front, in order, for the next pass.
            let mut state = lock(&self.state);
            for item in batch.into_iter().rev() {
                state.outbox.push_front(item);
            }
            for (day, usd) in unspent {
                *state.unspent.entry(day).or_default() += usd;
            }
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Edits made while Redis was away, applied to its chain in order.
    async fn replay(&self, conn: &mut ConnectionManager) -> Result<(), String> {
        loop {
            let Some(edit) = lock(&self.state).pending_edits.front().cloned() else {
                return Ok(());
            };
            match self.cas_edit(conn, &edit).await {
                Ok(_) => {}
                Err(CasError::Edit(e)) => {
                    tracing::warn!(
                        "an edit made while the shared store was away no longer fits: {edit}: {e}"
                    );
                }
                Err(CasError::Redis(why)) => return Err(why),
            }
            lock(&self.state).pending_edits.pop_front();
        }
    }

    /// The chain in Redis, followed; the first process seeds it with its own.
    async fn follow_chain(
        &self,
        conn: &mut ConnectionManager,
        engine: &Engine,
    ) -> Result<(), String> {
        let key = wire::chain_key();
        let current: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        match current.as_deref().map(serde_json::from_str::<Vec<String>>) {
            Some(Ok(order)) => engine.follow_fleet_chain(&order, Utc::now()),
            // Absent (or not ours): the first process's chain is the fleet's.
            _ => {
                let order = serde_json::to_string(&engine.chain_order()).unwrap_or_default();
                let _: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(order)
                    .arg("NX")
                    .query_async(conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    async fn read_spend(&self, conn: &mut ConnectionManager) -> Result<(), String> {
        let day = Utc::now().date_naive();
        let read: redis::Value = redis::cmd("GET")
            .arg(wire::spend_key(day))
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let spent = wire::number(&read).unwrap_or(0.0);
        lock(&self.state).spend = Some((day, spent));
        Ok(())
    }

    /// Everyone else's samples since the last read, into the engine.
    async fn read_samples(
        &self,
        conn: &mut ConnectionManager,
        engine: &Engine,
    ) -> Result<(), String> {
        // Where each model's stream was read up to: from the start at
        // first, so a process that joins sees what the fleet saw.
        let mut ids: HashMap<String, String> = {
            let mut state = lock(&self.state);
            if state.read_ids.is_empty() {
                state.read_ids = engine
                    .config()
                    .models
                    .iter()
                    .map(|m| (wire::samples_key(&m.name), "0-0".to_string()))
                    .collect();
            }
            state.read_ids.clone()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<&String> = ids.keys().collect();
        keys.sort();
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(READ_COUNT).arg("STREAMS");
        for k in &keys {
            cmd.arg(k.as_str());
        }
        for k in &keys {
            cmd.arg(ids.get(*k).map_or("0-0", String::as_str));
        }
        let reply: redis::Value = cmd.query_async(conn).await.map_err(|e| e.to_string())?;
        let now = Utc::now();
        for (key, entries) in wire::xread(&reply) {
            let Some(model) = key.strip_prefix(&wire::samples_key("")) else {
                continue;
            };
            let model = model.to_string();
            if let Some(last) = entries.last() {
                ids.insert(key.clone(), last.id.clone());
            }
            let theirs: Vec<SharedSample> = entries
                .iter()
                .filter(|e| e.get("from") != Some(self.holder.as_str()))
                .filter_map(|e| serde_json::from_str(e.get("s")?).ok())
                .collect();
            if !theirs.is_empty() {
                engine.take_foreign(&model, theirs, now);
            }
        }
        lock(&self.state).read_ids = ids;
        Ok(())
    }

    /// The chain channel: each message wakes the loop.
    async fn listen(self: Arc<Self>, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let subscribed = tokio::time::timeout(CONNECT_TIMEOUT, async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(wire::chain_channel()).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            if let Ok(Ok(pubsub)) = subscribed {
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        message = messages.next() => match message {
                            Some(_) => self.wake.notify_one(),
                            None => break,
                        },
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RETRY_EVERY) => {}
            }
        }
    }
}
