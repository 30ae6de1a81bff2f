//! Owns making text a peer chose (a message, a name, a file name, a reason) safe to show
//! outside the app's own widgets: on a terminal, in JSON printed to a terminal, and in a
//! desktop notification. One rule says which characters steer rather than show.

/// Characters that steer how the text around them is shown instead of being shown:
/// control characters (escape sequences, carriage return, new line, the C1 set with its
/// one-byte CSI) and bidirectional overrides and isolates.
pub fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text safe to print on a terminal: every character that steers (a control character, a
/// bidi override) is shown as an escape (`\u{1b}`, `\n`) instead of acting, so a peer can
/// neither send escape sequences nor fake another line.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if steers(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON text safe to print on a terminal, meaning the same: every character that steers (a
/// control character, a bidi override) is written as a `\uXXXX` escape. serde_json escapes
/// only the C0 controls and leaves the C1 ones and bidirectional overrides raw; such
/// characters can only stand inside JSON strings, where an escape means the same character.
pub fn terminal_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if steers(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest notification title, in characters (the sender's name).
pub const NOTIFICATION_TITLE: usize = 64;
/// Longest notification body, in characters (the message preview).
pub const NOTIFICATION_BODY: usize = 200;

/// Text for a desktop notification: at most `max` characters of `text` (then `…`), every
/// character that steers dropped (a control character becomes a space, a bidi override
/// nothing), and, when `markup` is set, `&`, `<` and `>` escaped as entities. Notification
/// servers that announce `body-markup` parse the body as markup (`<b>`, `<a href>`,
/// `<img src>`), so a peer's text must never reach them raw; the title is plain text by the
/// specification.
pub fn for_notification(text: &str, max: usize, markup: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut shown = 0;
    for c in text.chars() {
        if shown == max {
            out.push('…');
            break;
        }
        match c {
            c if c.is_control() => {
                if out.ends_with(' ') {
                    continue;
                }
                out.push(' ');
            }
            c if steers(c) => continue,
            '&' if markup => out.push_str("&amp;"),
            '<' if markup => out.push_str("&lt;"),
            '>' if markup => out.push_str("&gt;"),
            c => out.push(c),
        }
        shown += 1;
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_a_terminal_escapes_what_serde_leaves_raw_and_means_the_same() {
        let text = "a\u{9b}2J\u{1b}[31m\u{202e}txt.exe\u{2067}\u{7f} \u{1f44b} é";
        let json = serde_json::to_string(&serde_json::json!({ "text": text })).unwrap();
        assert!(json.contains('\u{9b}'), "serde_json leaves C1 raw: {json}");
        let safe = terminal_json(&json);
        assert!(!safe.chars().any(steers), "{safe}");
        assert!(
            safe.contains("\\u009b") && safe.contains("\\u202e"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["text"], text, "the same value");
    }

    #[test]
    fn hostile_notification_text_is_shown_not_obeyed() {
        let body = |t: &str| for_notification(t, NOTIFICATION_BODY, true);
        assert_eq!(body("hi, ünïcode 👋"), "hi, ünïcode 👋");
        assert_eq!(
            body("<b>bold</b> & <i>it</i>"),
            "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;it&lt;/i&gt;"
        );
        assert_eq!(
            body("<a href=\"https://evil.example/\">your bank</a>"),
            "&lt;a href=\"https://evil.example/\"&gt;your bank&lt;/a&gt;"
        );
        let img = body("<img src=\"file:///home/me/.ssh/id_ed25519\"/>");
        assert!(!img.contains('<') && !img.contains('>'), "{img}");
        assert!(img.starts_with("&lt;img src="), "{img}");
        // An entity in the text stays text: `&lt;` shows as `&lt;`, not as `<`.
        assert_eq!(body("&lt;"), "&amp;lt;");
        // Control characters and bidi overrides: a space, or nothing; never an action.
        assert_eq!(
            body("a\u{1b}]0;pwned\u{7}\r\nb\u{9b}c\u{202e}d\u{2066}e"),
            "a ]0;pwned b cde"
        );
        // A title is plain text: no entities, but the same cleaning and cap.
        assert_eq!(
            for_notification("Bob <b>\u{202e}\n", NOTIFICATION_TITLE, false),
            "Bob <b>"
        );
        // 10,000 characters: capped, whole characters, marked as cut.
        let long = "é<".repeat(5_000);
        let capped = body(&long);
        assert!(capped.ends_with('…'), "{capped}");
        let shown = capped.trim_end_matches('…');
        assert_eq!(shown, "é&lt;".repeat(NOTIFICATION_BODY / 2));
        assert_eq!(
            body(&"x".repeat(NOTIFICATION_BODY)),
            "x".repeat(NOTIFICATION_BODY)
        );
        assert_eq!(body(""), "");
    }
}
