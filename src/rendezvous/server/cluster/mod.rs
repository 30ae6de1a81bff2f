//! Redis mode (`natter-rendezvous --redis URL`): what the nodes of one deployment share in one
//! Redis — accounts, presence, the sealed mailbox, handles and the room directory — and the
//! bus they talk over (sharded pub/sub: the node holding a client's connection subscribes to
//! that client's channel; pushes for it are published there). Every change that touches
//! several keys is one script (`scripts`), so Redis runs it whole; a deposit is stored once
//! however often it comes. The node's own state (connections, push queues, rate limits, the
//! relay) stays in its memory.

mod mail;
mod routes;
mod scripts;

pub(crate) use crate::rendezvous::bus::{Bus, Held, Routed, body};

use std::collections::HashSet;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, Script, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::identity::PeerId;
use crate::rendezvous::proto::SignedRecord;

/// The key prefix (one deployment per Redis database).
const PREFIX: &str = "natter";
/// How long a node counts as alive after its last beat; it beats every `BEAT`.
const NODE_TTL: Duration = Duration::from_secs(10);
/// How often a node says it is alive.
pub(super) const BEAT: Duration = Duration::from_secs(3);

/// Most items one expiry round moves.
const EXPIRE_BATCH: usize = 1000;

/// Why Redis mode could not start or a request could not be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// Redis refused or could not be reached.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The Redis serves another deployment.
    #[error(
        "this Redis serves the rendezvous deployment with key {held}, and this node's key is {ours}: start every node with a copy of the same key file (identity.pem in --data)"
    )]
    OtherKey {
        /// The deployment's key.
        held: String,
        /// This node's.
        ours: String,
    },
    /// Redis would lose acknowledged writes on a crash.
    #[error(
        "Redis is not durable ({0}): an acknowledged deposit could be lost in a crash. Set `appendonly yes` and `appendfsync always` in redis.conf (docs/SECURITY.md)"
    )]
    NotDurable(String),
    /// Redis answered something this node did not expect.
    #[error("Redis answered unexpectedly: {0}")]
    Unexpected(String),
}

fn hex(peer: &PeerId) -> String {
    data_encoding::HEXLOWER.encode(peer.as_bytes())
}

fn peer_of_hex(hex: &[u8]) -> Option<PeerId> {
    let b = data_encoding::HEXLOWER.decode(hex).ok()?;
    PeerId::from_bytes(b.try_into().ok()?).ok()
}

/// A client's channel.
pub(crate) fn channel(peer: &PeerId) -> String {
    format!("{PREFIX}:c:{}", hex(peer))
}

struct Scripts {
    register: Script,
    leave: Script,
    lookup: Script,
    deposit: Script,
    fetch: Script,
    ack: Script,
    expire: Script,
    claim: Script,
    relay_consent: Script,
}

/// This node's link to the deployment's Redis.
pub(crate) struct Cluster {
    conn: ConnectionManager,
    /// This node's id (random at each start).
    node: String,
    scripts: Scripts,
    /// What Redis pushes (messages on our channels; a lost connection).
    incoming: std::sync::Mutex<Option<UnboundedReceiver<PushInfo>>>,
}

/// What a lookup finds.
pub(crate) struct Found {
    /// The target allows the asker (its token is among the target's).
    pub allowed: bool,
    /// Its newest record (also while offline).
    pub record: Option<SignedRecord>,
    /// Its presence, while a live node holds it.
    pub held: Option<Held>,
}

/// A lookup script's answer: `{ 0 }`, or `{ 1, record, signature, held }`.
fn found_of(row: Vec<Value>) -> Found {
    let bytes = |v: Option<&Value>| match v {
        Some(Value::BulkString(b)) => Some(b.clone()),
        _ => None,
    };
    if !matches!(row.first(), Some(Value::Int(1))) {
        return Found {
            allowed: false,
            record: None,
            held: None,
        };
    }
    let held = match bytes(row.get(3)).map(|b| Held::read(&b)) {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "a presence in Redis does not decode");
            None
        }
        None => None,
    };
    Found {
        allowed: true,
        record: bytes(row.get(1))
            .zip(bytes(row.get(2)))
            .map(|(record, signature)| SignedRecord { record, signature }),
        held,
    }
}

impl Cluster {
    /// Connects, and checks that this Redis serves `key`'s deployment (claiming it when it
    /// serves none) and keeps what it acknowledged.
    pub(crate) async fn connect(url: &str, key: &PeerId) -> Result<Self, ClusterError> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(tx)
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let mut conn = client.get_connection_manager_with_config(config).await?;
        let ours = key.to_string();
        let held: Option<String> = redis::cmd("SET")
            .arg(format!("{PREFIX}:deployment"))
            .arg(&ours)
            .arg("NX")
            .arg("GET")
            .query_async(&mut conn)
            .await?;
        if let Some(held) = held.filter(|h| *h != ours) {
            return Err(ClusterError::OtherKey { held, ours });
        }
        check_durable(&mut conn).await?;
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|e| ClusterError::Unexpected(e.to_string()))?;
        let cluster = Self {
            conn,
            node: data_encoding::HEXLOWER.encode(&node),
            scripts: Scripts {
                register: Script::new(scripts::REGISTER),
                leave: Script::new(scripts::LEAVE),
                lookup: Script::new(scripts::LOOKUP),
                deposit: Script::new(scripts::DEPOSIT),
                fetch: Script::new(scripts::FETCH),
                ack: Script::new(&scripts::ack()),
                expire: Script::new(&scripts::expire()),
                claim: Script::new(scripts::CLAIM),
                relay_consent: Script::new(scripts::RELAY_CONSENT),
            },
            incoming: std::sync::Mutex::new(Some(rx)),
        };
        cluster.beat().await?;
        Ok(cluster)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// This node's id.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// This node's own channel (knock answers for knocks waiting here).
    pub(crate) fn node_channel(&self) -> String {
        format!("{PREFIX}:node:{}", self.node)
    }

    /// Another node's channel, by its id.
    pub(crate) fn channel_of_node(node: &str) -> String {
        format!("{PREFIX}:node:{node}")
    }

    /// The directory's channel.
    pub(crate) fn directory_channel() -> String {
        format!("{PREFIX}:dirc")
    }

    /// What Redis pushes to this node (taken once, by the bus reader).
    pub(crate) fn incoming(&self) -> Option<UnboundedReceiver<PushInfo>> {
        self.incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Says this node is alive (every `BEAT`).
    pub(crate) async fn beat(&self) -> Result<(), ClusterError> {
        let ms = NODE_TTL.as_millis() as u64;
        let _: () = redis::cmd("SET")
            .arg(format!("{PREFIX}:n:{}", self.node))
            .arg(1)
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Says this node is gone (a clean stop).
    pub(crate) async fn gone(&self) -> Result<(), ClusterError> {
        let _: () = redis::cmd("DEL")
            .arg(format!("{PREFIX}:n:{}", self.node))
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Subscribes to `channels` (sharded). One pipeline that waits for one confirmation
    /// per channel: sent as a plain command, the extra confirmations would answer later
    /// commands.
    pub(crate) async fn subscribe(&self, channels: &[String]) -> Result<(), ClusterError> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut p = redis::pipe();
        p.cmd("SSUBSCRIBE").arg(channels);
        self.conn()
            .req_packed_commands(&p, 0, channels.len())
            .await?;
        Ok(())
    }

    /// Unsubscribes from `channels`; a PING after it is what is waited for (the library
    /// hands SUNSUBSCRIBE's confirmations to the push channel only).
    pub(crate) async fn unsubscribe(&self, channels: &[String]) -> Result<(), ClusterError> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut p = redis::pipe();
        p.cmd("SUNSUBSCRIBE").arg(channels).cmd("PING");
        self.conn().req_packed_commands(&p, 0, 1).await?;
        Ok(())
    }

    /// Publishes on a channel; how many nodes heard it.
    pub(crate) async fn publish(&self, channel: &str, msg: &[u8]) -> Result<u64, ClusterError> {
        Ok(redis::cmd("SPUBLISH")
            .arg(channel)
            .arg(msg)
            .query_async(&mut self.conn())
            .await?)
    }

    /// Publishes many messages in one round trip (relayed packets).
    pub(crate) async fn publish_many(
        &self,
        msgs: &[(String, Vec<u8>)],
    ) -> Result<(), ClusterError> {
        let mut p = redis::pipe();
        for (channel, msg) in msgs {
            p.cmd("SPUBLISH").arg(channel).arg(msg).ignore();
        }
        let _: () = p.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Stores a registration: the account (for `account_ttl`) and the presence held here
    /// (until `expires_ms`). `None`: the record is not newer than the stored one; else
    /// whether mail or notices wait.
    pub(crate) async fn register(
        &self,
        peer: &PeerId,
        r: Registration<'_>,
    ) -> Result<Option<bool>, ClusterError> {
        use prost::Message as _;
        let mut flat: Vec<[u8; 32]> = r.tokens.iter().copied().collect();
        flat.sort();
        let flat = flat.concat();
        let digest = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&flat)
        };
        let held = r.held.encode_to_vec();
        let n: i64 = self
            .scripts
            .register
            .arg(PREFIX)
            .arg(hex(peer))
            .arg(r.issued_ms)
            .arg(&r.signed.record)
            .arg(&r.signed.signature)
            .arg(&flat)
            .arg(r.account_ttl_ms.max(1))
            .arg(&self.node)
            .arg(held)
            .arg(r.expires_ms)
            .arg(&digest[..])
            .invoke_async(&mut self.conn())
            .await?;
        Ok((n >= 0).then_some(n == 1))
    }

    /// The client left this node (gone, unregistered, expired): its presence goes if this
    /// node still holds it.
    pub(crate) async fn leave(&self, peer: &PeerId) -> Result<(), ClusterError> {
        let _: i64 = self
            .scripts
            .leave
            .arg(PREFIX)
            .arg(hex(peer))
            .arg(&self.node)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// What a lookup by the holder of `token` finds of `target`: whether the target allows
    /// it, its newest record and its presence (only while its holder lives).
    pub(crate) async fn lookup(
        &self,
        target: &PeerId,
        token: &[u8],
    ) -> Result<Found, ClusterError> {
        let mut found = self.lookup_many(&[(*target, token)]).await?;
        found
            .pop()
            .ok_or_else(|| ClusterError::Unexpected("no answer to a lookup".into()))
    }

    /// Many lookups in one round trip (one pipeline of the lookup script), in order.
    pub(crate) async fn lookup_many(
        &self,
        asked: &[(PeerId, &[u8])],
    ) -> Result<Vec<Found>, ClusterError> {
        let rows: Vec<Vec<Value>> = match asked {
            [] => return Ok(Vec::new()),
            // One: EVALSHA, loading the script if Redis lost it (a restart).
            [(t, token)] => vec![
                self.scripts
                    .lookup
                    .arg(PREFIX)
                    .arg(hex(t))
                    .arg(*token)
                    .invoke_async(&mut self.conn())
                    .await?,
            ],
            _ => {
                let mut p = redis::pipe();
                // Loaded first: a pipeline cannot load it on a miss.
                p.load_script(&self.scripts.lookup).ignore();
                for (t, token) in asked {
                    let mut inv = self.scripts.lookup.prepare_invoke();
                    inv.arg(PREFIX).arg(hex(t)).arg(*token);
                    p.invoke_script(&inv);
                }
                p.query_async(&mut self.conn()).await?
            }
        };
        Ok(rows.into_iter().map(found_of).collect())
    }
}

/// What a registration stores.
pub(crate) struct Registration<'a> {
    pub signed: &'a SignedRecord,
    pub issued_ms: u64,
    pub tokens: &'a HashSet<[u8; 32]>,
    pub account_ttl_ms: u64,
    pub held: &'a Held,
    pub expires_ms: u64,
}

/// Refuses a Redis that would lose acknowledged writes in a crash: AOF on, fsync before each
/// write is acknowledged. A Redis that hides its config (some hosted ones) gets a warning.
async fn check_durable(conn: &mut ConnectionManager) -> Result<(), ClusterError> {
    let got: Result<std::collections::HashMap<String, String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("append*")
        .query_async(conn)
        .await;
    match got {
        Ok(c) => {
            let (on, fsync) = (
                c.get("appendonly").map(String::as_str),
                c.get("appendfsync").map(String::as_str),
            );
            if on != Some("yes") || fsync != Some("always") {
                return Err(ClusterError::NotDurable(format!(
                    "appendonly {}, appendfsync {}",
                    on.unwrap_or("?"),
                    fsync.unwrap_or("?")
                )));
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read Redis's persistence settings: make sure it runs with appendonly yes and appendfsync always");
            Ok(())
        }
    }
}
