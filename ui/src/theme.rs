//! Owns the look: the user's theme choice (light, dark or follow the system) and the few
//! styles the screens share.

use std::fmt;

use iced::Theme;
use iced::theme::Mode;

/// The theme the user picked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// Follow the desktop's light / dark preference.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Choice {
    /// Every choice, for the settings picker.
    pub const ALL: [Choice; 3] = [Choice::System, Choice::Light, Choice::Dark];

    /// The saved form.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::System => "system",
            Choice::Light => "light",
            Choice::Dark => "dark",
        }
    }

    /// Reads the saved form; anything else follows the system.
    pub fn parse(s: &str) -> Self {
        match s {
            "light" => Choice::Light,
            "dark" => Choice::Dark,
            _ => Choice::System,
        }
    }

    /// The theme to draw with, given what the desktop prefers.
    pub fn theme(self, system: Mode) -> Theme {
        match (self, system) {
            (Choice::Light, _) | (Choice::System, Mode::Light) => Theme::Light,
            _ => Theme::Dark,
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::System => "Same as the system",
            Choice::Light => "Light",
            Choice::Dark => "Dark",
        })
    }
}

/// The sidebar's width: fixed, so its fields and hints read whole in any window.
pub const SIDEBAR: f32 = 310.0;

/// Section titles.
pub const TITLE: f32 = 14.0;
/// Small print.
pub const SMALL: f32 = 12.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_and_follow_the_system() {
        for c in Choice::ALL {
            assert_eq!(Choice::parse(c.as_str()), c);
        }
        assert_eq!(Choice::parse("neon"), Choice::System);
        assert_eq!(Choice::System.theme(Mode::Light), Theme::Light);
        assert_eq!(Choice::System.theme(Mode::Dark), Theme::Dark);
        assert_eq!(Choice::System.theme(Mode::None), Theme::Dark);
        assert_eq!(Choice::Light.theme(Mode::Dark), Theme::Light);
    }
}
