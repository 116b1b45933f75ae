//! Showing a decrypted document. The plaintext lives in memory; to show it, it is written to a
//! private temporary file (mode 0600, in a fresh private directory) and opened with the
//! system's viewer when there is a graphical session. The file is removed as soon as the admin
//! leaves the document (the [`Viewed`] is dropped) or the console exits.

use std::io::Write;
use std::process::{Command, Stdio};

pub struct Viewed {
    pub document_id: i64,
    pub model: String,
    /// SHA-256 of the ciphertext this was decrypted from: the decision is bound to it.
    pub sha256: String,
    /// The document's key proof, computed from the unwrapped document key: the decision
    /// carries it to show that this verifier could read the document.
    pub key_proof: String,
    pub kind: &'static str,
    pub size: usize,
    /// Whether a system viewer was started.
    pub shown: bool,
    /// The decrypted image, kept in memory while it is on screen, when the terminal can draw it.
    pub inline: Option<(InlineProtocol, Vec<u8>)>,
    _file: Option<tempfile::TempDir>,
}

impl Viewed {
    pub fn open(
        document_id: i64,
        model: &str,
        sha256: String,
        plain: Vec<u8>,
    ) -> std::io::Result<Viewed> {
        let kind = crate::crypto::kind(&plain);
        if !crate::crypto::is_accepted(kind) {
            // Not an image or PDF (a browser-sealed document's type is only known now): never
            // handed to a viewer, which might run it.
            return Ok(Viewed {
                document_id,
                model: model.to_string(),
                sha256,
                key_proof: String::new(),
                kind,
                size: plain.len(),
                shown: false,
                inline: None,
                _file: None,
            });
        }
        let protocol = detect_protocol(|k| std::env::var(k).ok());
        // Shown in the terminal when it can; the system viewer is the fallback.
        if let Some(p) = protocol.filter(|p| inline_image(*p, &plain, 1, 1).is_some()) {
            return Ok(Viewed::in_terminal(document_id, model, sha256, p, plain));
        }
        let graphical =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        let mut dir = None;
        let mut shown = false;
        if graphical {
            let d = tempfile::Builder::new()
                .prefix("livestars-doc-")
                .tempdir()?;
            let ext = match kind {
                "JPEG image" => "jpg",
                "PNG image" => "png",
                "PDF document" => "pdf",
                _ => "bin",
            };
            let path = d.path().join(format!("document.{ext}"));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&path)?;
            f.write_all(&plain)?;
            shown = Command::new("xdg-open")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .is_ok();
            dir = Some(d);
        }
        Ok(Viewed {
            document_id,
            model: model.to_string(),
            sha256,
            key_proof: String::new(),
            kind,
            size: plain.len(),
            shown,
            inline: None,
            _file: dir,
        })
    }

    /// A document drawn in the terminal with `p`; nothing is written to disk.
    pub fn in_terminal(
        document_id: i64,
        model: &str,
        sha256: String,
        p: InlineProtocol,
        plain: Vec<u8>,
    ) -> Viewed {
        Viewed {
            document_id,
            model: model.to_string(),
            sha256,
            key_proof: String::new(),
            kind: crate::crypto::kind(&plain),
            size: plain.len(),
            shown: true,
            inline: Some((p, plain)),
            _file: None,
        }
    }

    /// Whether the decrypted bytes are a JPEG, PNG or PDF.
    pub fn is_accepted_type(&self) -> bool {
        crate::crypto::is_accepted(self.kind)
    }

    pub fn summary(&self) -> String {
        if !self.is_accepted_type() {
            return format!(
                "WARNING: document {} of {} decrypted, but it is not a JPEG, PNG or PDF \
                 ({} bytes); it was not opened. Press X to reject it for that",
                self.document_id, self.model, self.size
            );
        }
        let how = if self.inline.is_some() {
            "shown below"
        } else if self.shown {
            "opened in the system viewer"
        } else {
            "no graphical viewer here: review it on a machine with a display"
        };
        format!(
            "document {} of {} decrypted locally: {}, {} bytes, hash verified; {how}",
            self.document_id, self.model, self.kind, self.size
        )
    }
}

/// Terminal graphics protocols that take PNG or JPEG bytes as they are (no image decoding here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineProtocol {
    /// kitty's graphics protocol (PNG).
    Kitty,
    /// iTerm2's inline images, also spoken by WezTerm (PNG, JPEG).
    Iterm,
}

/// Which protocol the terminal speaks, from its environment (`var` looks a variable up).
/// Inside tmux none: tmux does not pass these sequences through by default.
pub fn detect_protocol(var: impl Fn(&str) -> Option<String>) -> Option<InlineProtocol> {
    if var("TMUX").is_some() {
        return None;
    }
    if var("KITTY_WINDOW_ID").is_some() || var("TERM").is_some_and(|t| t.contains("kitty")) {
        return Some(InlineProtocol::Kitty);
    }
    match var("TERM_PROGRAM").as_deref() {
        Some("iTerm.app") | Some("WezTerm") => Some(InlineProtocol::Iterm),
        _ => match var("LC_TERMINAL").as_deref() {
            Some("iTerm2") => Some(InlineProtocol::Iterm),
            _ => None,
        },
    }
}

/// The escape sequence that draws `bytes` in a `cols`×`rows` cell box at the cursor, or `None`
/// when the protocol cannot show this type.
pub fn inline_image(p: InlineProtocol, bytes: &[u8], cols: u16, rows: u16) -> Option<String> {
    use base64::Engine;
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    match p {
        InlineProtocol::Kitty if png => {
            // Chunks of at most 4096 base64 bytes; `m=1` on all but the last.
            let chunks: Vec<&str> = data
                .as_bytes()
                .chunks(4096)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect();
            let mut out = String::with_capacity(data.len() + chunks.len() * 32);
            for (i, chunk) in chunks.iter().enumerate() {
                let more = u8::from(i + 1 < chunks.len());
                if i == 0 {
                    out.push_str(&format!(
                        "\x1b_Gf=100,a=T,q=2,c={cols},r={rows},m={more};{chunk}\x1b\\"
                    ));
                } else {
                    out.push_str(&format!("\x1b_Gm={more};{chunk}\x1b\\"));
                }
            }
            Some(out)
        }
        InlineProtocol::Iterm if png || jpeg => Some(format!(
            "\x1b]1337;File=inline=1;size={};width={cols};height={rows};preserveAspectRatio=1:{data}\x07",
            bytes.len()
        )),
        _ => None,
    }
}

/// The sequence that removes images drawn with `p` (kitty keeps them until deleted; iTerm2
/// images are ordinary cells that the next full redraw overwrites).
pub fn inline_clear(p: InlineProtocol) -> &'static str {
    match p {
        InlineProtocol::Kitty => "\x1b_Ga=d\x1b\\",
        InlineProtocol::Iterm => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn detection() {
        assert_eq!(
            detect_protocol(env(&[("TERM", "xterm-kitty")])),
            Some(InlineProtocol::Kitty)
        );
        assert_eq!(
            detect_protocol(env(&[("TERM_PROGRAM", "WezTerm")])),
            Some(InlineProtocol::Iterm)
        );
        assert_eq!(
            detect_protocol(env(&[("LC_TERMINAL", "iTerm2")])),
            Some(InlineProtocol::Iterm)
        );
        assert_eq!(detect_protocol(env(&[("TERM", "xterm-256color")])), None);
        assert_eq!(
            detect_protocol(env(&[
                ("TERM", "xterm-kitty"),
                ("TMUX", "/tmp/tmux-0/default,1,0")
            ])),
            None
        );
    }

    #[test]
    fn kitty_sends_png_in_chunks() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(10_000, 7);
        let s = inline_image(InlineProtocol::Kitty, &png, 40, 12).unwrap();
        assert!(s.starts_with("\x1b_Gf=100,a=T,q=2,c=40,r=12,m=1;"));
        assert_eq!(
            s.matches("\x1b_G").count(),
            4,
            "13,336 base64 bytes in 4 chunks"
        );
        assert!(s.ends_with("\x1b_Gm=0;") || s.contains("\x1b_Gm=0;"));
        assert!(s.ends_with("\x1b\\"));
        assert!(inline_image(InlineProtocol::Kitty, &[0xFF, 0xD8, 0xFF, 0], 40, 12).is_none());
    }

    #[test]
    fn iterm_takes_png_and_jpeg_not_pdf() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let s = inline_image(InlineProtocol::Iterm, &jpeg, 30, 10).unwrap();
        assert_eq!(
            s,
            "\x1b]1337;File=inline=1;size=7;width=30;height=10;preserveAspectRatio=1:/9j/4AECAw==\x07"
        );
        assert!(inline_image(InlineProtocol::Iterm, b"%PDF-1.7", 30, 10).is_none());
    }
}
