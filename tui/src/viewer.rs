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
    pub kind: &'static str,
    pub size: usize,
    /// Whether a system viewer was started.
    pub shown: bool,
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
            kind,
            size: plain.len(),
            shown,
            _file: dir,
        })
    }

    pub fn summary(&self) -> String {
        let how = if self.shown {
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
