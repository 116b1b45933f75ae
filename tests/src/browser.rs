//! A real headless Chromium (Debian `chromium` + `chromium-driver`), or Firefox (Debian
//! `firefox-esr` + Mozilla's `geckodriver` from crates.io), driven over W3C WebDriver.
//!
//! A small client of our own over reqwest: the few commands the page tests need (navigate, find,
//! type, click, read text, run a script, screenshot). Each [`Browser`] runs its own
//! chromedriver, which is shut down (with its Chromium) when the browser is dropped, even when
//! a test panics. At most [`MAX_BROWSERS`] browsers run at once in a test binary, so the tests
//! never start more than a handful of Chromium processes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Browsers open at once per test binary.
pub const MAX_BROWSERS: usize = 1;
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Marks the current document when clicking `arguments[0]` will load another one: a link to
/// another page, or a submit button of a form that posts to the server (the forms that scripts
/// handle have no `action`).
const MARK_IF_NAVIGATING: &str = "const e = document.querySelector(arguments[0]); \
    if (!e) return false; \
    const a = e.closest('a[href]'); \
    const link = a && !a.getAttribute('href').startsWith('#'); \
    const submit = !!e.closest('form[action]') && e.type === 'submit'; \
    if (link || submit) { window.__lsOld = true; return true; } \
    return false;";

fn gate() -> Arc<Semaphore> {
    static GATE: OnceLock<Arc<Semaphore>> = OnceLock::new();
    GATE.get_or_init(|| Arc::new(Semaphore::new(MAX_BROWSERS)))
        .clone()
}

fn which(names: &[&str]) -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin"));
    for n in names {
        let dirs = ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
            .into_iter()
            .map(PathBuf::from)
            .chain(cargo_bin.clone());
        for dir in dirs {
            let p = dir.join(n);
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "{names:?} not found: install Debian's chromium, chromium-driver and firefox-esr, and \
         geckodriver from crates.io (scripts/setup.sh)"
    );
}

/// Which browser a [`Browser`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

/// A page element, by its WebDriver id.
#[derive(Clone, Debug)]
pub struct Element(String);

/// One headless Chromium session.
pub struct Browser {
    engine: Engine,
    http: reqwest::Client,
    driver: Child,
    port: u16,
    session: String,
    _permit: OwnedSemaphorePermit,
}

impl Browser {
    /// Start chromedriver and a Chromium session with a window of `width`×`height` CSS pixels
    /// (fake camera and microphone, for the video pages).
    pub async fn start(width: u32, height: u32) -> Browser {
        Browser::launch(Engine::Chromium, width, height).await
    }

    /// Start geckodriver and a headless Firefox session with a window of `width`×`height`.
    pub async fn firefox(width: u32, height: u32) -> Browser {
        Browser::launch(Engine::Firefox, width, height).await
    }

    async fn launch(engine: Engine, width: u32, height: u32) -> Browser {
        let permit = gate().acquire_owned().await.expect("browser gate");
        let port = livestars_testkit::free_port();
        let log = std::env::temp_dir().join(format!("livestars-webdriver-{port}.log"));
        let mut cmd = match engine {
            Engine::Chromium => {
                let mut c = Command::new(which(&["chromedriver"]));
                c.arg(format!("--port={port}"))
                    .arg(format!("--log-path={}", log.display()));
                c
            }
            Engine::Firefox => {
                let mut c = Command::new(which(&["geckodriver"]));
                c.arg("--port").arg(port.to_string());
                c
            }
        };
        let driver = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the WebDriver server starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the WebDriver server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = match engine {
            Engine::Chromium => json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": which(&["chromium", "chromium-browser"]),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-extensions",
                            "--renderer-process-limit=1",
                            "--no-first-run",
                            "--use-fake-device-for-media-stream",
                            "--use-fake-ui-for-media-stream",
                            format!("--window-size={width},{height}"),
                        ]
                    }
                }}
            }),
            Engine::Firefox => json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "firefox",
                    "moz:firefoxOptions": {
                        "binary": which(&["firefox-esr", "firefox"]),
                        "args": ["-headless", format!("--width={width}"), format!("--height={height}")],
                        "prefs": {
                            "media.navigator.streams.fake": true,
                            "media.navigator.permission.disabled": true,
                            "dom.ipc.processCount": 1
                        }
                    }
                }}
            }),
        };
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Browser {
            engine,
            http,
            driver,
            port,
            session,
            _permit: permit,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        let mut r = self.http.request(method, &url);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
            .json()
            .await
            .unwrap_or(Value::Null);
        if let Some(err) = v["value"]["error"].as_str() {
            panic!("WebDriver {path}: {err}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    async fn try_cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Option<Value> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        let v: Value = self
            .http
            .request(method, &url)
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["value"]["error"].is_null()).then(|| v["value"].clone())
    }

    /// Open `url` and wait for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.cmd(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() >= deadline {
                let body = self
                    .script(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await;
                panic!(
                    "no element {css:?} on {}; the page reads:\n{}",
                    self.url().await,
                    body.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector now, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let v = self
            .try_cmd(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        v[ELEMENT].as_str().map(|s| Element(s.to_string()))
    }

    /// Every element matching a CSS selector now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
            .collect()
    }

    /// The rendered text of the first element matching `css` (found again if a navigation
    /// replaced the page between finding and reading it).
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css).await;
            let path = format!("/element/{}/text", e.0);
            if let Some(v) = self.try_get(&path).await {
                return v.as_str().unwrap_or_default().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{css}: its text could not be read"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text_of(&self, e: &Element) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    async fn try_get(&self, path: &str) -> Option<Value> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        let v: Value = self.http.get(&url).send().await.ok()?.json().await.ok()?;
        (v["value"]["error"].is_null()).then(|| v["value"].clone())
    }

    /// Run `act` on the element matching `css`, finding it again if the page was replaced.
    async fn on_element(&self, css: &str, steps: &[(&str, Value)]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        'again: loop {
            let e = self.find(css).await;
            for (cmd, body) in steps {
                let path = format!("/element/{}/{cmd}", e.0);
                if self
                    .try_cmd(reqwest::Method::POST, &path, body.clone())
                    .await
                    .is_none()
                {
                    assert!(Instant::now() < deadline, "{css}: {cmd} failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'again;
                }
            }
            return;
        }
    }

    /// Clear the field matching `css` and type `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        self.on_element(
            css,
            &[("clear", json!({})), ("value", json!({ "text": text }))],
        )
        .await;
    }

    /// Choose `path` (a file on this machine) in the file input matching `css`.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let path = path.to_str().expect("a UTF-8 path");
        self.on_element(css, &[("value", json!({ "text": path }))])
            .await;
    }

    /// Click the first element matching `css`, then wait until the page has loaded. A click
    /// that navigates (a link, or submitting a form that posts to the server) waits for the new
    /// document: the old one is marked before the click, so a page that is still the old one
    /// is never read as the answer.
    pub async fn click(&self, css: &str) {
        let navigates = self
            .try_cmd(
                reqwest::Method::POST,
                "/execute/sync",
                json!({ "script": MARK_IF_NAVIGATING, "args": [css] }),
            )
            .await
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        self.on_element(css, &[("click", json!({}))]).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let check = if navigates {
            "return window.__lsOld === undefined && document.readyState === 'complete'"
        } else {
            "return document.readyState === 'complete'"
        };
        loop {
            let ready = self
                .try_cmd(
                    reqwest::Method::POST,
                    "/execute/sync",
                    json!({ "script": check, "args": [] }),
                )
                .await;
            if ready.as_ref().and_then(Value::as_bool) == Some(true) || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Run `script` (a function body) in the page with `args`; its return value.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Run an async script: it calls `arguments[arguments.length - 1]` with its result.
    pub async fn script_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Resize the window to `width`×`height`.
    pub async fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Cookies of the current page, as WebDriver reports them.
    pub async fn cookies(&self) -> Vec<Value> {
        self.cmd(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver's own shutdown closes Chromium with it; then make sure it is gone.
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = std::io::Read::read(&mut s, &mut [0u8; 256]);
        }
        if self.engine == Engine::Firefox {
            // geckodriver has no shutdown command; the session's end closed Firefox.
            let _ = self.driver.kill();
            let _ = self.driver.wait();
            return;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            );
            let _ = std::io::Read::read(&mut s, &mut [0u8; 256]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
