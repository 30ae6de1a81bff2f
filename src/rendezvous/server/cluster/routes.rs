//! What Redis mode shares for rooms and relays: the public-room listings every node keeps a
//! copy of, which node a knock waits at, and relay consents across nodes.

use super::{Cluster, ClusterError, EXPIRE_BATCH, PREFIX, hex};
use crate::identity::PeerId;

impl Cluster {
    /// `me`, held here, consents to relaying with `other`; the node where `other` consented
    /// to `me`, if it did.
    pub(crate) async fn relay_consent(
        &self,
        me: &PeerId,
        other: &PeerId,
    ) -> Result<Option<String>, ClusterError> {
        Ok(self
            .scripts
            .relay_consent
            .arg(PREFIX)
            .arg(hex(me))
            .arg(hex(other))
            .arg(&self.node)
            .arg(3_600_000)
            .invoke_async(&mut self.conn())
            .await?)
    }

    /// `me`'s consents to these others end (its connection went).
    pub(crate) async fn relay_withdraw(
        &self,
        me: &PeerId,
        others: &[PeerId],
    ) -> Result<(), ClusterError> {
        if others.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = others
            .iter()
            .map(|o| format!("{PREFIX}:r:{}:{}", hex(me), hex(o)))
            .collect();
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Lists (or renews) a room: its signed listing until `expires_ms`.
    pub(crate) async fn list(
        &self,
        room: &[u8],
        listing: &[u8],
        expires_ms: u64,
    ) -> Result<(), ClusterError> {
        let _: () = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(format!("{PREFIX}:dir"))
            .arg(room)
            .arg(listing)
            .ignore()
            .cmd("ZADD")
            .arg(format!("{PREFIX}:dirx"))
            .arg(expires_ms)
            .arg(room)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Unlists a room.
    pub(crate) async fn unlist(&self, room: &[u8]) -> Result<(), ClusterError> {
        let _: () = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(format!("{PREFIX}:dir"))
            .arg(room)
            .ignore()
            .cmd("ZREM")
            .arg(format!("{PREFIX}:dirx"))
            .arg(room)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Every listing held (at a node's start).
    pub(crate) async fn listings(&self) -> Result<Vec<Vec<u8>>, ClusterError> {
        let all: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(format!("{PREFIX}:dir"))
            .query_async(&mut self.conn())
            .await?;
        Ok(all.into_iter().map(|(_, l)| l).collect())
    }

    /// Forgets listings past their expiry.
    pub(crate) async fn expire_listings(&self, now: u64) -> Result<(), ClusterError> {
        let due: Vec<Vec<u8>> = redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{PREFIX}:dirx"))
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(EXPIRE_BATCH)
            .query_async(&mut self.conn())
            .await?;
        for room in due {
            self.unlist(&room).await?;
        }
        Ok(())
    }

    /// Notes that a knock for (creator, knocker, room) waits at this node (for 5 s).
    pub(crate) async fn knock_waits(&self, route: &[u8]) -> Result<(), ClusterError> {
        let _: () = redis::cmd("SET")
            .arg(knock_key(route))
            .arg(&self.node)
            .arg("PX")
            .arg(5000)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// The channel of the node where a knock waits, if one does.
    pub(crate) async fn knock_node(&self, route: &[u8]) -> Result<Option<String>, ClusterError> {
        let node: Option<String> = redis::cmd("GET")
            .arg(knock_key(route))
            .query_async(&mut self.conn())
            .await?;
        Ok(node.map(|n| format!("{PREFIX}:node:{n}")))
    }
}

fn knock_key(route: &[u8]) -> String {
    format!("{PREFIX}:k:{}", data_encoding::HEXLOWER.encode(route))
}
