//! Owns which key press makes which shortcut (`of`), without the app's state: what each
//! then does is `shortcuts.rs`'s. The app hears every key press, whether a widget used it
//! or not; the composer leaves these keys alone.

use iced::keyboard::key::Named;
use iced::keyboard::{Key, Modifiers};

/// What a shortcut asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Ctrl+F: the search field.
    Search,
    /// Ctrl+K: the quick switcher (jump to a contact or room by name).
    Switcher,
    /// Ctrl+N: add a contact.
    AddContact,
    /// Alt+↑: the conversation above in the list.
    Previous,
    /// Alt+↓: the conversation below.
    Next,
    /// Esc: close what is open (a screen, the switcher, the search, a message's actions).
    Close,
    /// Ctrl+Q: quit Natter.
    Quit,
}

/// Every shortcut with the keys that make it, as the help and the tests read them.
pub const ALL: [(Shortcut, &str); 7] = [
    (Shortcut::Search, "Ctrl+F"),
    (Shortcut::Switcher, "Ctrl+K"),
    (Shortcut::AddContact, "Ctrl+N"),
    (Shortcut::Previous, "Alt+Up"),
    (Shortcut::Next, "Alt+Down"),
    (Shortcut::Close, "Escape"),
    (Shortcut::Quit, "Ctrl+Q"),
];

/// The shortcut a key press makes, if any (Cmd on macOS stands for Ctrl).
pub fn of(key: &Key, modifiers: Modifiers) -> Option<Shortcut> {
    let command = modifiers.command() && !modifiers.alt() && !modifiers.shift();
    let alt = modifiers.alt() && !modifiers.command() && !modifiers.shift();
    match key.as_ref() {
        Key::Character(c) if command => match c.to_lowercase().as_str() {
            "f" => Some(Shortcut::Search),
            "k" => Some(Shortcut::Switcher),
            "n" => Some(Shortcut::AddContact),
            "q" => Some(Shortcut::Quit),
            _ => None,
        },
        Key::Named(Named::ArrowUp) if alt => Some(Shortcut::Previous),
        Key::Named(Named::ArrowDown) if alt => Some(Shortcut::Next),
        Key::Named(Named::Escape) if modifiers.is_empty() => Some(Shortcut::Close),
        _ => None,
    }
}

/// The keys written as `ALL` writes them ("Ctrl+K") as a key press, for tests and help.
pub fn parse(keys: &str) -> Option<(Key, Modifiers)> {
    let mut modifiers = Modifiers::empty();
    let mut key = None;
    for part in keys.split('+') {
        match part {
            "Ctrl" => modifiers |= Modifiers::CTRL,
            "Alt" => modifiers |= Modifiers::ALT,
            "Up" => key = Some(Key::Named(Named::ArrowUp)),
            "Down" => key = Some(Key::Named(Named::ArrowDown)),
            "Escape" => key = Some(Key::Named(Named::Escape)),
            c if c.chars().count() == 1 => key = Some(Key::Character(c.to_lowercase().into())),
            _ => return None,
        }
    }
    key.map(|k| (k, modifiers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(target_os = "macos"))]
    fn each_shortcut_has_its_keys_and_other_keys_do_nothing() {
        for (shortcut, keys) in ALL {
            let (key, modifiers) = parse(keys).unwrap();
            assert_eq!(of(&key, modifiers), Some(shortcut), "{keys}");
        }
        let k = |c: &str| Key::Character(c.into());
        assert_eq!(
            of(&k("F"), Modifiers::CTRL),
            Some(Shortcut::Search),
            "caps lock"
        );
        assert_eq!(of(&k("f"), Modifiers::empty()), None, "typing an f");
        assert_eq!(
            of(&k("c"), Modifiers::CTRL),
            None,
            "copy stays the editor's"
        );
        assert_eq!(of(&k("f"), Modifiers::CTRL | Modifiers::SHIFT), None);
        let up = Key::Named(Named::ArrowUp);
        assert_eq!(of(&up, Modifiers::empty()), None, "moving the cursor");
        let esc = Key::Named(Named::Escape);
        assert_eq!(of(&esc, Modifiers::SHIFT), None);
    }
}
