//! The sealed mailbox and handles in Redis: a deposit is one script, stored once per
//! message id within the recipient's, the sender's and the deployment's caps; fetch, ack,
//! expiry into notices for the senders; first-come handles.

use std::collections::HashSet;

use redis::Value;

use super::{Cluster, ClusterError, EXPIRE_BATCH, PREFIX, hex, peer_of_hex};
use crate::identity::PeerId;
use crate::rendezvous::proto::{ExpiredMail, Mail, MailItem};
use crate::rendezvous::server::db::{Deposited, ITEM_OVERHEAD};

/// Most mail items one fetch reads (as the embedded mode).
const FETCH_ITEMS: usize = 256;

impl Cluster {
    /// Stores a deposit (once per message id) unless a cap is full.
    pub(crate) async fn deposit(
        &self,
        d: &crate::rendezvous::server::db::Deposit<'_>,
    ) -> Result<Deposited, ClusterError> {
        let (code, expires): (i64, Value) = self
            .scripts
            .deposit
            .arg(PREFIX)
            .arg(ITEM_OVERHEAD)
            .arg(hex(d.to))
            .arg(&d.msg_id[..])
            .arg(hex(d.from))
            .arg(d.sealed)
            .arg(d.expires)
            .arg(d.caps.recipient_items)
            .arg(d.caps.recipient_bytes)
            .arg(d.caps.sender_bytes)
            .arg(d.caps.total_bytes)
            .invoke_async(&mut self.conn())
            .await?;
        let expires = number(&expires).unwrap_or(d.expires);
        Ok(match code {
            0 => Deposited::Stored {
                expires,
                new: false,
            },
            1 => Deposited::Stored { expires, new: true },
            2 => Deposited::RecipientFull,
            3 => Deposited::SenderFull,
            4 => Deposited::ServerFull,
            other => {
                return Err(ClusterError::Unexpected(format!(
                    "deposit answered {other}"
                )));
            }
        })
    }

    /// Waiting mail and notices for `peer`, oldest first, within one answer's size.
    pub(crate) async fn fetch(&self, peer: &PeerId) -> Result<Mail, ClusterError> {
        use prost::Message as _;
        let (items, notices): (Vec<Value>, Vec<Vec<u8>>) = self
            .scripts
            .fetch
            .arg(PREFIX)
            .arg(hex(peer))
            .arg(FETCH_ITEMS)
            .invoke_async(&mut self.conn())
            .await?;
        let expired: Vec<ExpiredMail> = notices
            .chunks_exact(2)
            .filter_map(|n| {
                Some(ExpiredMail {
                    to: peer_of_hex(&n[1])?.as_bytes().to_vec(),
                    msg_id: n[0].clone(),
                })
            })
            .take(FETCH_ITEMS)
            .collect();
        let mut room = (crate::rendezvous::proto::MAX_MESSAGE - 16)
            .saturating_sub(expired.iter().map(|e| e.encoded_len() + 4).sum::<usize>());
        let mut out = Vec::new();
        for item in items.chunks_exact(3) {
            let (Some(id), Value::BulkString(msg_id), Value::BulkString(blob)) =
                (number(&item[0]), &item[1], &item[2])
            else {
                continue;
            };
            let Some(from) = blob.get(..64).and_then(peer_of_hex) else {
                continue;
            };
            let item = MailItem {
                id,
                from: from.as_bytes().to_vec(),
                msg_id: msg_id.clone(),
                sealed: blob[64..].to_vec(),
            };
            let size = item.encoded_len() + 4;
            if size > room {
                break;
            }
            room -= size;
            out.push(item);
        }
        Ok(Mail {
            items: out,
            expired,
        })
    }

    /// Removes acknowledged mail and notices.
    pub(crate) async fn ack(
        &self,
        peer: &PeerId,
        a: &crate::rendezvous::proto::AckMail,
    ) -> Result<(), ClusterError> {
        let mut inv = self.scripts.ack.prepare_invoke();
        inv.arg(PREFIX)
            .arg(ITEM_OVERHEAD)
            .arg(hex(peer))
            .arg(a.ids.len());
        for id in &a.ids {
            inv.arg(*id);
        }
        for m in &a.expired {
            inv.arg(&m[..]);
        }
        let _: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Turns mail past its expiry into notices for its senders; returns those senders.
    pub(crate) async fn expire(
        &self,
        now: u64,
        notice_ttl_ms: u64,
    ) -> Result<Vec<PeerId>, ClusterError> {
        let senders: Vec<Vec<u8>> = self
            .scripts
            .expire
            .arg(PREFIX)
            .arg(ITEM_OVERHEAD)
            .arg(now)
            .arg(EXPIRE_BATCH)
            .arg(notice_ttl_ms.max(1))
            .invoke_async(&mut self.conn())
            .await?;
        let mut seen = HashSet::new();
        Ok(senders
            .iter()
            .filter_map(|s| peer_of_hex(s))
            .filter(|p| seen.insert(*p))
            .collect())
    }

    /// Claims `name` for `peer` (first come; a new claim releases the old one).
    pub(crate) async fn claim(
        &self,
        name: &str,
        peer: &PeerId,
        signature: &[u8],
        ttl_ms: u64,
    ) -> Result<bool, ClusterError> {
        let n: i64 = self
            .scripts
            .claim
            .arg(PREFIX)
            .arg(name)
            .arg(hex(peer))
            .arg(&peer.as_bytes()[..])
            .arg(signature)
            .arg(ttl_ms.max(1))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    /// The key holding `name` and its signed claim.
    pub(crate) async fn resolve(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, ClusterError> {
        let (peer, sig): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(format!("{PREFIX}:h:{name}"))
            .arg("peer")
            .arg("sig")
            .query_async(&mut self.conn())
            .await?;
        Ok(peer.zip(sig))
    }
}

/// A number Redis answered as an integer, a double or text.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Double(d) if *d >= 0.0 => Some(*d as u64),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()?
            .parse::<f64>()
            .ok()
            .map(|d| d as u64),
        Value::SimpleString(s) => s.parse::<f64>().ok().map(|d| d as u64),
        _ => None,
    }
}
