//! Request bodies under hostile load: one byte budget across the requests in flight (reserved
//! from `Content-Length` before a byte of the body is read), and bodies handed chunk by chunk from
//! the async threads, which only move bytes, to the blocking thread that parses them as they
//! come, so a body is never held whole beside its parsed form.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes, HttpBody};
use tokio::sync::mpsc;

/// Chunks queued between the async side and the parser: enough to keep the parser busy, few
/// enough that a slow parser holds the client back (through TCP) rather than filling memory.
const QUEUED_CHUNKS: usize = 16;

/// The bytes of request bodies admitted at once.
#[derive(Debug)]
pub(crate) struct Budget {
    total: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Arc<Budget> {
        Arc::new(Budget {
            total,
            used: AtomicUsize::new(0),
        })
    }

    /// The whole budget, in bytes.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Bytes reserved now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` if they fit beside the requests in flight.
    pub(crate) fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.total)
            })
            .ok()
            .map(|_| Reservation {
                budget: self.clone(),
                bytes,
            })
    }
}

/// Bytes of the budget held by one request until its work ends (dropped: given back).
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Why a body was not passed on whole.
#[derive(Debug)]
pub(crate) enum PumpError {
    /// More bytes than the request may send.
    TooLarge(usize),
    /// The connection failed or the client sent a broken body.
    Broken(String),
}

/// The receiving end of a body, on the blocking thread: chunks as they arrive; an error if the
/// sender went away before the end (the request was answered, timed out or dropped).
#[derive(Debug)]
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<Option<Bytes>>,
    current: Bytes,
    ended: bool,
}

/// A channel for one body: the async side's sender and the blocking side's reader.
pub(crate) fn channel() -> (mpsc::Sender<Option<Bytes>>, BodyReader) {
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    (
        tx,
        BodyReader {
            rx,
            current: Bytes::new(),
            ended: false,
        },
    )
}

impl BodyReader {
    /// The next chunk of the body, `None` at its end. Blocks: call it off the async threads.
    pub(crate) fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.current.is_empty() {
            return Ok(Some(std::mem::take(&mut self.current)));
        }
        while !self.ended {
            match self.rx.blocking_recv() {
                Some(Some(b)) if b.is_empty() => {}
                Some(Some(b)) => return Ok(Some(b)),
                Some(None) => self.ended = true,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the body stopped before its end",
                    ));
                }
            }
        }
        Ok(None)
    }

    /// A reader over `chunks`, as if they had come over a connection.
    #[cfg(test)]
    pub(crate) fn of(chunks: &[&[u8]]) -> BodyReader {
        let (tx, reader) = channel_of(chunks.len() + 1);
        for c in chunks {
            let _ = tx.try_send(Some(Bytes::copy_from_slice(c)));
        }
        let _ = tx.try_send(None);
        reader
    }
}

#[cfg(test)]
fn channel_of(capacity: usize) -> (mpsc::Sender<Option<Bytes>>, BodyReader) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        tx,
        BodyReader {
            rx,
            current: Bytes::new(),
            ended: false,
        },
    )
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            match self.chunk()? {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Passes `body` to `tx` chunk by chunk, up to `limit` bytes, then marks its end. When the
/// reader stops listening (its request failed), the rest is read and dropped, so the client,
/// still sending, gets the answer rather than a reset connection.
pub(crate) async fn pump(mut body: Body, tx: mpsc::Sender<Option<Bytes>>, limit: usize) -> Result<(), PumpError> {
    let mut seen = 0usize;
    let mut listening = true;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => {
                if listening {
                    let _ = tx.send(None).await;
                }
                return Ok(());
            }
            Some(Err(e)) => return Err(PumpError::Broken(e.to_string())),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else { continue };
                seen = seen.saturating_add(data.len());
                if seen > limit {
                    return Err(PumpError::TooLarge(limit));
                }
                if listening && tx.send(Some(data)).await.is_err() {
                    listening = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_budget_admits_what_fits_and_gets_it_back_when_dropped() {
        let budget = Budget::new(100);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(50).is_none());
        let b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        assert!(budget.try_reserve(1).is_none());
        drop(a);
        assert!(budget.try_reserve(60).is_some());
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.try_reserve(usize::MAX).is_none());
    }

    #[test]
    fn a_reader_gives_the_chunks_then_the_end_and_an_error_when_cut_off() {
        let mut r = BodyReader::of(&[b"ab", b"", b"cde"]);
        let mut all = String::new();
        r.read_to_string(&mut all).unwrap();
        assert_eq!(all, "abcde");
        let (tx, mut r) = channel_of(4);
        tx.try_send(Some(Bytes::from_static(b"x"))).unwrap();
        drop(tx);
        assert_eq!(r.chunk().unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(r.chunk().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_pump_stops_past_the_limit_and_drains_when_nobody_listens() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (tx, _r) = channel();
            let r = pump(Body::from(vec![0u8; 10]), tx, 9).await;
            assert!(matches!(r, Err(PumpError::TooLarge(9))), "{r:?}");
            let (tx, r) = channel();
            drop(r);
            assert!(pump(Body::from(vec![0u8; 10]), tx, 10).await.is_ok());
        });
    }
}
