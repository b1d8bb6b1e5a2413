//! Response bodies as a plan of steps (send, wait, repeat, cut), played out
//! lazily so that a 64 MiB reply or a ten-minute drip costs almost nothing,
//! and metered so the server knows what it sent and whether the client hung up.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Sleep;

/// Per-model counters, shared by handlers and bodies.
#[derive(Debug, Default)]
pub(crate) struct ModelStats {
    pub requests: AtomicU64,
    pub cancelled: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// Counts a response as cancelled when it is dropped before it finished:
/// the client hung up (hyper drops the handler future or the body).
pub(crate) struct Meter {
    stats: Arc<ModelStats>,
    done: bool,
}

impl Meter {
    pub fn new(stats: Arc<ModelStats>) -> Meter {
        Meter { stats, done: false }
    }
    pub fn sent(&self, n: usize) {
        self.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    /// The response ended the way the scenario meant it to.
    pub fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.done {
            self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Send(Bytes),
    Wait(Duration),
    /// Send the same chunk `times` times (a huge reply without allocating it).
    Repeat {
        chunk: Bytes,
        times: u64,
    },
    /// Send `chunk` now and then every `every` until `left` has passed: the
    /// "still thinking" comments, pings or whitespace.
    Tick {
        chunk: Bytes,
        every: Duration,
        left: Duration,
    },
    /// Cut the connection mid-body (hyper aborts it on a body error).
    Abort,
}

/// A body that plays a plan of steps.
pub(crate) struct PlanBody {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<Sleep>>>,
    meter: Meter,
    abort_armed: bool,
}

/// How long a cut waits after the last bytes sent.
const ABORT_GRACE: Duration = Duration::from_millis(50);

impl PlanBody {
    pub fn new(steps: Vec<Step>, meter: Meter) -> PlanBody {
        PlanBody {
            steps: steps.into(),
            sleep: None,
            meter,
            abort_armed: false,
        }
    }

    fn emit(&mut self, b: Bytes) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.meter.sent(b.len());
        Poll::Ready(Some(Ok(b)))
    }
}

impl Stream for PlanBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            let Some(step) = this.steps.front_mut() else {
                this.meter.finish();
                return Poll::Ready(None);
            };
            match step {
                Step::Send(b) => {
                    let b = std::mem::take(b);
                    this.steps.pop_front();
                    return this.emit(b);
                }
                Step::Wait(d) => {
                    let d = *d;
                    this.steps.pop_front();
                    if !d.is_zero() {
                        this.sleep = Some(Box::pin(tokio::time::sleep(d)));
                    }
                }
                Step::Repeat { chunk, times } => {
                    if *times == 0 {
                        this.steps.pop_front();
                        continue;
                    }
                    *times -= 1;
                    let b = chunk.clone();
                    return this.emit(b);
                }
                Step::Tick { chunk, every, left } => {
                    // Send the chunk, then wait a slice of `every`; the tick
                    // stays in front until no time is left.
                    let b = chunk.clone();
                    let slice = (*every).min(*left).max(Duration::from_millis(1));
                    let last = left.is_zero() || *left <= slice;
                    if !left.is_zero() {
                        *left = left.saturating_sub(slice);
                        this.sleep = Some(Box::pin(tokio::time::sleep(slice)));
                    }
                    if last {
                        this.steps.pop_front();
                    }
                    return this.emit(b);
                }
                Step::Abort if !this.abort_armed => {
                    // Let what was sent reach the client first: a reset
                    // discards data the peer has not read yet, and a real
                    // upstream cuts a stream some time after its last bytes.
                    this.abort_armed = true;
                    this.sleep = Some(Box::pin(tokio::time::sleep(ABORT_GRACE)));
                }
                Step::Abort => {
                    this.steps.clear();
                    this.meter.finish();
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "simulated cut",
                    ))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn plays_steps_in_order_and_meters_them() {
        let stats = Arc::new(ModelStats::default());
        let steps = vec![
            Step::Tick {
                chunk: Bytes::from_static(b": p\n\n"),
                every: Duration::from_millis(10),
                left: Duration::from_millis(25),
            },
            Step::Send(Bytes::from_static(b"a")),
            Step::Repeat {
                chunk: Bytes::from_static(b"xy"),
                times: 3,
            },
        ];
        let body = PlanBody::new(steps, Meter::new(stats.clone()));
        let got: Vec<Bytes> = body.map(|r| r.unwrap_or_default()).collect().await;
        let text: Vec<&[u8]> = got.iter().map(|b| b.as_ref()).collect();
        // Ticks at 0, 10 and 20 ms (25 ms of thinking), then the rest.
        assert_eq!(
            text,
            [
                &b": p\n\n"[..],
                b": p\n\n",
                b": p\n\n",
                b"a",
                b"xy",
                b"xy",
                b"xy"
            ]
        );
        assert_eq!(stats.bytes_sent.load(Ordering::Relaxed), 15 + 1 + 6);
        assert_eq!(stats.cancelled.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn dropping_early_counts_as_cancelled() {
        let stats = Arc::new(ModelStats::default());
        let mut body = PlanBody::new(
            vec![
                Step::Send(Bytes::from_static(b"a")),
                Step::Wait(Duration::from_secs(60)),
            ],
            Meter::new(stats.clone()),
        );
        assert!(body.next().await.is_some());
        drop(body);
        assert_eq!(stats.cancelled.load(Ordering::Relaxed), 1);
    }
}
