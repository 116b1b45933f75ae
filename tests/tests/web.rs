//! The web pages in a real headless Chromium: what a viewer sees and does, on both backends.

use std::path::PathBuf;

use livestars_e2e::browser::Browser;
use livestars_e2e::{http_client, verified_model, Backend, Instance, PASSWORD};
use serde_json::{json, Value};

/// Text that would run if a page inserted it as HTML.
const XSS_TITLE: &str = "Hi <script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
const XSS_BIO: &str = "<b>bold?</b> <img src=x onerror=\"window.__xss=3\"> & more";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

/// Run axe-core (npm, `server/web/node_modules`) in the page: the serious and critical
/// violations of WCAG 2 A/AA rules, as `id: nodes` lines.
async fn accessibility_problems(b: &Browser) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../server/web/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test installs it)", path.display()));
    b.script(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await;
    let v = b
        .script_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] })
               .then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await;
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

async fn assert_accessible(b: &Browser, page: &str) {
    let problems = accessibility_problems(b).await;
    assert!(problems.is_empty(), "{page}: {problems:#?}");
}

/// No script ran from user text, and no element was made from it.
async fn assert_inert(b: &Browser) {
    let v = b
        .script(
            "return [typeof window.__xss, document.querySelectorAll('main script, main img[src=x]').length]",
            vec![],
        )
        .await;
    assert_eq!(v, json!(["undefined", 0]), "user text became markup");
}

async fn api(http: &reqwest::Client, r: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = http;
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The journey of a viewer: finds a live model on the home page, signs up, opens her room,
/// tries to tip without LIVE, reads her profile, looks at it on a phone, signs out and in.
async fn a_viewer_finds_a_model_signs_up_and_opens_her_room(backend: Backend) {
    let http = http_client();
    let i = Instance::federating(backend, &[]);
    let admin = i.create_admin("root");
    let (anna, room) = verified_model(&http, &i.url, &admin, "anna").await;
    let (s, v) = api(
        &http,
        http.patch(format!("{}/api/rooms/{room}", i.url))
            .bearer_auth(&anna)
            .json(&json!({ "title": XSS_TITLE, "tags": ["cosplay"] })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api(
        &http,
        http.patch(format!("{}/api/profiles/anna", i.url))
            .bearer_auth(&anna)
            .json(&json!({ "bio": XSS_BIO, "display_name": "Anna Star", "languages": ["en"] })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api(
        &http,
        http.post(format!("{}/api/rooms/{room}/start", i.url))
            .bearer_auth(&anna)
            .json(&json!({ "status": "live" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let b = Browser::start(1280, 900).await;
    let shots = screenshots();
    let tag = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };

    // The home page lists her, with her title as text.
    b.goto(&format!("{}/", i.url)).await;
    let card = "#rooms li[data-model='anna']";
    assert_eq!(b.text(&format!("{card} .title")).await, XSS_TITLE);
    assert_eq!(b.text(&format!("{card} h2")).await, "Anna Star");
    assert!(b.text(&format!("{card} .meta")).await.contains("LIVE"));
    assert_inert(&b).await;
    b.click(&format!("{card} summary")).await;
    let why = b.text(&format!("{card} details table")).await;
    assert!(
        why.contains("Audience") && why.contains("New model"),
        "{why}"
    );
    assert_accessible(&b, "home").await;
    b.screenshot(&shots.join(format!("home-desktop-{tag}.png")))
        .await;

    // Search and filters.
    b.fill("#q", "ann").await;
    b.click("form.filters button").await;
    wait_url(&b, "q=ann").await;
    b.find(card).await;
    b.fill("#q", "nobody-like-that").await;
    b.click("form.filters button").await;
    b.find("#no-rooms").await;
    b.goto(&format!("{}/tags/cosplay", i.url)).await;
    b.find(card).await;
    b.goto(&format!("{}/tags/gaming", i.url)).await;
    b.find("#no-rooms").await;

    // Sign up: a bad password is explained and creates nothing; then it works.
    b.goto(&format!("{}/", i.url)).await;
    b.click("header a.button").await;
    b.fill("#username", "vic").await;
    b.fill("#password", "short").await;
    b.click("form button[type=submit]").await;
    let err = b.text("#form-error").await;
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert_eq!(b.find_all("#username").await.len(), 1);
    let (s, _) = api(
        &http,
        http.post(format!("{}/api/sessions", i.url))
            .json(&json!({ "username": "vic", "password": "short" })),
    )
    .await;
    assert_eq!(s, 401, "no account was made");
    assert_accessible(&b, "sign-up with an error").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.text("#signed-in-as").await, "vic");
    let session = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "livestars_session")
        .expect("session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");

    // Her room: title as text, the tip form, the balance.
    b.click(&format!("{card} h2 a")).await;
    wait_url(&b, "/@anna/live").await;
    assert_eq!(b.text("#room-title").await, XSS_TITLE);
    assert_eq!(b.text("#room-state").await.to_lowercase(), "live");
    assert!(b.text("#balance").await.starts_with("0 LIVE"));
    assert!(b.text("#video-slot").await.contains("live-video"));
    assert_accessible(&b, "room").await;
    b.screenshot(&shots.join(format!("room-desktop-{tag}.png")))
        .await;
    // Bad amounts are explained and move nothing.
    b.fill("#amount", "abc").await;
    b.click("#tip-form button").await;
    let err = b.text("#form-error").await;
    assert!(err.contains("decimal number of LIVE"), "{err}");
    b.fill("#amount", "1").await;
    b.click("#tip-form button").await;
    let err = b.text("#form-error").await;
    assert!(err.to_lowercase().contains("balance"), "{err}");
    assert!(b.text("#balance").await.starts_with("0 LIVE"));
    let (_, wallet) = api(
        &http,
        http.get(format!("{}/api/me/wallet", i.url))
            .bearer_auth(&anna),
    )
    .await;
    assert_eq!(wallet["balance"], "0", "{wallet}");

    // A report reaches the moderators.
    b.click("#report-heading").await;
    b.fill("#reason", "Not what the title says").await;
    b.click("#report-form button").await;
    assert!(b.text("#tip-notice").await.contains("moderators"));
    let (s, reports) = api(
        &http,
        http.get(format!("{}/api/admin/reports", i.url))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 200, "{reports}");
    assert!(
        reports.to_string().contains("Not what the title says"),
        "{reports}"
    );

    // Her profile: the bio as text.
    b.goto(&format!("{}/@anna", i.url)).await;
    assert_eq!(b.text("#display-name").await, "Anna Star");
    assert_eq!(b.text("#bio").await, XSS_BIO);
    assert_inert(&b).await;
    assert_accessible(&b, "model page").await;

    // He follows her; his Following page lists her, live, with a link to her room.
    assert_eq!(b.text("#followers").await, "0 followers here");
    b.click("#follow").await;
    assert_eq!(b.text("#follow-state").await, "You follow her.");
    assert_eq!(b.text("#followers").await, "1 follower here");
    b.click("header a[href='/following']").await;
    let row = b.text("#following-local li[data-model='anna']").await;
    assert!(
        row.contains("Anna Star") && row.to_lowercase().contains("live"),
        "{row}"
    );
    assert_accessible(&b, "following").await;
    b.goto(&format!("{}/@anna", i.url)).await;
    b.click("#unfollow").await;
    assert_eq!(b.text("#followers").await, "0 followers here");
    b.goto(&format!("{}/following", i.url)).await;
    b.find("#following-none").await;
    // "Report her room" on her page opens the room's report form.
    b.goto(&format!("{}/@anna", i.url)).await;
    b.click("#report-link").await;
    wait_url(&b, "/@anna/live#report").await;
    let open = b
        .script("return document.getElementById('report').open", vec![])
        .await;
    assert_eq!(open, json!(true));

    // On a phone, 360 px wide: nothing wider than the screen.
    b.set_window(360, 780).await;
    for page in ["/", "/@anna/live", "/@anna", "/following"] {
        b.goto(&format!("{}{page}", i.url)).await;
        let v = b
            .script(
                "return [window.innerWidth, document.documentElement.scrollWidth]",
                vec![],
            )
            .await;
        let (inner, scroll) = (v[0].as_i64().unwrap_or(0), v[1].as_i64().unwrap_or(0));
        let name = match page {
            "/" => "home",
            "/@anna/live" => "room",
            "/following" => "following",
            _ => "model",
        };
        b.screenshot(&shots.join(format!("{name}-360-{tag}.png")))
            .await;
        assert!(inner <= 400, "the window did not narrow: {v}");
        assert!(
            scroll <= inner,
            "{page} scrolls sideways at {inner} px: {scroll}"
        );
    }
    b.set_window(1280, 900).await;

    // Sign out, then in again (a wrong password first).
    b.goto(&format!("{}/", i.url)).await;
    sign_out(&b).await;
    assert!(b.try_find("#signed-in-as").await.is_none());
    b.click("header a[href='/signin']").await;
    b.fill("#username", "vic").await;
    b.fill("#password", "not the password").await;
    b.click("form button[type=submit]").await;
    let err = b.text("#form-error").await;
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert_accessible(&b, "sign-in with an error").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.text("#signed-in-as").await, "vic");

    // She deletes her account: a wrong password is refused, the right one deletes it.
    b.click("#signed-in-as").await;
    b.fill("#password", "not the password").await;
    b.click("#delete-account").await;
    b.find("#form-error").await;
    b.fill("#password", PASSWORD).await;
    b.click("#delete-account").await;
    b.find("#deleted").await;
    assert!(b.try_find("#signed-in-as").await.is_none());
    let (s, _) = api(
        &http,
        http.post(format!("{}/api/sessions", i.url))
            .json(&json!({ "username": "vic", "password": PASSWORD })),
    )
    .await;
    assert_eq!(s, 401, "the account is gone");
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_finds_a_model_signs_up_and_opens_her_room_on_sqlite() {
    a_viewer_finds_a_model_signs_up_and_opens_her_room(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_finds_a_model_signs_up_and_opens_her_room_on_postgres() {
    a_viewer_finds_a_model_signs_up_and_opens_her_room(Backend::Postgres).await;
}

fn no_redirects() -> reqwest::Client {
    let _ = http_client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or("").to_string())
        })
}

/// A form posted without this browser's CSRF token, or from another site, changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_csrf_token_or_from_another_site_change_nothing() {
    let i = Instance::federating(Backend::Sqlite, &[]);
    let http = no_redirects();
    let r = http
        .get(format!("{}/signup", i.url))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let csrf = set_cookie(&r, "livestars_csrf").expect("csrf cookie");
    let form = |token: &str, name: &str| {
        format!("csrf={token}&username={name}&password=a+long+enough+password")
    };
    let post = |body: String, cookie: Option<String>| {
        let mut r = http
            .post(format!("{}/signup", i.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let signs_in = |name: &'static str| {
        let http = http.clone();
        let url = i.url.clone();
        async move {
            http.post(format!("{url}/api/sessions"))
                .json(&json!({ "username": name, "password": PASSWORD }))
                .send()
                .await
                .expect("sign-in")
                .status()
                .as_u16()
        }
    };
    // No token, a wrong token, a token without its cookie: refused, no account.
    for (body, cookie) in [
        (form("", "mallory"), Some(format!("livestars_csrf={csrf}"))),
        (
            form(&"0".repeat(64), "mallory"),
            Some(format!("livestars_csrf={csrf}")),
        ),
        (form(&csrf, "mallory"), None),
    ] {
        let r = post(body, cookie).await.expect("post");
        assert_eq!(r.status(), 403);
        let page = r.text().await.unwrap_or_default();
        assert!(page.contains("Reload the page"), "{page}");
        assert_eq!(signs_in("mallory").await, 401, "no account was made");
    }
    // With the token: the account exists and the browser is signed in.
    let r = post(
        form(&csrf, "mallory"),
        Some(format!("livestars_csrf={csrf}")),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "livestars_session").expect("session cookie");
    assert_eq!(signs_in("mallory").await, 200);

    // Signing out from another site's page is refused; she stays signed in.
    let r = http
        .post(format!("{}/signout", i.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example")
        .header(
            "cookie",
            format!("livestars_csrf={csrf}; livestars_session={session}"),
        )
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let me = http
        .get(format!("{}/api/me", i.url))
        .header("cookie", format!("livestars_session={session}"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200, "still signed in");

    // Signing in again in the same browser ends the session it had.
    let r = http
        .post(format!("{}/signin", i.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "cookie",
            format!("livestars_csrf={csrf}; livestars_session={session}"),
        )
        .body(form(&csrf, "mallory"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let fresh = set_cookie(&r, "livestars_session").expect("session cookie");
    for (token, want) in [(&session, 401), (&fresh, 200)] {
        let me = http
            .get(format!("{}/api/me", i.url))
            .header("cookie", format!("livestars_session={token}"))
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), want);
    }
}

/// The URLs our federated objects publish are pages for a browser and JSON for a server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_urls_answer_browsers_with_pages() {
    let i = Instance::federating(Backend::Sqlite, &[]);
    let http = no_redirects();
    let admin = i.create_admin("root");
    let (_, room) = verified_model(&http_client(), &i.url, &admin, "anna").await;
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (path, page) in [
        ("/users/anna".to_string(), "/@anna"),
        (format!("/rooms/{room}"), "/@anna/live"),
    ] {
        let r = http
            .get(format!("{}{path}", i.url))
            .header("accept", browser_accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], page, "{path}");
        let r = http
            .get(format!("{}{path}", i.url))
            .header("accept", "application/activity+json")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.expect("json");
        assert!(v["type"].is_string(), "{v}");
    }
    for page in ["/@anna", "/@anna/live", "/tags/cosplay", "/"] {
        let r = http
            .get(format!("{}{page}", i.url))
            .header("accept", browser_accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{page}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html"));
    }
    // Nothing there: an HTML page for a browser, JSON for the API.
    let r = http
        .get(format!("{}/@nobody", i.url))
        .header("accept", browser_accept)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap_or_default().contains("was not found"));
    let r = http
        .get(format!("{}/no/such/page", i.url))
        .header("accept", browser_accept)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/html"));
    let r = http
        .get(format!("{}/api/nothing", i.url))
        .header("accept", browser_accept)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.expect("json error");
    assert_eq!(v["error"], "not_found");
}

/// Give the page a wallet (EIP-1193 `window.ethereum`) for `account` whose signatures the test
/// makes: `personal_sign` waits until [`sign_pending`] answers it.
async fn inject_wallet(b: &Browser, account: &str) {
    b.script(
        "const account = arguments[0];
         window.__signRequests = [];
         window.ethereum = { request: ({ method, params }) => {
           if (method === 'eth_requestAccounts' || method === 'eth_accounts') return Promise.resolve([account]);
           if (method === 'personal_sign') {
             const bytes = new Uint8Array(params[0].slice(2).match(/../g).map(h => parseInt(h, 16)));
             const message = new TextDecoder().decode(bytes);
             return new Promise((resolve, reject) =>
               window.__signRequests.push({ message, address: params[1], resolve, reject }));
           }
           return Promise.reject(new Error('unsupported ' + method));
         } };
         return true;",
        vec![json!(account)],
    )
    .await;
}

/// Sign the page's pending `personal_sign` request with the node's unlocked `account`.
async fn sign_pending(b: &Browser, node: &livestars_e2e::chain::Node, account: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let message = loop {
        let m = b
            .script(
                "const r = window.__signRequests || []; return r.length ? r[0].message : null;",
                vec![],
            )
            .await;
        if let Some(m) = m.as_str() {
            break m.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page asked for no signature"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        message.contains(account) || message.to_lowercase().contains(&account.to_lowercase()),
        "{message}"
    );
    let sig = node.personal_sign(account, &message).await;
    b.script(
        "const r = window.__signRequests.shift(); r.resolve(arguments[0]); return true;",
        vec![json!(sig)],
    )
    .await;
}

/// Wait (up to 10 s) until the page's address contains `part`: a click's navigation has landed.
async fn wait_url(b: &Browser, part: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !b.url().await.contains(part) {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached {part}: {}",
            b.url().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sign out through the header's button, and wait until the signed-out page has loaded (a
/// navigation started by a click may otherwise land after the test's next `goto`).
async fn sign_out(b: &Browser) {
    b.click("header form button").await;
    b.find("header a[href='/signin']").await;
}

/// Sign in through the page as `name` (the tests' password).
async fn sign_in_page(b: &Browser, url: &str, name: &str) {
    b.goto(&format!("{url}/signin")).await;
    b.fill("#username", name).await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.text("#signed-in-as").await, name);
}

/// Reload `url` until `css`'s text satisfies `check` (at most 30 s); that text.
async fn reload_until(b: &Browser, url: &str, css: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(url).await;
        if b.try_find(css).await.is_some() {
            let t = b.text(css).await;
            if check(&t) {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{css} still reads {t:?}"
            );
        } else {
            assert!(std::time::Instant::now() < deadline, "no {css} on {url}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The wallet page against a real chain node: a deposit credited, a withdrawal confirmed on
/// chain, and, with the node gone, the chain's state and why a new withdrawal waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_page_shows_deposits_withdrawals_and_the_chain() {
    use livestars_e2e::chain::LIVE;
    let s = livestars_e2e::settle::setup(Backend::Sqlite, &[]).await;
    let account = s.node.accounts[2].clone();
    let vic = s.funded_user("vic", &account, 10).await;
    let i = &s.instance;
    let b = Browser::start(1280, 900).await;
    sign_in_page(&b, &i.url, "vic").await;
    b.click("header a[href='/wallet']").await;
    assert_eq!(b.text("#balance").await, "10 LIVE");
    assert_eq!(b.text("#balance-usd").await, "≈ $0.50");
    assert!(b.text("#chain-status").await.contains("ok"));
    assert_eq!(
        b.text("#address").await.to_lowercase(),
        account.to_lowercase()
    );
    assert!(b
        .text("#deposit-instructions")
        .await
        .contains("confirmations"));
    assert!(b.text("#deposits").await.contains("10 LIVE"));
    assert!(b.text("#history").await.contains("Deposit"));
    assert!(b.text("#referral-link").await.ends_with("/signup?ref=vic"));
    assert_accessible(&b, "wallet").await;

    // She tips a live model from the room page; the split shows in the model's studio.
    let admin = i.create_admin("root");
    let (anna, room) = verified_model(&http_client(), &i.url, &admin, "anna").await;
    let (st, v) = api(
        &http_client(),
        http_client()
            .post(format!("{}/api/rooms/{room}/start", i.url))
            .bearer_auth(&anna)
            .json(&json!({ "status": "live" })),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    b.goto(&format!("{}/@anna/live", i.url)).await;
    assert!(b.text("#rate").await.contains("1 LIVE ≈ $0.05"));
    assert!(b.text(".presets").await.contains("10 LIVE (≈ $0.50)"));
    b.click("button.preset[data-amount='5']").await;
    let typed = b
        .script("return document.getElementById('amount').value", vec![])
        .await;
    assert_eq!(typed, "5", "a suggested amount fills the form");
    b.fill("#amount", "2").await;
    b.click("#tip-form button").await;
    assert_eq!(b.text("#tip-notice").await, "You tipped 2 LIVE. Thank you!");
    assert_eq!(b.text("#balance").await, "8 LIVE (≈ $0.40)");
    // A tip made elsewhere (here through the API) shows on the open page at once.
    let (st, v) = api(
        &http_client(),
        http_client()
            .post(format!("{}/api/rooms/{room}/tips", i.url))
            .bearer_auth(&vic)
            .json(&json!({ "amount": "0.5", "idempotency_key": "web-test-tip-0001" })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(b.text("#tips li").await, "vic tipped 0.5 LIVE (≈ $0.03)");
    b.goto(&format!("{}/", i.url)).await;
    sign_out(&b).await;
    sign_in_page(&b, &i.url, "anna").await;
    b.goto(&format!("{}/studio", i.url)).await;
    // The default model share is 75 %: 1.875 of the 2.5 LIVE, at once.
    assert_eq!(b.text("#earnings-total").await, "1.875 LIVE");
    b.click("header a[href='/wallet']").await;
    assert_eq!(b.text("#balance").await, "1.875 LIVE");
    assert!(b.text("#history").await.contains("Tip received"));
    sign_out(&b).await;
    sign_in_page(&b, &i.url, "vic").await;
    b.goto(&format!("{}/wallet", i.url)).await;
    assert!(b.text("#history").await.contains("Tip sent"));

    // Wallets through the browser's provider: a new visitor signs in with one (an account
    // is made for her), and a password account binds one.
    sign_out(&b).await;
    let fresh = s.node.accounts[3].clone();
    b.goto(&format!("{}/signin", i.url)).await;
    inject_wallet(&b, &fresh).await;
    b.click("#wallet-sign-in").await;
    sign_pending(&b, &s.node, &fresh).await;
    b.find("#signed-in-as").await;
    b.goto(&format!("{}/wallet", i.url)).await;
    assert_eq!(
        b.text("#address").await.to_lowercase(),
        fresh.to_lowercase()
    );
    // An account without a password deletes itself with a signature of its wallet.
    b.goto(&format!("{}/account", i.url)).await;
    inject_wallet(&b, &fresh).await;
    b.click("#wallet-delete").await;
    sign_pending(&b, &s.node, &fresh).await;
    b.find("#deleted").await;
    b.goto(&format!("{}/", i.url)).await;
    assert!(
        b.try_find("#signed-in-as").await.is_none(),
        "signed out with the account"
    );
    livestars_e2e::sign_up(&http_client(), &i.url, "wes").await;
    sign_in_page(&b, &i.url, "wes").await;
    b.goto(&format!("{}/wallet", i.url)).await;
    b.find("#no-address").await;
    let wes_account = s.node.accounts[4].clone();
    inject_wallet(&b, &wes_account).await;
    b.click("#bind-wallet").await;
    sign_pending(&b, &s.node, &wes_account).await;
    let bound = reload_until(&b, &format!("{}/wallet", i.url), "#address", |_| true).await;
    assert_eq!(bound.to_lowercase(), wes_account.to_lowercase());
    sign_out(&b).await;
    sign_in_page(&b, &i.url, "vic").await;
    b.goto(&format!("{}/wallet", i.url)).await;

    // A bad amount changes nothing; a good one is sent and confirmed on chain.
    b.fill("#withdraw-amount", "0").await;
    b.click("#withdraw-form button").await;
    assert!(b.text("#form-error").await.contains("more than zero"));
    assert_eq!(b.text("#balance").await, "7.5 LIVE");
    let before = s.node.balance_of(&s.token, &account).await;
    b.fill("#withdraw-amount", "2.5").await;
    b.click("#withdraw-form button").await;
    assert!(b.text("#wallet-notice").await.contains("on its way"));
    s.node.mine(3).await;
    let wallet_url = format!("{}/wallet", i.url);
    reload_until(&b, &wallet_url, "#payouts .payout-status", |t| {
        t == "confirmed"
    })
    .await;
    assert_eq!(
        s.node.balance_of(&s.token, &account).await - before,
        5 * LIVE / 2,
        "2.5 LIVE arrived on chain"
    );
    assert!(b.text("#history").await.contains("Withdrawal"));
    b.screenshot(&screenshots().join("wallet-desktop.png"))
        .await;

    // A withdrawal is sent but not mined, then the node goes away: the page says so, and
    // why the withdrawal waits; the form is closed meanwhile.
    s.node.set_automine(false).await;
    b.fill("#withdraw-amount", "1").await;
    b.click("#withdraw-form button").await;
    assert!(b.text("#wallet-notice").await.contains("on its way"));
    reload_until(
        &b,
        &wallet_url,
        "#payouts tbody tr:first-child .payout-reason",
        |t| t.contains("0x"),
    )
    .await;
    let livestars_e2e::settle::Setup { node, instance, .. } = s;
    let node_url = node.url.clone();
    drop(node);
    reload_until(&b, &wallet_url, "#chain-status", |t| {
        t.contains("unreachable")
    })
    .await;
    let message = b.text("#chain-message").await;
    assert!(message.contains("has not answered"), "{message}");
    // The node's address (it may carry an API key) is the operator's, not the public's.
    let node_port = node_url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let page = b.script("return document.body.innerText", vec![]).await;
    let (_, api) = api(
        &http_client(),
        http_client().get(format!("{}/api/settlement", instance.url)),
    )
    .await;
    for shown in [page.to_string(), api.to_string()] {
        assert!(
            !shown.contains(node_port) && !shown.contains("127.0.0.1"),
            "{shown}"
        );
    }
    let reason = b.text("#payouts tbody tr:first-child .payout-reason").await;
    assert!(reason.contains("has not answered"), "{reason}");
    assert!(b.try_find("#withdraw-form").await.is_none());
    assert!(b
        .text("#withdraw-heading + p")
        .await
        .contains("reachable chain node"));
    b.screenshot(&screenshots().join("wallet-chain-down.png"))
        .await;
    drop(b);
    drop(instance);
}

/// A new model in the studio: becomes a model, is refused going live without an approved ID
/// document, edits her profile and room (bad input explained, nothing changed), goes live, is
/// listed, ends her show and deletes her document.
async fn a_model_runs_her_studio(backend: Backend) {
    let http = http_client();
    let i = Instance::federating(backend, &[]);
    let admin = i.create_admin("root");
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/signup", i.url)).await;
    b.fill("#username", "mia").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.click("header a[href='/studio']").await;
    b.click("#become-model").await;
    assert!(b.text("#studio-notice").await.contains("model now"));
    assert_eq!(
        b.text("#verification-status").await,
        "No ID document on file."
    );
    b.find("#go-live-hint").await;
    b.click("#go-live").await;
    let err = b.text("#form-error").await;
    assert!(err.contains("ID document"), "{err}");
    assert_eq!(b.text("#room-state").await.to_lowercase(), "offline");
    assert_accessible(&b, "studio").await;

    let (_, session) = api(
        &http,
        http.post(format!("{}/api/sessions", i.url))
            .json(&json!({ "username": "mia", "password": PASSWORD })),
    )
    .await;
    let token = session["token"].as_str().expect("token").to_string();
    browser_sealed_document(&b, &http, &i, &admin).await;
    b.goto(&format!("{}/studio", i.url)).await;
    assert!(b.text("#verification-status").await.starts_with("Approved"));
    assert!(b.try_find("#go-live-hint").await.is_none());

    // A bad language is explained and nothing of the form is saved.
    b.fill("#display_name", "Mia Rose").await;
    b.fill("#languages", "en, not a language").await;
    b.click("form[action='/studio/profile'] button").await;
    // Waits: the click may return before the answer replaced the page.
    b.find("#form-error").await;
    let (_, p) = api(&http, http.get(format!("{}/api/profiles/mia", i.url))).await;
    assert_eq!(p["display_name"], "mia", "{p}");
    b.fill("#display_name", "Mia Rose").await;
    b.fill("#bio", XSS_BIO).await;
    b.fill("#languages", "en, pt").await;
    b.fill("#tags", "chat, music").await;
    b.click("form[action='/studio/profile'] button").await;
    assert_eq!(b.text("#studio-notice").await, "Profile saved.");
    let (_, p) = api(&http, http.get(format!("{}/api/profiles/mia", i.url))).await;
    assert_eq!(p["display_name"], "Mia Rose");
    assert_eq!(p["languages"], json!(["en", "pt"]));
    b.fill("#title", "Evening chat").await;
    b.click("form[action='/studio/room'] button").await;
    assert_eq!(b.text("#studio-notice").await, "Room saved.");

    // An avatar: a file that is no image is refused in the page; a PNG becomes her thumbnail.
    b.find("#no-avatar").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let not_image = dir.path().join("avatar.txt");
    std::fs::write(&not_image, "<svg onload=alert(1)>").expect("write");
    b.choose_file("#avatar-file", &not_image).await;
    b.click("#upload-avatar").await;
    let status = reload_free_text(&b, "#avatar-upload-status", "PNG").await;
    assert!(status.contains("PNG, JPEG or WebP"), "{status}");
    let (_, p) = api(&http, http.get(format!("{}/api/profiles/mia", i.url))).await;
    assert!(p["avatar_url"].is_null(), "{p}");
    let png = dir.path().join("avatar.png");
    std::fs::write(&png, tiny_png()).expect("write");
    b.choose_file("#avatar-file", &png).await;
    b.click("#upload-avatar").await;
    wait_url(&b, "done=avatar").await;
    assert_eq!(b.text("#studio-notice").await, "Avatar saved.");
    b.find("#current-avatar").await;

    b.click("#go-live").await;
    assert_eq!(b.text("#studio-notice").await, "You are live.");
    assert_eq!(b.text("#room-state").await.to_lowercase(), "live");
    b.screenshot(&screenshots().join("studio-desktop.png"))
        .await;
    b.goto(&format!("{}/", i.url)).await;
    assert_eq!(b.text("#rooms li[data-model='mia'] h2").await, "Mia Rose");
    // Her card shows her avatar, loaded (the page's policy allows it: it is served here).
    let loaded = b
        .script(
            "const i = document.querySelector(\"#rooms li[data-model='mia'] .thumb img\"); \
             return i ? i.complete && i.naturalWidth > 0 : null",
            vec![],
        )
        .await;
    assert_eq!(loaded, json!(true), "the thumbnail shows her avatar");
    assert_eq!(
        b.text("#rooms li[data-model='mia'] .title").await,
        "Evening chat"
    );
    assert_inert(&b).await;

    b.goto(&format!("{}/studio", i.url)).await;
    b.click("#stop-show").await;
    assert_eq!(b.text("#studio-notice").await, "Your show ended.");
    b.click("#delete-iddoc").await;
    assert_eq!(
        b.text("#studio-notice").await,
        "Your ID document was deleted."
    );
    assert_eq!(
        b.text("#verification-status").await,
        "No ID document on file."
    );
    b.find("#go-live-hint").await;
    let (_, v) = api(
        &http,
        http.get(format!("{}/api/me/verification", i.url))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(v["may_go_live"], false, "{v}");
}

/// The studio seals an ID document in the browser: two verifiers are registered, the model
/// chooses a PNG, and what the server stores opens — byte-identical — with the console's
/// envelope code and with the Go `age` CLI for each verifier; the first one approves it with
/// the key proof that only a reader can compute.
async fn browser_sealed_document(b: &Browser, http: &reqwest::Client, i: &Instance, admin: &str) {
    use livestars_envelope::{ExposeSecret, Identity};
    let url = i.url.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let verifiers = [Identity::generate(), Identity::generate()];
    let deputy = i.create_admin("deputy");
    for (v, who) in verifiers.iter().zip([admin, deputy.as_str()]) {
        let (s, body) = api(
            http,
            http.post(format!("{url}/api/admin/verifiers"))
                .bearer_auth(who)
                .json(&json!({ "recipient": v.to_public().to_string() })),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    // A small real PNG with text in it that must never reach the server.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(b"PASSPORT 4711 MIA ROSE 1990-01-01 ".repeat(300));
    let file = dir.path().join("passport.png");
    std::fs::write(&file, &png).expect("write the document");
    // Not a document: refused in the page, nothing sent.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an ID").expect("write");
    b.choose_file("#iddoc-file", &text).await;
    b.click("#upload-iddoc").await;
    let status = reload_free_text(b, "#iddoc-upload-status", "JPEG, PNG or PDF").await;
    assert!(status.contains("must be a JPEG, PNG or PDF"), "{status}");
    b.choose_file("#iddoc-file", &file).await;
    b.click("#upload-iddoc").await;
    wait_url(b, "done=iddoc-uploaded").await;
    assert!(b
        .text("#studio-notice")
        .await
        .contains("encrypted in your browser"));
    assert_eq!(
        b.text("#verification-status").await,
        "Your ID document waits for a verifier."
    );
    let (_, docs) = api(
        http,
        http.get(format!("{url}/api/admin/iddocs?status=pending"))
            .bearer_auth(admin),
    )
    .await;
    let doc = docs[0].clone();
    assert_eq!(doc["mime"], "image/png", "{doc}");
    let id = &doc["id"];
    let ct = http
        .get(format!("{url}/api/admin/iddocs/{id}/ciphertext"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("ciphertext")
        .bytes()
        .await
        .expect("bytes")
        .to_vec();
    assert!(!ct.windows(13).any(|w| w == b"PASSPORT 4711"));
    let (_, key) = api(
        http,
        http.get(format!("{url}/api/admin/iddocs/{id}/key"))
            .bearer_auth(admin),
    )
    .await;
    let wrapped = key["wrapped_key"].as_str().expect("wrapped key");
    std::fs::write(dir.path().join("document.age"), &ct).expect("write");
    std::fs::write(dir.path().join("wrapped.age"), wrapped).expect("write");
    for (n, v) in verifiers.iter().enumerate() {
        // The console's envelope code.
        assert_eq!(
            livestars_envelope::open(v, wrapped, &ct).expect("opens"),
            png,
            "verifier {n}, envelope crate"
        );
        // The Go age CLI: unwrap the document key, then decrypt the document with it.
        let id_file = dir.path().join(format!("verifier-{n}.key"));
        std::fs::write(&id_file, v.to_string().expose_secret()).expect("write");
        let doc_key = age_cli(&["-d", "-i"], &id_file, &dir.path().join("wrapped.age"));
        let key_file = dir.path().join(format!("document-{n}.key"));
        std::fs::write(&key_file, &doc_key).expect("write");
        let plain = age_cli(&["-d", "-i"], &key_file, &dir.path().join("document.age"));
        assert_eq!(plain, png, "verifier {n}, Go age");
    }
    let proof = livestars_e2e::key_proof(http, url, admin, id, &verifiers[0]).await;
    let (s, body) = api(
        http,
        http.post(format!("{url}/api/admin/iddocs/{id}/decision"))
            .bearer_auth(admin)
            .json(&json!({"decision": "approve", "sha256": doc["sha256"],
                "date_of_birth": "1990-01-01", "key_proof": proof})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

/// A real 1×1 PNG image.
fn tiny_png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
        .expect("base64")
}

/// `age <args> <identity> <input>` (the Go CLI): its output.
fn age_cli(args: &[&str], identity: &std::path::Path, input: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("age")
        .args(args)
        .arg(identity)
        .arg(input)
        .output()
        .expect("the `age` command (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "age failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Wait until the element's text contains `part` (a script updates it without a navigation).
async fn reload_free_text(b: &Browser, css: &str, part: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let t = b.text(css).await;
        if t.contains(part) || std::time::Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_runs_her_studio_on_sqlite() {
    a_model_runs_her_studio(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_runs_her_studio_on_postgres() {
    a_model_runs_her_studio(Backend::Postgres).await;
}

/// A viewer on another instance finds a model by her handle, follows her from the page, and
/// sees her room in the home page's directory, marked with her instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_follows_a_model_of_another_instance() {
    let http = http_client();
    let a = Instance::federating(Backend::Sqlite, &[]);
    let bi = Instance::federating(Backend::Sqlite, &[]);
    let admin_b = bi.create_admin("root");
    let (anna, room) = verified_model(&http, &bi.url, &admin_b, "anna").await;
    let (s, v) = api(
        &http,
        http.post(format!("{}/api/rooms/{room}/start", bi.url))
            .bearer_auth(&anna)
            .json(&json!({ "status": "live" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    livestars_e2e::sign_up(&http, &a.url, "vic").await;
    let b = Browser::start(1280, 900).await;
    sign_in_page(&b, &a.url, "vic").await;
    let handle = format!("anna@{}", bi.domain());
    b.goto(&format!("{}/@{handle}", a.url)).await;
    assert!(b.text("main").await.contains("has not seen this model yet"));
    b.click("main form button").await;
    assert_eq!(b.text("#display-name").await, "anna");
    b.find("#follow-state").await;
    assert_accessible(&b, "remote model").await;
    // Her instance accepts; her live room is listed here, marked as hers.
    let card = format!("#rooms li[data-model='{handle}']");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(&format!("{}/", a.url)).await;
        if b.try_find(&card).await.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "her room never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(b
        .text(&format!("{card} .home"))
        .await
        .contains(&format!("on instance {}", bi.domain())));
    // The Accept and the room's listing travel as separate deliveries; either may land first.
    reload_until(&b, &format!("{}/@{handle}", a.url), "#follow-state", |t| {
        t.contains("accepted")
    })
    .await;
    // His Following page lists her under the other instances, live.
    b.goto(&format!("{}/following", a.url)).await;
    let row = b
        .text(&format!("#following-remote li[data-model='{handle}']"))
        .await;
    assert!(row.to_lowercase().contains("live"), "{row}");
    b.goto(&format!("{}/@{handle}", a.url)).await;
    b.click("main form button").await;
    assert!(b.try_find("#follow-state").await.is_none(), "unfollowed");
}

/// The same pages in Firefox (Debian `firefox-esr`, Mozilla's geckodriver): a model seals her ID
/// document in Firefox (age-encryption there, opened by the Go `age` CLI and the console's
/// code), goes live once approved; a viewer signs up, finds her card and opens her room, whose
/// tip form explains a bad amount; axe finds nothing serious on either page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_in_firefox() {
    let http = http_client();
    let i = Instance::federating(Backend::Sqlite, &[]);
    let admin = i.create_admin("root");
    let b = Browser::firefox(1280, 900).await;
    b.goto(&format!("{}/signup", i.url)).await;
    b.fill("#username", "mia").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.find("#signed-in-as").await;
    b.goto(&format!("{}/studio", i.url)).await;
    b.click("#become-model").await;
    b.find("#studio-notice").await;
    browser_sealed_document(&b, &http, &i, &admin).await;
    b.goto(&format!("{}/studio", i.url)).await;
    assert!(b.text("#verification-status").await.starts_with("Approved"));
    assert_accessible(&b, "studio in Firefox").await;
    b.click("#go-live").await;
    assert_eq!(b.text("#studio-notice").await, "You are live.");
    sign_out(&b).await;

    b.goto(&format!("{}/signup", i.url)).await;
    b.fill("#username", "vic").await;
    b.fill("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.text("#signed-in-as").await, "vic");
    b.goto(&format!("{}/", i.url)).await;
    let card = "#rooms li[data-model='mia']";
    assert_accessible(&b, "home in Firefox").await;
    b.click(&format!("{card} h2 a")).await;
    wait_url(&b, "/@mia/live").await;
    assert_eq!(b.text("#room-state").await.to_lowercase(), "live");
    b.fill("#amount", "abc").await;
    b.click("#tip-form button").await;
    let err = b.text("#form-error").await;
    assert!(err.contains("decimal number of LIVE"), "{err}");
    assert_accessible(&b, "room in Firefox").await;
    b.screenshot(&screenshots().join("room-firefox.png")).await;
}

/// The room's chat over its socket: a guest reads along and sees a line arrive live; a viewer
/// who signs up gets the backlog, says something (shown as text, never markup), and is told
/// to slow down when he floods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_chat_in_a_room() {
    let http = http_client();
    let i = Instance::federating(Backend::Sqlite, &[]);
    let admin = i.create_admin("root");
    let (anna, room) = verified_model(&http, &i.url, &admin, "anna").await;
    let (s, _) = api(
        &http,
        http.post(format!("{}/api/rooms/{room}/start", i.url))
            .bearer_auth(&anna)
            .json(&json!({ "status": "live" })),
    )
    .await;
    assert_eq!(s, 200);
    let say = |text: &'static str| {
        let (http, url, anna) = (http.clone(), i.url.clone(), anna.clone());
        async move {
            let (s, v) = api(
                &http,
                http.post(format!("{url}/api/rooms/{room}/chat"))
                    .bearer_auth(&anna)
                    .json(&json!({ "text": text })),
            )
            .await;
            assert_eq!(s, 201, "{v}");
        }
    };
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/@anna/live", i.url)).await;
    reload_free_text(&b, "#chat-state", "Read-only").await;
    assert!(b.try_find("#chat-form").await.is_none(), "guests read only");
    // She counts him as a guest while he is here.
    let audience = reload_free_text(&b, "#audience", "1 guest").await;
    assert_eq!(audience, "0 watching · 1 guest");
    say("Welcome, everyone").await;
    let line = reload_free_text(&b, "#chat-lines", "Welcome").await;
    assert_eq!(line, "anna Welcome, everyone");

    livestars_e2e::sign_up(&http, &i.url, "vic").await;
    sign_in_page(&b, &i.url, "vic").await;
    b.goto(&format!("{}/@anna/live", i.url)).await;
    // The backlog arrives with the welcome; he is counted as a viewer now, not a guest, and
    // the directory ranks her room by it.
    reload_free_text(&b, "#chat-lines", "Welcome").await;
    assert_eq!(
        reload_free_text(&b, "#audience", "1 watching").await,
        "1 watching"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, r) = api(&http, http.get(format!("{}/api/rooms/{room}", i.url))).await;
        if r["viewer_count"] == 1 && r["guest_count"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counts never stored: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    b.find("#chat-form:not([hidden])").await;
    b.fill("#chat-text", "Hi <b>anna</b>").await;
    b.click("#chat-send").await;
    let shown = reload_free_text(&b, "#chat-lines li:last-child", "Hi").await;
    assert_eq!(shown, "vic Hi <b>anna</b>");
    assert!(b.try_find("#chat-lines b").await.is_none(), "shown as text");
    let (_, lines) = api(&http, http.get(format!("{}/api/rooms/{room}/chat", i.url))).await;
    assert_eq!(lines[1]["from"], "vic", "{lines}");
    assert_accessible(&b, "room with chat").await;
    // Flooding: the default limit is 5 lines in 10 s; the sixth is refused with a reason.
    for n in 0..5 {
        b.fill("#chat-text", &format!("line {n}")).await;
        b.click("#chat-send").await;
    }
    let state = reload_free_text(&b, "#chat-state", "slow down").await;
    assert!(state.contains("slow down"), "{state}");
    b.screenshot(&screenshots().join("room-chat.png")).await;
}
