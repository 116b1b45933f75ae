//! Drawing. Pure functions of the [`App`] state, so they are tested with `TestBackend`.
//! Colours: only the terminal's own foreground plus bold/reversed and one accent that reads on
//! light and dark backgrounds.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Tabs, Wrap};
use ratatui::Frame;

use crate::app::{App, Mode, Screen};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

fn accent() -> Style {
    Style::default()
        .fg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}

fn selected() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "The terminal is {}×{}; the console needs at least {MIN_WIDTH}×{MIN_HEIGHT}. Enlarge it, or press q to quit.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [head, body, status, help] = frame_areas(area);
    let titles: Vec<Line> = Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| Line::from(format!("{} {}", i + 1, s.title())))
        .collect();
    let idx = Screen::ALL
        .iter()
        .position(|s| *s == app.screen)
        .unwrap_or(0);
    let busy = if app.busy > 0 { " ⟳" } else { "" };
    f.render_widget(
        Tabs::new(titles)
            .select(idx)
            .highlight_style(accent())
            .block(Block::default().borders(Borders::ALL).title(format!(
                " {} admin — {}{busy} ",
                app.stats.as_ref().map_or("Live Stars", |s| s.name.as_str()),
                app.instance
            ))),
        head,
    );
    match app.screen {
        Screen::Dashboard => dashboard(f, app, body),
        Screen::Verifications => verifications(f, app, body),
        Screen::Users => users(f, app, body),
        Screen::Reports => reports(f, app, body),
        Screen::Federation => federation(f, app, body),
        Screen::Ledger => ledger(f, app, body),
    }
    f.render_widget(Paragraph::new(app.status.as_str()), status);
    let keys = match &app.mode {
        Mode::Typing { .. } => "type, Enter confirm, Esc cancel",
        _ => app.screen.keys(),
    };
    f.render_widget(Paragraph::new(Span::styled(keys, accent())), help);
    match &app.mode {
        Mode::Typing { input, buffer } => {
            let r = centered(area, 70, 5);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(format!("{buffer}▏"))
                    .block(Block::default().borders(Borders::ALL).title(input.prompt())),
                r,
            );
        }
        Mode::Help => {
            let r = centered(area, 92, 20);
            f.render_widget(Clear, r);
            let text = vec![
                Line::from(
                    "1 Dashboard 2 Verifications 3 Users 4 Reports 5 Federation 6 Ledger (Tab)",
                ),
                Line::from(""),
                Line::from(format!("Verifications: {}", Screen::Verifications.keys())),
                Line::from(format!("Users: {}", Screen::Users.keys())),
                Line::from(format!("Reports: {}", Screen::Reports.keys())),
                Line::from(format!("Federation: {}", Screen::Federation.keys())),
                Line::from(format!("Ledger: {}", Screen::Ledger.keys())),
                Line::from(""),
                Line::from("Documents are decrypted on this machine with your age identity;"),
                Line::from("the decision is bound to the hash of what you decrypted."),
                Line::from(""),
                Line::from("Any key closes this help. Ctrl-C quits at once."),
            ];
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(Block::default().borders(Borders::ALL).title(" Help ")),
                r,
            );
        }
        Mode::Normal => {}
    }
}

/// Header, body, status line, help bar.
fn frame_areas(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

fn showing_image(app: &App) -> bool {
    app.viewed.as_ref().is_some_and(|v| v.inline.is_some())
}

/// The verifications screen: the queue above, the document below (larger with an image).
fn verification_areas(body: Rect, image: bool) -> [Rect; 2] {
    let detail = if image {
        Constraint::Percentage(65)
    } else {
        Constraint::Length(5)
    };
    Layout::vertical([Constraint::Min(4), detail]).areas(body)
}

/// Where a decrypted image is drawn with a terminal graphics protocol: inside the document box,
/// below its first line of text. `None` when no image is on screen.
pub fn image_area(area: Rect, app: &App) -> Option<Rect> {
    if app.screen != Screen::Verifications
        || !showing_image(app)
        || area.width < MIN_WIDTH
        || area.height < MIN_HEIGHT
        || app.mode != crate::app::Mode::Normal
    {
        return None;
    }
    let [_, body, _, _] = frame_areas(area);
    let [_, detail] = verification_areas(body, true);
    (detail.height > 4).then(|| {
        Rect::new(
            detail.x + 1,
            detail.y + 2,
            detail.width - 2,
            detail.height - 3,
        )
    })
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn dashboard(f: &mut Frame, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" Instance ");
    let Some(s) = &app.stats else {
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let row = |k: &str, v: String| Row::new(vec![Cell::from(k.to_string()), Cell::from(v)]);
    let rows = vec![
        row("Name", s.name.clone()),
        row("Version", s.version.clone()),
        row("Database", s.database.clone()),
        row(
            "Accounts",
            format!(
                "{} viewers, {} models, {} admins ({} suspended)",
                s.accounts.viewers, s.accounts.models, s.accounts.admins, s.accounts.suspended
            ),
        ),
        row(
            "Rooms showing",
            format!("{} live, {} private", s.live_rooms, s.private_rooms),
        ),
        row("Pending verifications", s.pending_verifications.to_string()),
        row("Open reports", s.open_reports.to_string()),
    ];
    f.render_widget(
        Table::new(rows, [Constraint::Length(24), Constraint::Min(20)]).block(block),
        area,
    );
}

fn verifications(f: &mut Frame, app: &App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(area);
    let rows: Vec<Row> = app
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let r = Row::new(vec![
                d.id.to_string(),
                d.model.clone(),
                d.mime.clone(),
                format!("{} KiB", (d.size_bytes + 1023) / 1024),
                d.uploaded_at.format("%Y-%m-%d %H:%M").to_string(),
                if d.needs_rewrap {
                    "re-wrap".into()
                } else {
                    String::new()
                },
            ]);
            if i == app.doc_sel {
                r.style(selected())
            } else {
                r
            }
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(20),
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(17),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(vec!["id", "model", "type", "size", "uploaded", ""]).style(accent()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" Pending ID documents ({}) ", app.documents.len())),
    );
    f.render_widget(table, list);
    let text = match (&app.viewed, empty) {
        (_, true) => "No document is waiting for verification.".to_string(),
        (Some(v), _) => v.summary(),
        (None, _) => "Press d to download and decrypt the selected document locally.".to_string(),
    };
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Document ")),
        detail,
    );
}

fn users(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let room = match (u.room_id, u.room_status) {
                (Some(id), Some(s)) => format!("#{id} {}", s.as_str()),
                _ => "—".into(),
            };
            let r = Row::new(vec![
                u.id.to_string(),
                u.username.clone(),
                u.role.as_str().to_string(),
                if u.suspended {
                    "suspended".into()
                } else {
                    "active".into()
                },
                room,
                u.created_at.format("%Y-%m-%d").to_string(),
            ]);
            if i == app.user_sel {
                r.style(selected())
            } else {
                r
            }
        })
        .collect();
    let title = if app.search.is_empty() {
        format!(" Accounts ({}) ", app.users.len())
    } else {
        format!(" Accounts matching {:?} ({}) ", app.search, app.users.len())
    };
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Length(22),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(16),
                Constraint::Length(11),
            ],
        )
        .header(Row::new(vec!["id", "username", "role", "state", "room", "joined"]).style(accent()))
        .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn reports(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let row = Row::new(vec![
                r.id.to_string(),
                r.model.clone(),
                r.created_at.format("%Y-%m-%d %H:%M").to_string(),
                r.reason.replace('\n', " "),
            ]);
            if i == app.report_sel {
                row.style(selected())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Length(18),
                Constraint::Length(17),
                Constraint::Min(20),
            ],
        )
        .header(Row::new(vec!["id", "model", "filed", "reason"]).style(accent()))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Open reports ({}) ", app.reports.len())),
        ),
        area,
    );
}

/// The chain node's health in one line: quiet when fine, loud when settlement waits or stops.
fn chain_line(h: Option<&livestars_api::ChainHealth>) -> Line<'static> {
    let Some(h) = h else {
        return Line::from("Chain: unknown");
    };
    let at = |b: Option<u64>| b.map_or("?".to_string(), |n| n.to_string());
    match h.status.as_str() {
        "ok" => Line::from(format!(
            "Chain: ok   head {}   scanned {} (lag {})",
            at(h.head),
            at(h.scanned_to),
            at(h.lag_blocks)
        )),
        "off" => Line::from("Chain: no node configured"),
        status => Line::from(vec![
            Span::styled(
                format!("Chain: {}", status.to_uppercase()),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(" — {}", h.message.clone().unwrap_or_default())),
        ]),
    }
}

fn ledger(f: &mut Frame, app: &App, area: Rect) {
    let [top, bottom] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let summary = match &app.ledger {
        Some(l) => {
            let usd = l
                .usd_rate
                .as_ref()
                .map_or("no USD rate".to_string(), |r| format!("1 LIVE = {r} USD"));
            let states = l
                .payouts
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect::<Vec<_>>()
                .join("  ");
            vec![
                Line::from(vec![
                    Span::raw("Instance "),
                    Span::styled(format!("{} LIVE", l.instance_balance), accent()),
                    Span::raw(format!(
                        "   users {} LIVE ({} with a balance)   chain {}   sum {}",
                        l.users_total, l.users_with_balance, l.chain_balance, l.sum
                    )),
                ]),
                Line::from(format!("Tips {} ({} LIVE)   {usd}", l.tips, l.tips_total)),
                Line::from(format!(
                    "Deposits pending {}   unattributed {} ({} LIVE)   orphaned by a reorg {}",
                    l.deposits_pending,
                    l.deposits_unattributed,
                    l.deposits_unattributed_amount,
                    l.deposits_orphaned
                )),
                Line::from(format!("Payouts: {states}")),
                chain_line(l.chain.as_ref()),
            ]
        }
        None => vec![Line::from("loading…")],
    };
    f.render_widget(
        Paragraph::new(summary)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Ledger ")),
        top,
    );
    let payouts = app
        .ledger
        .as_ref()
        .map_or(&[][..], |l| &l.recent_payouts[..]);
    let rows: Vec<Row> = payouts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let row = Row::new(vec![
                p.id.to_string(),
                p.username.clone(),
                p.amount.clone(),
                p.status.clone(),
                p.created_at.format("%Y-%m-%d %H:%M").to_string(),
                p.tx_hash.clone().unwrap_or_default(),
                p.reason.clone().unwrap_or_default().replace('\n', " "),
            ]);
            if i == app.payout_sel {
                row.style(selected())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Length(16),
                Constraint::Length(14),
                Constraint::Length(10),
                Constraint::Length(17),
                Constraint::Length(20),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(vec![
                "id",
                "user",
                "LIVE",
                "state",
                "requested",
                "tx",
                "reason",
            ])
            .style(accent()),
        )
        .block(Block::default().borders(Borders::ALL).title(" Payouts ")),
        bottom,
    );
}

fn federation(f: &mut Frame, app: &App, area: Rect) {
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let policy = match &app.policy {
        Some(p) => {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            vec![
                Line::from(vec![
                    Span::raw("Mode: "),
                    Span::styled(p.mode.clone(), accent()),
                    Span::raw(if p.mode == "open" {
                        "  (every instance not blocked)"
                    } else {
                        "  (only allowed instances)"
                    }),
                ]),
                Line::from(format!("Blocked: {}", list(&p.blocked))),
                Line::from(format!("Allowed: {}", list(&p.allowed))),
            ]
        }
        None => vec![Line::from("loading…")],
    };
    f.render_widget(
        Paragraph::new(policy).block(Block::default().borders(Borders::ALL).title(" Policy ")),
        top,
    );
    let rows: Vec<Row> = app
        .instances
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let state = if d.dead {
                "dead"
            } else if d.failing_since.is_some() {
                "failing"
            } else {
                "ok"
            };
            let row = Row::new(vec![
                d.domain.clone(),
                state.to_string(),
                d.delivered.to_string(),
                d.pending.to_string(),
                d.last_success_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "never".into()),
                d.last_error.clone().unwrap_or_default().replace('\n', " "),
            ]);
            if i == app.instance_sel {
                row.style(selected())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(24),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(17),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(vec![
                "instance",
                "state",
                "delivered",
                "pending",
                "last success",
                "last error",
            ])
            .style(accent()),
        )
        .block(Block::default().borders(Borders::ALL).title(format!(
            " Instances we deliver to ({}) ",
            app.instances.len()
        ))),
        bottom,
    );
}
