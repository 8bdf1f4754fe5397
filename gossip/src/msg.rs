//! Bus messages and their frames: `b"FRDB"`, version (u16 BE), body length (u32 BE), then the
//! body, a postcard-encoded [`Message`]. A frame with a bad magic or version, a body above
//! [`MAX_FRAME`] or a body that does not decode is an error: the driver closes that link.

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

pub const MAGIC: &[u8; 4] = b"FRDB";
pub const VERSION: u16 = 2;
/// Header bytes before the body.
pub const HEADER_LEN: usize = 10;
/// The largest body accepted.
pub const MAX_FRAME: usize = 1 << 20;

/// What every message carries about its sender (Redis's `clusterMsg` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub sender: NodeId,
    pub current_epoch: u64,
    /// The sender's config epoch, or its primary's if it is a replica.
    pub config_epoch: u64,
    /// The sender's flags (MASTER/SLAVE/NOFAILOVER; never MYSELF).
    pub flags: u16,
    /// The sender's primary, if it is a replica.
    pub primary: Option<NodeId>,
    /// Slots the sender (or its primary) serves, as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// `cluster-announce-ip`; None: the receiver uses the address it sees.
    pub ip: Option<String>,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    /// The sender's replication offset (a primary's `master_repl_offset`, a replica's
    /// applied offset): how replicas rank themselves in an election.
    pub repl_offset: u64,
    /// [`mflags`] bits.
    pub mflags: u8,
    pub body: Body,
}

/// Message flags (Redis's `mflags[0]`).
pub mod mflags {
    /// The sender is a primary paused for a manual failover; `repl_offset` is final.
    pub const PAUSED: u8 = 1 << 0;
    /// An auth request a primary must answer even if the requester's primary is not FAIL
    /// (`CLUSTER FAILOVER FORCE` and the manual failover).
    pub const FORCEACK: u8 = 1 << 1;
    /// The sender is a primary that restarted without its data and does not serve its
    /// slots: its replicas that hold data take over instead of syncing an empty dataset.
    pub const EMPTY: u8 = 1 << 2;
}

/// A gossip section entry: what the sender knows of another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipEntry {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    /// Unix ms; 0 = no ping pending.
    pub ping_sent: u64,
    pub pong_received: u64,
}

/// Message types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Ping(Vec<GossipEntry>),
    Pong(Vec<GossipEntry>),
    Meet(Vec<GossipEntry>),
    /// The sender marked this node FAIL: everyone does.
    Fail(NodeId),
    /// `id` owns `slots` with `config_epoch`: the receiver's claim on them is stale.
    Update {
        id: NodeId,
        config_epoch: u64,
        slots: Vec<(u16, u16)>,
    },
    /// A replica asks the primaries for their vote (`FAILOVER_AUTH_REQUEST`); the header's
    /// current epoch is the election's, its config epoch and slots are its primary's.
    AuthRequest,
    /// A primary's vote (`FAILOVER_AUTH_ACK`) for the election of the header's epoch.
    AuthAck,
    /// A replica asks its primary to pause writes for a manual failover (`MFSTART`).
    MfStart,
    /// Pub/sub propagation.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
}

impl Body {
    /// Index into [`MSG_TYPES`].
    pub fn type_index(&self) -> usize {
        match self {
            Body::Ping(_) => 0,
            Body::Pong(_) => 1,
            Body::Meet(_) => 2,
            Body::Fail(_) => 3,
            Body::Publish { .. } => 4,
            Body::AuthRequest => 5,
            Body::AuthAck => 6,
            Body::Update { .. } => 7,
            Body::MfStart => 8,
        }
    }
}

/// Message type names as `CLUSTER INFO` prints them, in Redis's order.
pub const MSG_TYPES: &[&str] = &[
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// Why a frame was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported version {0}")]
    BadVersion(u16),
    #[error("frame of {0} bytes is too large")]
    TooLarge(usize),
    #[error("undecodable body: {0}")]
    Body(String),
}

/// Appends one frame holding `msg` to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    // Serializing plain data into a Vec cannot fail; keep the frame empty if it ever does.
    let body = postcard::to_allocvec(msg).unwrap_or_default();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
}

/// Decodes the frame at the start of `buf`: Ok(None) if more bytes are needed, else the
/// message and the number of bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, FrameError> {
    let n = buf.len().min(4);
    if buf[..n] != MAGIC[..n] {
        return Err(FrameError::BadMagic);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let version = u16::from_be_bytes([buf[4], buf[5]]);
    if version != VERSION {
        return Err(FrameError::BadVersion(version));
    }
    let len = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let body = &buf[HEADER_LEN..HEADER_LEN + len];
    match postcard::from_bytes::<Message>(body) {
        Ok(m) => {
            if let Some(ip) = &m.ip {
                if ip.len() > 255 {
                    return Err(FrameError::Body("announced ip too long".into()));
                }
            }
            Ok(Some((m, HEADER_LEN + len)))
        }
        Err(e) => Err(FrameError::Body(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Message {
        Message {
            sender: NodeId([7; 20]),
            current_epoch: 5,
            config_epoch: 3,
            flags: crate::types::nflags::MASTER,
            primary: None,
            slots: vec![(0, 5460), (9000, 9000)],
            ip: None,
            port: 7000,
            cport: 17000,
            hostname: String::new(),
            repl_offset: 12345,
            mflags: mflags::PAUSED,
            body: Body::Ping(vec![GossipEntry {
                id: NodeId([9; 20]),
                ip: "127.0.0.1".into(),
                port: 7001,
                cport: 17001,
                flags: crate::types::nflags::MASTER,
                ping_sent: 0,
                pong_received: 1_700_000_000_000,
            }]),
        }
    }

    #[test]
    fn round_trip_and_prefixes() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        let (m, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(m, sample());
        assert_eq!(used, buf.len());
        for i in 0..buf.len() {
            assert_eq!(decode(&buf[..i]), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn refused_frames() {
        assert_eq!(decode(b"XRDB"), Err(FrameError::BadMagic));
        assert_eq!(
            decode(b"FRDB\x00\x01\x00\x00\x00\x00"),
            Err(FrameError::BadVersion(1))
        );
        assert_eq!(
            decode(b"FRDB\x00\x02\x7f\x00\x00\x00"),
            Err(FrameError::TooLarge(0x7f00_0000))
        );
        assert!(matches!(
            decode(b"FRDB\x00\x02\x00\x00\x00\x02\xff\xff"),
            Err(FrameError::Body(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
            let mut framed = b"FRDB\x00\x01".to_vec();
            framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            framed.extend_from_slice(&bytes);
            let _ = decode(&framed);
        }

        #[test]
        fn corrupted_frames_never_panic(pos in 0usize..200, val in any::<u8>()) {
            let mut buf = Vec::new();
            encode(&sample(), &mut buf);
            let p = pos % buf.len();
            buf[p] = val;
            let _ = decode(&buf);
        }
    }
}
