//! Owns the keyboard shortcuts: which key does what (`of`), and what each then does
//! (`App::shortcut`). The app hears every key press, whether a widget used it or not; the
//! composer leaves these keys alone.

use iced::keyboard::key::Named;
use iced::keyboard::{Key, Modifiers};

use crate::screen::{Action, Screen, add_contact, sidebar, switcher};
use crate::{App, Op};

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

impl App {
    /// Does what a shortcut asks for.
    pub fn shortcut(&mut self, shortcut: Shortcut) -> Action {
        // Nothing is skipped past a key warning or the first-start screen but quitting.
        let blocking = matches!(self.screen, Screen::KeyWarning(_) | Screen::Onboarding(_));
        match shortcut {
            Shortcut::Quit => Action::run(crate::desktop::Do::Quit),
            _ if blocking || self.node.is_none() => Action::none(),
            Shortcut::Search => Action::run(Op::Focus(sidebar::SEARCH_INPUT)).then(Screen::Main),
            Shortcut::Switcher => Action::run(Op::Focus(switcher::INPUT))
                .then(Screen::Switcher(switcher::State::default())),
            Shortcut::AddContact => Action::run(Op::Focus(add_contact::ID_INPUT)).then(
                Screen::AddContact(add_contact::State::with_id(String::new())),
            ),
            Shortcut::Previous | Shortcut::Next if !matches!(self.screen, Screen::Main) => {
                Action::none()
            }
            Shortcut::Previous => switcher::step(self, -1),
            Shortcut::Next => switcher::step(self, 1),
            Shortcut::Close => self.close_one(),
        }
    }

    /// Esc: closes the innermost thing open — a screen over the main window, the search,
    /// a message's actions, "add a person", a search hit's view.
    fn close_one(&mut self) -> Action {
        if !matches!(self.screen, Screen::Main) {
            return Action::back();
        }
        let c = &mut self.conversation;
        // One thing per press, innermost first.
        let closed = if !self.search.words.is_empty() {
            self.search.words.clear();
            self.search.results = None;
            true
        } else {
            c.picked.take().is_some() || self.rooms.adding_to.take().is_some()
        };
        if !closed && c.jump.is_some() {
            return crate::screen::conversation::update(
                self,
                crate::screen::conversation::Message::ToNewest,
            );
        }
        Action::none()
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
