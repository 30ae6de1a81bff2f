//! natter-cli's argument values: the value enums of the grammar (and the auto-accept size),
//! each mapped onto the library's own type.

use clap::ValueEnum;
use natter::control::{ContactRelay, Wait};
use natter::discovery::Interfaces;
use natter::model::{RelayPolicy, Status, TypingState};
use natter::node::PrivacyMode;

/// An auto-accept limit: bytes, or none (`off`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limit(pub(crate) Option<u64>);

/// `off`, or a size (refused when it is neither: a typo must not turn auto-accept off).
pub(crate) fn auto_accept_limit(text: &str) -> Result<Limit, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Limit(None));
    }
    natter::size::parse(text)
        .map(|n| Limit(Some(n)))
        .map_err(|e| format!("{e}, or off"))
}

/// `export --format`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ExportArg {
    /// One JSON object per line.
    Json,
    /// Readable lines with local dates.
    Text,
}

/// `--mdns-interfaces`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InterfacesArg {
    /// Real LAN interfaces: no loopback, no virtual (docker, bridges, veth) or VPN adapters.
    Lan,
    /// Loopback only (several nodes on one machine, tests).
    Loopback,
    /// Every interface, virtual and VPN ones included.
    All,
}

impl From<InterfacesArg> for Interfaces {
    fn from(a: InterfacesArg) -> Self {
        match a {
            InterfacesArg::Lan => Self::Lan,
            InterfacesArg::Loopback => Self::Loopback,
            InterfacesArg::All => Self::All,
        }
    }
}

/// `relay-policy POLICY`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RelayArg {
    /// Never: a contact no direct path reaches stays unreachable, and you are told why.
    Never,
    /// Ask each time (once per contact while the node runs).
    Ask,
    /// Always, without asking (still announced to both sides).
    Always,
}

impl From<RelayArg> for RelayPolicy {
    fn from(a: RelayArg) -> Self {
        match a {
            RelayArg::Never => Self::Never,
            RelayArg::Ask => Self::Ask,
            RelayArg::Always => Self::Always,
        }
    }
}

/// `contact set --relay CHOICE`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ContactRelayArg {
    /// Never relay sessions with this contact.
    Never,
    /// Ask first.
    Ask,
    /// Relay without asking.
    Always,
    /// Follow the global relay policy.
    Default,
}

impl From<ContactRelayArg> for ContactRelay {
    fn from(a: ContactRelayArg) -> Self {
        match a {
            ContactRelayArg::Never => Self::Never,
            ContactRelayArg::Ask => Self::Ask,
            ContactRelayArg::Always => Self::Always,
            ContactRelayArg::Default => Self::Default,
        }
    }
}

/// `relay-consent ID yes|no`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum YesNoArg {
    /// Let the relay carry the session.
    Yes,
    /// Keep the relay closed.
    No,
}

/// `privacy MODE`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PrivacyArg {
    /// Strangers land in the requests inbox until accepted (default).
    Requests,
    /// Strangers are refused after the handshake.
    ContactsOnly,
    /// Anyone may talk with you; strangers stay in the requests inbox until accepted.
    Everyone,
}

impl From<PrivacyArg> for PrivacyMode {
    fn from(a: PrivacyArg) -> Self {
        match a {
            PrivacyArg::Requests => Self::Requests,
            PrivacyArg::ContactsOnly => Self::ContactsOnly,
            PrivacyArg::Everyone => Self::Everyone,
        }
    }
}

/// `send --wait`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum WaitArg {
    /// Committed to the outbox.
    Queued,
    /// Written to a session.
    Sent,
    /// Sealed in the rendezvous mailbox for an offline peer.
    Stored,
    /// Stored by the peer.
    Delivered,
    /// Read by the peer.
    Read,
}

impl From<WaitArg> for Wait {
    fn from(a: WaitArg) -> Self {
        match a {
            WaitArg::Queued => Self::Queued,
            WaitArg::Sent => Self::Sent,
            WaitArg::Stored => Self::Stored,
            WaitArg::Delivered => Self::Delivered,
            WaitArg::Read => Self::Read,
        }
    }
}

/// `typing STATE`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TypingArg {
    /// Nothing going on.
    Idle,
    /// Typing now.
    Typing,
    /// Typed something, stopped, text still in the composer.
    Paused,
    /// Typed something, then cleared it.
    Erased,
}

impl From<TypingArg> for TypingState {
    fn from(a: TypingArg) -> Self {
        match a {
            TypingArg::Idle => Self::Idle,
            TypingArg::Typing => Self::Typing,
            TypingArg::Paused => Self::Paused,
            TypingArg::Erased => Self::Erased,
        }
    }
}

/// `presence STATUS`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StatusArg {
    /// Available.
    Online,
    /// Away from the keyboard.
    Away,
    /// Do not disturb.
    Busy,
    /// Look offline to everyone but the contacts set with `contact set ID --sees-invisible true`.
    Invisible,
}

impl From<StatusArg> for Status {
    fn from(a: StatusArg) -> Self {
        match a {
            StatusArg::Online => Self::Online,
            StatusArg::Away => Self::Away,
            StatusArg::Busy => Self::Busy,
            StatusArg::Invisible => Self::Invisible,
        }
    }
}
