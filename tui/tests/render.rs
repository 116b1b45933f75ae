//! Every screen rendered into a `TestBackend` from fixed data, asserting what an admin reads.

use chrono::{TimeZone, Utc};
use livestars_admin::app::{App, Input, Mode, Screen};
use livestars_admin::ui;
use livestars_api::{
    AccountCounts, AdminIdDocument, AdminUser, FederationPolicy, InstanceDelivery, InstanceStats,
    Report, ReportStatus, Role, RoomStatus, VerificationState,
};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 15, 4, 0).unwrap()
}

fn app() -> App {
    let mut a = App::offline("http://stars.test");
    a.stats = Some(InstanceStats {
        name: "Velvet Stars".into(),
        version: "0.1.0".into(),
        database: "postgres".into(),
        accounts: AccountCounts {
            viewers: 120,
            models: 14,
            admins: 2,
            suspended: 3,
        },
        live_rooms: 5,
        private_rooms: 1,
        pending_verifications: 2,
        open_reports: 4,
    });
    a.documents = vec![
        AdminIdDocument {
            id: 7,
            model: "alice".into(),
            status: VerificationState::Pending,
            mime: "image/png".into(),
            size_bytes: 204_800,
            sha256: "ab".repeat(32),
            uploaded_at: at(),
            needs_rewrap: false,
        },
        AdminIdDocument {
            id: 9,
            model: "bianca".into(),
            status: VerificationState::Pending,
            mime: "application/pdf".into(),
            size_bytes: 1_048_576,
            sha256: "cd".repeat(32),
            uploaded_at: at(),
            needs_rewrap: true,
        },
    ];
    a.users = vec![AdminUser {
        id: 3,
        username: "carla".into(),
        role: Role::Model,
        created_at: at(),
        suspended: true,
        room_id: Some(2),
        room_status: Some(RoomStatus::Live),
    }];
    a.reports = vec![Report {
        id: 11,
        room_id: 2,
        model: "carla".into(),
        reason: "spam links\nin chat".into(),
        created_at: at(),
        status: ReportStatus::Open,
        resolution: None,
    }];
    a
}

#[test]
fn dashboard_shows_the_figures() {
    let s = render(&app(), 80, 24);
    assert!(s.contains("Velvet Stars admin — http://stars.test"), "{s}");
    assert!(
        s.contains("120 viewers, 14 models, 2 admins (3 suspended)"),
        "{s}"
    );
    assert!(s.contains("5 live, 1 private"), "{s}");
    assert!(s.contains("Pending verifications    2"), "{s}");
    assert!(s.contains("Open reports             4"), "{s}");
    assert!(s.contains("postgres"));
    assert!(s.contains("q quit"), "help bar: {s}");
}

#[test]
fn verifications_list_the_queue() {
    let mut a = app();
    a.screen = Screen::Verifications;
    a.doc_sel = 1;
    let s = render(&a, 80, 24);
    assert!(s.contains("Pending ID documents (2)"), "{s}");
    assert!(
        s.contains("alice") && s.contains("image/png") && s.contains("200 KiB"),
        "{s}"
    );
    assert!(
        s.contains("bianca") && s.contains("1024 KiB") && s.contains("re-wrap"),
        "{s}"
    );
    assert!(s.contains("Press d to download and decrypt"), "{s}");
    assert!(
        s.contains("d decrypt & view") && s.contains("a approve"),
        "{s}"
    );
}

#[test]
fn an_empty_queue_says_so() {
    let mut a = app();
    a.screen = Screen::Verifications;
    a.documents.clear();
    let s = render(&a, 80, 24);
    assert!(
        s.contains("No document is waiting for verification."),
        "{s}"
    );
}

#[test]
fn users_show_state_and_room() {
    let mut a = app();
    a.screen = Screen::Users;
    a.search = "car".into();
    let s = render(&a, 80, 24);
    assert!(s.contains("Accounts matching \"car\" (1)"), "{s}");
    assert!(
        s.contains("carla") && s.contains("suspended") && s.contains("#2 live"),
        "{s}"
    );
    assert!(
        s.contains("s (un)suspend") && s.contains("m v A role"),
        "{s}"
    );
    assert!(s.contains("t tokens") && s.contains("T revoke"), "{s}");
}

#[test]
fn reports_show_the_reason_on_one_line() {
    let mut a = app();
    a.screen = Screen::Reports;
    let s = render(&a, 80, 24);
    assert!(s.contains("Open reports (1)"), "{s}");
    assert!(s.contains("spam links in chat"), "{s}");
    assert!(s.contains("D dismiss"), "{s}");
}

#[test]
fn prompts_and_help_overlay() {
    let mut a = app();
    a.screen = Screen::Verifications;
    a.mode = Mode::Typing {
        input: Input::DateOfBirth,
        buffer: "1990-0".into(),
    };
    let s = render(&a, 100, 30);
    assert!(s.contains("Date of birth on the document"), "{s}");
    assert!(s.contains("1990-0"), "{s}");
    a.mode = Mode::Help;
    let s = render(&a, 100, 30);
    assert!(s.contains("decrypted on this machine"), "{s}");
}

#[test]
fn too_small_a_terminal_is_explained() {
    let s = render(&app(), 60, 20);
    assert!(s.contains("needs at least 80×24"), "{s}");
    assert!(!s.contains("Dashboard"));
}

#[test]
fn a_decrypted_image_gets_room_in_the_document_box() {
    use livestars_admin::viewer::{InlineProtocol, Viewed};
    use ratatui::layout::Rect;
    let mut a = app();
    a.screen = Screen::Verifications;
    let full = Rect::new(0, 0, 100, 30);
    assert_eq!(ui::image_area(full, &a), None, "no image, no image area");
    a.viewed = Some(Viewed::in_terminal(
        7,
        "alice",
        "ab".repeat(32),
        InlineProtocol::Kitty,
        b"\x89PNG\r\n\x1a\nimage".to_vec(),
    ));
    let r = ui::image_area(full, &a).expect("image area");
    assert!(r.height >= 12 && r.width >= 90, "{r:?}");
    let s = render(&a, 100, 30);
    assert!(
        s.contains("document 7 of alice decrypted locally: PNG image"),
        "{s}"
    );
    assert!(s.contains("shown below"), "{s}");
    // A prompt covers the screen: the image is taken away meanwhile.
    a.mode = Mode::Typing {
        input: Input::DateOfBirth,
        buffer: String::new(),
    };
    assert_eq!(ui::image_area(full, &a), None);
}

#[test]
fn federation_shows_policy_and_delivery_state() {
    let mut a = app();
    a.screen = Screen::Federation;
    let s = render(&a, 100, 30);
    assert!(s.contains("loading…"), "{s}");
    a.policy = Some(FederationPolicy {
        mode: "allowlist".into(),
        blocked: vec!["spam.example".into()],
        allowed: vec!["friends.example".into(), "localhost:8002".into()],
    });
    a.instances = vec![
        InstanceDelivery {
            domain: "friends.example".into(),
            dead: false,
            failing_since: None,
            last_success_at: Some(at()),
            last_error: None,
            delivered: 1234,
            pending: 0,
            refused: 2,
        },
        InstanceDelivery {
            domain: "gone.example".into(),
            dead: true,
            failing_since: Some(at()),
            last_success_at: None,
            last_error: Some("connection refused".into()),
            delivered: 0,
            pending: 17,
            refused: 0,
        },
    ];
    a.instance_sel = 1;
    let s = render(&a, 120, 30);
    assert!(
        s.contains("Mode: allowlist  (only allowed instances)"),
        "{s}"
    );
    assert!(s.contains("Blocked: spam.example"), "{s}");
    assert!(
        s.contains("Allowed: friends.example, localhost:8002"),
        "{s}"
    );
    assert!(s.contains("Instances we deliver to (2)"), "{s}");
    let dead_line = s.lines().find(|l| l.contains("gone.example")).unwrap();
    assert!(dead_line.contains("dead") && dead_line.contains("17") && dead_line.contains("never"));
    assert!(dead_line.contains("connection refused"), "{dead_line}");
    let ok_line = s.lines().find(|l| l.contains("friends.example  ")).unwrap();
    assert!(
        ok_line.contains("ok") && ok_line.contains("1234") && ok_line.contains("2026-11-26 15:04")
    );
    assert!(s.contains("M open/allowlist"), "{s}");
}

#[test]
fn federation_is_screen_five_and_prompts_for_domains() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut a = app();
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    a.on_key(key('5'));
    assert_eq!(a.screen, Screen::Federation);
    a.on_key(key('b'));
    assert_eq!(
        a.mode,
        Mode::Typing {
            input: Input::Domain("block"),
            buffer: String::new()
        }
    );
    for c in "spam.example".chars() {
        a.on_key(key(c));
    }
    let s = render(&a, 100, 30);
    assert!(s.contains("Domain to block (host or host:port)"), "{s}");
    assert!(s.contains("spam.example"), "{s}");
}

#[test]
fn ledger_shows_balances_and_payouts() {
    use livestars_api::{AdminPayout, LedgerOverview};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('6'), KeyModifiers::NONE));
    assert_eq!(a.screen, Screen::Ledger);
    let s = render(&a, 120, 30);
    assert!(s.contains("loading…"), "{s}");
    let payout = |id: i64, status: &str, reason: Option<&str>| AdminPayout {
        id,
        username: "mira".into(),
        to: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".into(),
        amount: "2.99999999".into(),
        status: status.into(),
        tx_hash: Some(format!("0xabc{id}")),
        reason: reason.map(String::from),
        created_at: at(),
    };
    a.ledger = Some(LedgerOverview {
        instance_balance: "12.84".into(),
        users_total: "1003.5".into(),
        users_with_balance: 7,
        chain_balance: "-1016.34".into(),
        sum: "0".into(),
        tips: 42,
        tips_total: "87.2".into(),
        deposits_pending: 1,
        deposits_unattributed: 2,
        deposits_unattributed_amount: "3.5".into(),
        payouts: vec![
            ("queued".into(), 0),
            ("broadcast".into(), 1),
            ("confirmed".into(), 9),
            ("failed".into(), 1),
        ],
        recent_payouts: vec![
            payout(11, "broadcast", None),
            payout(10, "failed", Some("the transfer reverted on chain")),
        ],
        usd_rate: Some("0.05".into()),
        chain: Some(livestars_api::ChainHealth {
            status: "ok".into(),
            message: None,
            head: Some(120),
            scanned_to: Some(118),
            lag_blocks: Some(2),
            last_contact_at: Some(at()),
            failing_since: None,
        }),
        deposits_orphaned: 1,
    });
    a.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    assert_eq!(a.payout_sel, 1);
    let s = render(&a, 140, 30);
    assert!(s.contains("Instance 12.84 LIVE"), "{s}");
    assert!(s.contains("users 1003.5 LIVE (7 with a balance)"), "{s}");
    assert!(s.contains("sum 0"), "{s}");
    assert!(s.contains("Tips 42 (87.2 LIVE)   1 LIVE = 0.05 USD"), "{s}");
    assert!(s.contains("unattributed 2 (3.5 LIVE)"), "{s}");
    assert!(s.contains("broadcast 1  confirmed 9  failed 1"), "{s}");
    assert!(s.contains("orphaned by a reorg 1"), "{s}");
    assert!(
        s.contains("Chain: ok   head 120   scanned 118 (lag 2)"),
        "{s}"
    );
    let failed = s.lines().find(|l| l.contains("0xabc10")).unwrap();
    assert!(
        failed.contains("failed") && failed.contains("reverted on chain"),
        "{failed}"
    );
    assert!(
        failed.contains("2026-11-26 15:04") && failed.contains("mira"),
        "{failed}"
    );
    // A halted chain is loud, with the operator's message.
    if let Some(l) = a.ledger.as_mut() {
        l.chain = Some(livestars_api::ChainHealth {
            status: "halted".into(),
            message: Some("the chain node's genesis block is 0x1, not 0x2".into()),
            head: None,
            scanned_to: None,
            lag_blocks: None,
            last_contact_at: None,
            failing_since: None,
        });
    }
    let s = render(&a, 140, 30);
    assert!(
        s.contains("Chain: HALTED — the chain node's genesis block is 0x1, not 0x2"),
        "{s}"
    );
}
