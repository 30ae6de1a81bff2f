//! Owns finding the links in a message's text: the pieces of text and the web or mail
//! addresses among them, and which addresses the app may hand to the desktop's browser
//! (`http`, `https`, `mailto` only: a peer's text never opens a file or runs a handler).
//! No iced here: the conversation view turns pieces into spans.

/// A piece of a message's text: plain words, or an address to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    /// The text as written.
    pub text: &'a str,
    /// The address a click opens, when the text is a link (`www.` gets `https://`).
    pub link: Option<String>,
}

/// The schemes a link may have; anything else stays text.
const SCHEMES: [&str; 3] = ["https://", "http://", "mailto:"];

/// Splits `text` into plain pieces and links, in order; joined, the pieces are the text.
pub fn split(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut plain = 0; // where the current plain piece starts
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let starts_word =
            at == 0 || text[..at].ends_with(|c: char| c.is_whitespace() || "(<[\"'".contains(c));
        if starts_word && let Some((len, link)) = link_at(rest) {
            if plain < at {
                pieces.push(Piece {
                    text: &text[plain..at],
                    link: None,
                });
            }
            pieces.push(Piece {
                text: &rest[..len],
                link: Some(link),
            });
            at += len;
            plain = at;
            continue;
        }
        at += rest.chars().next().map_or(1, char::len_utf8);
    }
    if plain < text.len() {
        pieces.push(Piece {
            text: &text[plain..],
            link: None,
        });
    }
    pieces
}

/// The links in `text`, in order.
pub fn all(text: &str) -> Vec<String> {
    split(text).into_iter().filter_map(|p| p.link).collect()
}

/// A link starting at the beginning of `s`: its length in `s` and the address to open.
fn link_at(s: &str) -> Option<(usize, String)> {
    // Run at every word of every message shown, in every frame: compared in place.
    let www = starts_with_ignoring_case(s, "www.");
    let scheme = SCHEMES.iter().find(|p| starts_with_ignoring_case(s, p));
    if scheme.is_none() && !www {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    let mut word = &s[..end];
    // Punctuation that ends a sentence is not part of the address; a closing bracket is
    // only when the address opened none.
    loop {
        let trimmed = word.trim_end_matches(['.', ',', ';', ':', '!', '?', '"', '\'', '>']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(t) if t.matches('(').count() < t.matches(')').count() + 1 => t,
            _ => trimmed,
        };
        let trimmed = trimmed.strip_suffix(']').unwrap_or(trimmed);
        if trimmed.len() == word.len() {
            break;
        }
        word = trimmed;
    }
    let head = scheme.map_or(4, |p| p.len());
    // A scheme alone, or characters that steer how text shows (an address must read as
    // what it opens), is no link.
    if word.len() <= head || word.chars().any(steers) {
        return None;
    }
    let link = if www {
        format!("https://{word}")
    } else {
        word.to_string()
    };
    Some((word.len(), link))
}

/// Whether `s` starts with the ASCII `prefix`, ASCII letters in any case.
fn starts_with_ignoring_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Characters never inside an address: those that steer how text shows (`natter::text`'s
/// one rule: controls, direction overrides and isolates) and the invisible ones (zero-width
/// spaces and joiners, direction marks), so an address reads as what it opens.
fn steers(c: char) -> bool {
    natter::text::steers(c) || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}')
}

/// Whether the app may hand `link` to the desktop: a web or mail address, nothing else.
pub fn openable(link: &str) -> bool {
    SCHEMES.iter().any(|p| starts_with_ignoring_case(link, p)) && !link.chars().any(steers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(text: &str) -> Vec<String> {
        all(text)
    }

    #[test]
    fn finds_web_and_mail_addresses_and_leaves_the_sentence_around_them() {
        assert_eq!(
            links("see https://natter.org/docs."),
            ["https://natter.org/docs"]
        );
        assert_eq!(links("(http://a.example/x)"), ["http://a.example/x"]);
        assert_eq!(
            links("wiki https://en.wikipedia.org/wiki/Rust_(language), ok"),
            ["https://en.wikipedia.org/wiki/Rust_(language)"]
        );
        assert_eq!(links("www.natter.org!"), ["https://www.natter.org"]);
        assert_eq!(
            links("mail mailto:bob@example.org?"),
            ["mailto:bob@example.org"]
        );
        assert_eq!(links("HTTPS://Shout.example"), ["HTTPS://Shout.example"]);
        assert!(links("no links: https:// or file:///etc/passwd or javascript:x").is_empty());
        assert!(links("nothttps://x.example").is_empty(), "inside a word");
        assert!(
            links("https://evil\u{202e}gpj.example").is_empty(),
            "steering characters"
        );
    }

    #[test]
    fn schemes_match_in_any_case_and_never_a_look_alike_or_a_part() {
        assert_eq!(links("WWW.Natter.org"), ["https://WWW.Natter.org"]);
        assert_eq!(links("MailTo:bob@example.org"), ["MailTo:bob@example.org"]);
        // A letter outside ASCII is not its look-alike; a scheme cut short is no scheme.
        assert!(links("ẁww.natter.org ｈttps://x.example ww http:/ é").is_empty());
    }

    #[test]
    fn the_pieces_are_the_text() {
        for text in [
            "a https://x.example b",
            "https://x.example",
            "héllo wörld 😀",
            "",
            "www.",
        ] {
            let joined: String = split(text).iter().map(|p| p.text).collect();
            assert_eq!(joined, text);
        }
        let p = split("a https://x.example b");
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].link.as_deref(), Some("https://x.example"));
    }

    #[test]
    fn only_web_and_mail_links_open() {
        assert!(openable("https://natter.org"));
        assert!(openable("mailto:a@b.example"));
        assert!(!openable("file:///etc/passwd"));
        assert!(!openable("javascript:alert(1)"));
        assert!(!openable("natter://add/xyz"));
        assert!(!openable("https://a\u{202e}b"));
    }
}
