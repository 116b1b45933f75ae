//! Text that people see: display names, bios, room titles.
//!
//! What a name shows must be what it is. Bidirectional overrides and isolates (which reorder
//! the text around them: U+202E before `evil` shows it as `live`) and zero-width characters are removed; text is
//! NFC-normalised; a name must keep at least one visible character. For the "name already
//! shown" check, names are compared by their UTS #39 skeleton, lower-cased: `Аnna` with a
//! Cyrillic А, `anna`, `ANNA` and `аnnа` all fold to the same key.

use unicode_normalization::UnicodeNormalization;

/// Characters removed from shown text: they are invisible or reorder what follows.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark
        | '\u{115F}' | '\u{1160}'       // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'       // Mongolian selectors and vowel separator
        | '\u{200B}'                    // zero width space
        | '\u{200E}' | '\u{200F}'       // left-to-right and right-to-left marks
        | '\u{202A}'..='\u{202E}'       // embeddings and overrides
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}'       // isolates and deprecated format characters
        | '\u{3164}' | '\u{FFA0}'       // Hangul fillers
        | '\u{FEFF}'                    // byte order mark
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
        | '\u{E0000}'..='\u{E007F}'     // tags
    )
}

/// Whether `c` shows as something (not space, not a joiner or variation selector alone).
fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || is_invisible(c)
        || matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}'))
}

/// `s` NFC-normalised, without invisible and reordering characters, trimmed.
pub fn clean(s: &str) -> String {
    let out: String = s.nfc().filter(|c| !is_invisible(*c)).collect();
    out.trim().to_string()
}

/// Whether `s` has at least one visible character.
pub fn has_visible(s: &str) -> bool {
    s.chars().any(is_visible)
}

/// The key two names that look alike share: lower case, UTS #39 skeleton, spaces dropped.
pub fn look_alike_key(s: &str) -> String {
    let lower = clean(s).to_lowercase();
    let skeleton: String = unicode_security::skeleton(&lower).collect();
    skeleton
        .to_lowercase()
        .chars()
        .filter(|c| is_visible(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordering_and_invisible_characters_are_removed() {
        assert_eq!(clean("\u{202E}evil\u{202C}"), "evil");
        assert_eq!(clean(" Anna\u{200B}\u{2066}Star\u{2069} "), "AnnaStar");
        assert_eq!(clean("Cafe\u{0301}"), "Café", "NFC");
        assert_eq!(
            clean("👩\u{200D}🎤 Mia"),
            "👩\u{200D}🎤 Mia",
            "joiners in emoji stay"
        );
    }

    #[test]
    fn a_name_needs_something_visible() {
        for blank in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{200D}",
            "\u{3164}",
            "\u{FE0F}",
        ] {
            assert!(!has_visible(&clean(blank)), "{blank:?}");
        }
        assert!(has_visible(&clean("\u{200B}a")));
    }

    #[test]
    fn look_alikes_share_a_key() {
        let anna = look_alike_key("Anna");
        for same in [
            "anna",
            "ANNA",
            "\u{0410}nna",
            "Ann\u{0430}",
            "A\u{200B}nna",
            "An na",
        ] {
            assert_eq!(look_alike_key(same), anna, "{same:?}");
        }
        assert_ne!(look_alike_key("Anne"), anna);
        assert_eq!(
            look_alike_key("paypal"),
            look_alike_key("p\u{0430}yp\u{0430}l")
        );
    }
}
