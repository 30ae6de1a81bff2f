//! Owns the desktop notifications on the wire: `org.freedesktop.Notifications` over one
//! session-bus connection kept for the app's life, so a click on a notification
//! (`ActionInvoked`, which servers send to the connection that raised it) comes back to us.
//! What a notification says is decided elsewhere (`react.rs`); here it is made safe for the
//! server (`natter::text::for_notification`) and sent.

use std::collections::HashMap;

use iced::futures::{SinkExt, Stream, StreamExt};
use natter::text;

use crate::notify::Source;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// A notification to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The title, as the peer or the app wrote it (plain text by the specification).
    pub title: String,
    /// The body, as written (escaped here for servers that parse markup).
    pub body: String,
    /// The conversation a click opens, if any.
    pub opens: Option<Source>,
}

impl Note {
    /// A notification that opens nothing when clicked.
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: body.into(),
            opens: None,
        }
    }

    /// The same, opening `source` when clicked.
    pub fn opening(mut self, source: Source) -> Self {
        self.opens = Some(source);
        self
    }
}

async fn proxy(conn: &zbus::Connection) -> zbus::Result<zbus::Proxy<'static>> {
    zbus::Proxy::new(conn, SERVICE, PATH, SERVICE).await
}

/// Raises a notification; its id at the server, or `None` where no server took it (a bare
/// X session: nothing to tell the user).
pub async fn show(note: &Note) -> Option<u32> {
    let conn = super::session_bus().await?;
    let raised = async {
        let proxy = proxy(conn).await?;
        let caps: Vec<String> = proxy.call("GetCapabilities", &()).await?;
        // The title is plain text by the specification; the body is parsed as markup by
        // servers that say so: a peer's `<a href>` or `<img src>` must show as text there,
        // and stays unescaped where it would show as `&lt;`.
        let markup = caps.iter().any(|c| c == "body-markup");
        let title = text::for_notification(&note.title, text::NOTIFICATION_TITLE, false);
        let body = text::for_notification(&note.body, text::NOTIFICATION_BODY, markup);
        let actions: Vec<&str> = match note.opens {
            Some(_) => vec!["default", "Open"],
            None => vec![],
        };
        let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        let id: u32 = proxy
            .call(
                "Notify",
                &(
                    "Natter",
                    0u32,
                    crate::desktop::APP_ID,
                    title,
                    body,
                    actions,
                    hints,
                    -1i32,
                ),
            )
            .await?;
        zbus::Result::Ok(id)
    };
    match raised.await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::debug!(error = %e, "no desktop notification");
            None
        }
    }
}

/// The ids of notifications the user clicked (their default action), as they come.
pub fn clicks() -> impl Stream<Item = u32> {
    iced::stream::channel(16, async move |mut out| {
        let Some(conn) = super::session_bus().await else {
            return;
        };
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(SERVICE)
            .and_then(|r| r.member("ActionInvoked"))
            .map(|r| r.build());
        let stream = match rule {
            Ok(rule) => zbus::MessageStream::for_match_rule(rule, conn, None).await,
            Err(e) => Err(e),
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "notification clicks not followed");
                return;
            }
        };
        while let Some(Ok(message)) = stream.next().await {
            let Ok((id, action)) = message.body().deserialize::<(u32, String)>() else {
                continue;
            };
            if action == "default" && out.send(id).await.is_err() {
                return;
            }
        }
    })
}
