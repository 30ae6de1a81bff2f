//! Owns what each keyboard shortcut does to the app (`keys.rs` says which key makes which).

use crate::keys::Shortcut;
use crate::screen::{Action, Screen, add_contact, sidebar, switcher};
use crate::{App, Op};

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
