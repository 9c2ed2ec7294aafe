//! The workers of a distributed job and their coordinator, over TCP.
//!
//! Rank 0 listens on the coordinator address; every other rank connects to it, says who it is
//! and which job it runs, and is let in when its rank is expected and its job is the same. From
//! then on rank 0 gathers from every worker and broadcasts to all of them, in one fixed order, so
//! each exchange is a step every process takes in turn.
//!
//! A lost peer must not hang the others: every connection carries a heartbeat each second, and a
//! peer that closes its connection, or is silent for the timeout, is reported to the process's
//! `on_lost` handler from a thread of its own, even while the main thread is blocked in a
//! library call (LightGBM's network waits in C++ and does not return).

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Seconds between heartbeats.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The largest frame accepted (a held-out side of a large data set fits; a stray connection
/// claiming more is refused rather than allocated).
pub const MAX_FRAME_BYTES: u64 = 16 << 30;

/// A distributed exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The coordinator address cannot be listened on.
    #[error("cannot listen on {addr} for the other workers")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Workers did not join in time.
    #[error("rank {} of {size} never joined within {} s (is churnguard running there with --rank set?)", missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "), timeout.as_secs())]
    NeverJoined {
        /// The ranks missing.
        missing: Vec<usize>,
        /// Workers in all.
        size: usize,
        /// How long rank 0 waited.
        timeout: Duration,
    },
    /// The coordinator could not be reached in time.
    #[error("the coordinator (rank 0) at {addr} could not be reached within {} s", timeout.as_secs())]
    NoCoordinator {
        /// Its address.
        addr: String,
        /// How long this worker tried.
        timeout: Duration,
    },
    /// The coordinator refused this worker.
    #[error("rank 0 refused this worker: {0}")]
    Refused(String),
    /// A peer left, failed or sent something unexpected.
    #[error("rank {rank}: {why}")]
    Peer {
        /// The peer's rank.
        rank: usize,
        /// What happened.
        why: String,
    },
    /// A message could not be encoded or decoded.
    #[error("a message from rank {rank} could not be read")]
    Decode {
        /// The sender.
        rank: usize,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Who a process is in the job.
#[derive(Clone, Debug)]
pub struct Membership {
    /// This process's rank (0: the coordinator).
    pub rank: usize,
    /// Processes in the job.
    pub size: usize,
    /// Where rank 0 listens.
    pub coordinator: String,
    /// How long to wait for peers to join, and the longest silence of a joined peer.
    pub timeout: Duration,
    /// The job's identity (pipeline and config hash): every worker must run the same.
    pub job: String,
}

/// What the handler of a lost peer is told.
pub type OnLost = Arc<dyn Fn(ClusterError) + Send + Sync>;

/// Frames on the wire: a tag byte, a little-endian u64 length, the payload.
const TAG_HEARTBEAT: u8 = 0;
const TAG_JSON: u8 = 1;
const TAG_BYTES: u8 = 2;
const TAG_FAILED: u8 = 3;
/// The peer ends the job normally: its connection closing next is not a loss.
const TAG_BYE: u8 = 4;

/// A message received from a peer.
enum Frame {
    Json(Vec<u8>),
    Bytes(Vec<u8>),
    Failed(String),
    Lost(String),
}

/// One connection to a peer: writes under a lock (the heartbeat shares it), reads on a thread of
/// its own that hands frames over.
struct Peer {
    rank: usize,
    writer: Arc<Mutex<BufWriter<TcpStream>>>,
    inbox: Receiver<Frame>,
}

/// This process's place in a distributed job, with its open connections.
pub struct Cluster {
    rank: usize,
    size: usize,
    peers: Vec<Peer>,
    closing: Arc<AtomicBool>,
    timeout: Duration,
    /// The first peer lost, and how: (rank, why).
    lost: Lost,
}

/// The first peer lost, shared with the reader threads.
type Lost = Arc<Mutex<Option<(usize, String)>>>;

#[derive(serde::Serialize, serde::Deserialize)]
struct Hello {
    rank: usize,
    size: usize,
    job: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Welcome {
    In,
    Refused(String),
}

fn write_frame(w: &mut impl Write, tag: u8, payload: &[u8]) -> std::io::Result<()> {
    w.write_all(&[tag])?;
    w.write_all(&(payload.len() as u64).to_le_bytes())?;
    w.write_all(payload)?;
    w.flush()
}

fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head)?;
    let len = u64::from_le_bytes(head[1..].try_into().unwrap_or_default());
    if len > MAX_FRAME_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is more than any exchange sends"),
        ));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    Ok((head[0], payload))
}

impl Cluster {
    /// Joins the job: rank 0 waits for every other rank, the others connect to rank 0. Fails
    /// after `timeout` when someone is missing. `on_lost` is called (from another thread) when a
    /// joined peer goes away before [`Cluster::close`].
    pub fn join(m: &Membership, on_lost: OnLost) -> Result<Cluster, ClusterError> {
        let closing = Arc::new(AtomicBool::new(false));
        let lost: Lost = Arc::new(Mutex::new(None));
        let streams = if m.rank == 0 {
            accept_workers(m)?
        } else {
            vec![(0, connect_to_coordinator(m)?)]
        };
        let mut peers = Vec::with_capacity(streams.len());
        for (rank, stream) in streams {
            let watch = Watch {
                closing: closing.clone(),
                lost: lost.clone(),
                on_lost: on_lost.clone(),
            };
            peers.push(start_peer(rank, stream, m.timeout, watch)?);
        }
        Ok(Cluster {
            rank: m.rank,
            size: m.size,
            peers,
            closing,
            timeout: m.timeout,
            lost,
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Processes in the job.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Every rank's `mine`, in rank order, on rank 0 (`None` on the others, which send theirs).
    pub fn gather<T: Serialize + DeserializeOwned>(&self, mine: T) -> Result<Option<Vec<T>>, ClusterError> {
        let encoded = serde_json::to_vec(&mine).map_err(|source| ClusterError::Decode {
            rank: self.rank,
            source,
        })?;
        match self.gather_bytes(encoded)? {
            None => Ok(None),
            Some(all) => {
                let mut out = Vec::with_capacity(all.len());
                out.push(mine);
                for (rank, bytes) in all.into_iter().enumerate().skip(1) {
                    out.push(serde_json::from_slice(&bytes).map_err(|source| ClusterError::Decode { rank, source })?);
                }
                Ok(Some(out))
            }
        }
    }

    /// Rank 0's `value` on every rank (the others pass `None`).
    pub fn broadcast<T: Serialize + DeserializeOwned>(&self, value: Option<T>) -> Result<T, ClusterError> {
        if self.rank == 0 {
            let value = value.ok_or_else(|| ClusterError::Peer {
                rank: 0,
                why: "rank 0 has nothing to broadcast".into(),
            })?;
            let encoded = serde_json::to_vec(&value).map_err(|source| ClusterError::Decode { rank: 0, source })?;
            for p in &self.peers {
                send(p, TAG_JSON, &encoded)?;
            }
            return Ok(value);
        }
        let bytes = self.receive(&self.peers[0], TAG_JSON)?;
        serde_json::from_slice(&bytes).map_err(|source| ClusterError::Decode { rank: 0, source })
    }

    /// Every rank's bytes, in rank order, on rank 0 (`None` on the others, which send theirs).
    pub fn gather_bytes(&self, mine: Vec<u8>) -> Result<Option<Vec<Vec<u8>>>, ClusterError> {
        if self.rank != 0 {
            send(&self.peers[0], TAG_BYTES, &mine)?;
            return Ok(None);
        }
        let mut all = Vec::with_capacity(self.size);
        all.push(mine);
        for p in &self.peers {
            all.push(self.receive(p, TAG_BYTES)?);
        }
        Ok(Some(all))
    }

    /// The first peer lost, waiting up to `patience` for one: a library call that failed because
    /// a peer left (LightGBM's socket read) can return before this process hears of the loss.
    pub fn lost_within(&self, patience: Duration) -> Option<ClusterError> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some((rank, why)) = self.lost.lock().ok().and_then(|l| l.clone()) {
                return Some(ClusterError::Peer { rank, why });
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Tells the peers this rank failed, with why, so they stop with that message instead of
    /// waiting for the timeout.
    pub fn fail(&self, why: &str) {
        self.closing.store(true, Ordering::SeqCst);
        for p in &self.peers {
            let _ = send(p, TAG_FAILED, why.as_bytes());
        }
    }

    /// Ends the job normally: says so to every peer (their connections closing from now on is
    /// not a loss, nor is this one's for them).
    pub fn close(self) {
        self.closing.store(true, Ordering::SeqCst);
        for p in &self.peers {
            let _ = send(p, TAG_BYE, &[]);
        }
    }

    fn receive(&self, p: &Peer, tag: u8) -> Result<Vec<u8>, ClusterError> {
        let peer = |why: String| ClusterError::Peer { rank: p.rank, why };
        // Heartbeats keep a live peer's frames coming; silence this long means it is gone.
        match p.inbox.recv_timeout(self.timeout + HEARTBEAT) {
            Ok(Frame::Json(b)) if tag == TAG_JSON => Ok(b),
            Ok(Frame::Bytes(b)) if tag == TAG_BYTES => Ok(b),
            Ok(Frame::Failed(why)) => Err(peer(format!("failed: {why}"))),
            Ok(Frame::Lost(why)) => Err(peer(why)),
            Ok(_) => Err(peer(
                "sent a message out of turn (do all workers run the same churnguard?)".into(),
            )),
            Err(RecvTimeoutError::Timeout) => Err(peer(format!("silent for {} s", self.timeout.as_secs()))),
            Err(RecvTimeoutError::Disconnected) => Err(peer("its connection ended".into())),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The reader threads hold their own handles of each socket: shut it, so the peers see
        // this process leave (as they would if it died) and the threads end.
        for p in &self.peers {
            if let Ok(w) = p.writer.lock() {
                let _ = w.get_ref().shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn send(p: &Peer, tag: u8, payload: &[u8]) -> Result<(), ClusterError> {
    let mut w = p.writer.lock().map_err(|_| ClusterError::Peer {
        rank: p.rank,
        why: "its connection failed earlier".into(),
    })?;
    write_frame(&mut *w, tag, payload).map_err(|e| ClusterError::Peer {
        rank: p.rank,
        why: format!("cannot send to it: {e}"),
    })
}

/// Rank 0: accepts one connection per other rank until all have joined or the time is up.
fn accept_workers(m: &Membership) -> Result<Vec<(usize, TcpStream)>, ClusterError> {
    let listener = TcpListener::bind(&m.coordinator).map_err(|source| ClusterError::Listen {
        addr: m.coordinator.clone(),
        source,
    })?;
    listener.set_nonblocking(true).map_err(|source| ClusterError::Listen {
        addr: m.coordinator.clone(),
        source,
    })?;
    let deadline = Instant::now() + m.timeout;
    let mut joined: Vec<Option<TcpStream>> = (0..m.size).map(|_| None).collect();
    while joined.iter().skip(1).any(Option::is_none) {
        if Instant::now() >= deadline {
            let missing = (1..m.size).filter(|&r| joined[r].is_none()).collect();
            return Err(ClusterError::NeverJoined {
                missing,
                size: m.size,
                timeout: m.timeout,
            });
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some((rank, stream)) = admit(stream, m, &joined) {
                    joined[rank] = Some(stream);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Ok(joined
        .into_iter()
        .enumerate()
        .skip(1)
        .filter_map(|(r, s)| s.map(|s| (r, s)))
        .collect())
}

/// Reads a worker's hello and lets it in, or tells it why not (a wrong job, rank or size).
fn admit(stream: TcpStream, m: &Membership, joined: &[Option<TcpStream>]) -> Option<(usize, TcpStream)> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(m.timeout));
    let mut reader = stream.try_clone().ok()?;
    let (tag, payload) = read_frame(&mut reader).ok()?;
    let hello: Hello = (tag == TAG_JSON)
        .then(|| serde_json::from_slice(&payload).ok())
        .flatten()?;
    let refusal = if hello.job != m.job {
        Some(format!(
            "it runs job \"{}\", rank 0 runs \"{}\": every worker needs the same pipeline file",
            hello.job, m.job
        ))
    } else if hello.size != m.size || hello.rank == 0 || hello.rank >= m.size {
        Some(format!(
            "rank {} of {} does not fit a job of {} workers",
            hello.rank, hello.size, m.size
        ))
    } else if joined[hello.rank].is_some() {
        Some(format!("rank {} has joined already", hello.rank))
    } else {
        None
    };
    let answer = match &refusal {
        Some(why) => Welcome::Refused(why.clone()),
        None => Welcome::In,
    };
    let mut writer = stream.try_clone().ok()?;
    write_frame(&mut writer, TAG_JSON, &serde_json::to_vec(&answer).ok()?).ok()?;
    refusal.is_none().then_some((hello.rank, stream))
}

/// A worker: connects to rank 0 (trying again until the timeout: rank 0 may start later).
fn connect_to_coordinator(m: &Membership) -> Result<TcpStream, ClusterError> {
    let deadline = Instant::now() + m.timeout;
    let unreachable = || ClusterError::NoCoordinator {
        addr: m.coordinator.clone(),
        timeout: m.timeout,
    };
    loop {
        let addrs: Vec<SocketAddr> = m.coordinator.to_socket_addrs().map(|a| a.collect()).unwrap_or_default();
        for addr in &addrs {
            if let Ok(stream) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) {
                return hello(stream, m);
            }
        }
        if Instant::now() >= deadline {
            return Err(unreachable());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hello(stream: TcpStream, m: &Membership) -> Result<TcpStream, ClusterError> {
    let lost = |e: std::io::Error| ClusterError::Peer {
        rank: 0,
        why: format!("the connection failed while joining: {e}"),
    };
    let _ = stream.set_read_timeout(Some(m.timeout));
    let mut w = stream.try_clone().map_err(lost)?;
    let hello = Hello {
        rank: m.rank,
        size: m.size,
        job: m.job.clone(),
    };
    let encoded = serde_json::to_vec(&hello).map_err(|source| ClusterError::Decode { rank: m.rank, source })?;
    write_frame(&mut w, TAG_JSON, &encoded).map_err(lost)?;
    let mut r = stream.try_clone().map_err(lost)?;
    let (_, payload) = read_frame(&mut r).map_err(lost)?;
    match serde_json::from_slice(&payload).map_err(|source| ClusterError::Decode { rank: 0, source })? {
        Welcome::In => Ok(stream),
        Welcome::Refused(why) => Err(ClusterError::Refused(why)),
    }
}

/// What a peer's reader thread reports a loss to.
struct Watch {
    closing: Arc<AtomicBool>,
    lost: Lost,
    on_lost: OnLost,
}

impl Watch {
    /// Records the loss and, unless the job is ending, calls the handler.
    fn report(&self, rank: usize, why: String) {
        if let Ok(mut l) = self.lost.lock()
            && l.is_none()
        {
            *l = Some((rank, why.clone()));
        }
        if !self.closing.load(Ordering::SeqCst) {
            (self.on_lost)(ClusterError::Peer { rank, why });
        }
    }
}

/// Starts a peer's reader and heartbeat threads.
fn start_peer(rank: usize, stream: TcpStream, timeout: Duration, watch: Watch) -> Result<Peer, ClusterError> {
    let closing = watch.closing.clone();
    let io = |e: std::io::Error| ClusterError::Peer {
        rank,
        why: format!("its connection failed: {e}"),
    };
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(timeout + HEARTBEAT)).map_err(io)?;
    let writer = Arc::new(Mutex::new(BufWriter::new(stream.try_clone().map_err(io)?)));
    let (tx, inbox) = channel();
    let reader = BufReader::new(stream);
    std::thread::spawn(move || read_loop(rank, reader, tx, watch));
    std::thread::spawn({
        let writer = Arc::downgrade(&writer);
        move || {
            // Ends when the peer is dropped (its writer with it) or the connection fails.
            while let Some(w) = writer.upgrade() {
                let sent = match w.lock() {
                    Ok(mut w) => write_frame(&mut *w, TAG_HEARTBEAT, &[]).is_ok(),
                    Err(_) => false,
                };
                drop(w);
                if !sent || closing.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(HEARTBEAT);
            }
        }
    });
    Ok(Peer { rank, writer, inbox })
}

fn read_loop(rank: usize, mut reader: BufReader<TcpStream>, tx: Sender<Frame>, watch: Watch) {
    let mut departed = false;
    loop {
        let frame = match read_frame(&mut reader) {
            Ok((TAG_HEARTBEAT, _)) => continue,
            Ok((TAG_BYE, _)) => {
                departed = true;
                continue;
            }
            Err(_) if departed => return,
            Ok((TAG_JSON, b)) => Frame::Json(b),
            Ok((TAG_BYTES, b)) => Frame::Bytes(b),
            Ok((TAG_FAILED, b)) => {
                let why = String::from_utf8_lossy(&b).into_owned();
                let _ = tx.send(Frame::Failed(why.clone()));
                watch.report(rank, format!("failed: {why}"));
                return;
            }
            Ok((tag, _)) => Frame::Lost(format!("sent an unknown message (tag {tag})")),
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "stopped answering".to_string(),
                    std::io::ErrorKind::UnexpectedEof => "left the job (its connection closed)".to_string(),
                    _ => format!("its connection failed: {e}"),
                };
                let _ = tx.send(Frame::Lost(why.clone()));
                watch.report(rank, why);
                return;
            }
        };
        if tx.send(frame).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(rank: usize, size: usize, port: u16, timeout: u64) -> Membership {
        Membership {
            rank,
            size,
            coordinator: format!("127.0.0.1:{port}"),
            timeout: Duration::from_secs(timeout),
            job: "test".into(),
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn ignore() -> OnLost {
        Arc::new(|_| {})
    }

    #[test]
    fn three_ranks_gather_and_broadcast_in_rank_order() {
        let port = free_port();
        let workers: Vec<_> = (1..3)
            .map(|r| {
                std::thread::spawn(move || {
                    let c = Cluster::join(&membership(r, 3, port, 10), ignore()).unwrap();
                    assert!(c.gather(r * 10).unwrap().is_none());
                    let all: Vec<usize> = c.broadcast(None).unwrap();
                    c.close();
                    all
                })
            })
            .collect();
        let c = Cluster::join(&membership(0, 3, port, 10), ignore()).unwrap();
        let all = c.gather(0usize).unwrap().unwrap();
        assert_eq!(all, vec![0, 10, 20]);
        c.broadcast(Some(all.clone())).unwrap();
        for w in workers {
            assert_eq!(w.join().unwrap(), all);
        }
        c.close();
    }

    #[test]
    fn a_rank_that_never_joins_is_named_after_the_timeout() {
        let port = free_port();
        let started = Instant::now();
        let e = Cluster::join(&membership(0, 2, port, 1), ignore()).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(e.to_string().contains("rank 1 of 2 never joined within 1 s"), "{e}");
        let e = Cluster::join(&membership(1, 2, free_port(), 1), ignore())
            .err()
            .unwrap();
        assert!(e.to_string().contains("could not be reached within 1 s"), "{e}");
    }

    #[test]
    fn another_job_is_refused_and_a_lost_peer_is_reported() {
        let port = free_port();
        let other = std::thread::spawn(move || {
            let mut m = membership(1, 2, port, 5);
            m.job = "other".into();
            Cluster::join(&m, ignore()).err().unwrap().to_string()
        });
        let e = Cluster::join(&membership(0, 2, port, 2), ignore()).err().unwrap();
        assert!(e.to_string().contains("never joined"), "{e}");
        assert!(other.join().unwrap().contains("runs job \"other\""));

        let port = free_port();
        let worker = std::thread::spawn(move || {
            let c = Cluster::join(&membership(1, 2, port, 5), ignore()).unwrap();
            drop(c);
        });
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let c = Cluster::join(
            &membership(0, 2, port, 5),
            Arc::new(move |e| {
                let _ = tx.lock().unwrap().send(e.to_string());
            }),
        )
        .unwrap();
        worker.join().unwrap();
        let lost = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(lost.contains("rank 1"), "{lost}");
        let e = c.gather(1u8).err().unwrap();
        assert!(e.to_string().starts_with("rank 1:"), "{e}");
    }
}
