//! Console state and behaviour: keys become actions per screen and mode; network calls run as
//! tasks whose results come back as [`Msg`]s, so the draw loop never waits on the network.

use crate::crypto::Identity;
use chrono::NaiveDate;
use livestars_api::{
    AdminIdDocument, AdminUser, Decision, DecisionKind, FederationPolicy, InstanceDelivery,
    InstanceStats, LedgerOverview, Report, ReportAction, Rewrap, Role, RoomStatus,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc::UnboundedSender;

use crate::api::Api;
use crate::crypto;
use crate::viewer::Viewed;

/// The reason the one-key reject (X) gives a model whose document is not an image or a PDF.
pub const WRONG_TYPE: &str =
    "The uploaded file is not a JPEG, PNG or PDF of an ID document. Upload a photo or scan of it.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Verifications,
    Users,
    Reports,
    Federation,
    Ledger,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Dashboard,
        Screen::Verifications,
        Screen::Users,
        Screen::Reports,
        Screen::Federation,
        Screen::Ledger,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Verifications => "Verifications",
            Screen::Users => "Users & rooms",
            Screen::Reports => "Reports",
            Screen::Federation => "Federation",
            Screen::Ledger => "Ledger & payouts",
        }
    }

    /// The keys shown in the help bar.
    pub fn keys(self) -> &'static str {
        match self {
            Screen::Dashboard => "1-6 screens  r refresh  ? help  q quit",
            Screen::Verifications => {
                "↑↓  d decrypt & view  a approve  x reject  X reject wrong type  w re-wrap all  r refresh  q back"
            }
            Screen::Users => {
                "↑↓ / search  s (un)suspend  m v A role  e end show  t tokens  T revoke  q back"
            }
            Screen::Reports => {
                "↑↓ select  D dismiss  e end show  s suspend model  r refresh  q back"
            }
            Screen::Federation => {
                "↑↓ select  M open/allowlist  b block  a allow  u clear a domain  B block selected  q back"
            }
            Screen::Ledger => "↑↓ select a payout  r refresh  q back",
        }
    }
}

/// What a line of typed input is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    DateOfBirth,
    Expiry {
        dob: NaiveDate,
    },
    RejectReason,
    Search,
    /// A domain to set a policy on: `block`, `allow` or `none`.
    Domain(&'static str),
}

impl Input {
    pub fn prompt(&self) -> &'static str {
        match self {
            Input::DateOfBirth => {
                "Date of birth on the document (YYYY-MM-DD), Enter to confirm, Esc to cancel"
            }
            Input::Expiry { .. } => "Document expiry date (YYYY-MM-DD), empty if none",
            Input::RejectReason => "Reason shown to the model",
            Input::Search => "Search usernames",
            Input::Domain("block") => "Domain to block (host or host:port)",
            Input::Domain("allow") => "Domain to allow (host or host:port)",
            Input::Domain(_) => "Domain to clear from the block and allow lists",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Typing { input: Input, buffer: String },
    Help,
}

/// Results of background work.
pub enum Msg {
    Stats(Result<InstanceStats, String>),
    Documents(Result<Vec<AdminIdDocument>, String>),
    Users(Result<Vec<AdminUser>, String>),
    Reports(Result<Vec<Report>, String>),
    Federation(Result<(FederationPolicy, Vec<InstanceDelivery>), String>),
    Ledger(Result<Box<LedgerOverview>, String>),
    Decrypted(Result<Viewed, String>),
    /// An action finished: a line for the status bar, and whether to reload lists.
    Done(Result<String, String>),
}

pub struct App {
    pub screen: Screen,
    pub mode: Mode,
    pub instance: String,
    pub stats: Option<InstanceStats>,
    pub documents: Vec<AdminIdDocument>,
    pub doc_sel: usize,
    pub users: Vec<AdminUser>,
    pub user_sel: usize,
    pub search: String,
    pub reports: Vec<Report>,
    pub report_sel: usize,
    pub policy: Option<FederationPolicy>,
    pub instances: Vec<InstanceDelivery>,
    pub instance_sel: usize,
    pub ledger: Option<LedgerOverview>,
    pub payout_sel: usize,
    /// The document decrypted for review, with the hash of the ciphertext it came from.
    pub viewed: Option<Viewed>,
    pub status: String,
    pub busy: usize,
    pub quit: bool,
    identity: Option<Identity>,
    api: Option<Api>,
    tx: Option<UnboundedSender<Msg>>,
}

fn select(sel: &mut usize, len: usize, down: bool) {
    if len == 0 {
        *sel = 0;
    } else if down {
        *sel = (*sel + 1).min(len - 1);
    } else {
        *sel = sel.saturating_sub(1);
    }
}

impl App {
    /// A console over `api`, sending results of background work to `tx`.
    pub fn new(api: Api, identity: Option<Identity>, tx: UnboundedSender<Msg>) -> App {
        let mut app = App::offline(api.base());
        app.api = Some(api);
        app.identity = identity;
        app.tx = Some(tx);
        app
    }

    /// A console with no instance behind it (rendering tests fill in the data).
    pub fn offline(instance: &str) -> App {
        App {
            screen: Screen::Dashboard,
            mode: Mode::Normal,
            instance: instance.to_string(),
            stats: None,
            documents: vec![],
            doc_sel: 0,
            users: vec![],
            user_sel: 0,
            search: String::new(),
            reports: vec![],
            report_sel: 0,
            policy: None,
            instances: vec![],
            instance_sel: 0,
            ledger: None,
            payout_sel: 0,
            viewed: None,
            status: String::new(),
            busy: 0,
            quit: false,
            identity: None,
            api: None,
            tx: None,
        }
    }

    fn spawn<F>(&mut self, f: F)
    where
        F: std::future::Future<Output = Msg> + Send + 'static,
    {
        if let Some(tx) = self.tx.clone() {
            self.busy += 1;
            tokio::spawn(async move {
                let _ = tx.send(f.await);
            });
        }
    }

    /// Reload what the current screen shows (and the dashboard figures).
    pub fn refresh(&mut self) {
        let Some(api) = self.api.clone() else { return };
        let a = api.clone();
        self.spawn(async move { Msg::Stats(a.stats().await.map_err(|e| e.to_string())) });
        match self.screen {
            Screen::Dashboard => {}
            Screen::Verifications => {
                self.spawn(async move {
                    Msg::Documents(api.pending().await.map_err(|e| e.to_string()))
                });
            }
            Screen::Users => {
                let q = self.search.clone();
                self.spawn(
                    async move { Msg::Users(api.users(&q).await.map_err(|e| e.to_string())) },
                );
            }
            Screen::Reports => {
                self.spawn(
                    async move { Msg::Reports(api.reports().await.map_err(|e| e.to_string())) },
                );
            }
            Screen::Federation => {
                self.spawn(async move {
                    let r =
                        async { Ok((api.federation().await?, api.federation_instances().await?)) }
                            .await;
                    Msg::Federation(r.map_err(|e: crate::api::ApiError| e.to_string()))
                });
            }
            Screen::Ledger => {
                self.spawn(async move {
                    Msg::Ledger(api.ledger().await.map(Box::new).map_err(|e| e.to_string()))
                });
            }
        }
    }

    pub fn on_msg(&mut self, msg: Msg) {
        self.busy = self.busy.saturating_sub(1);
        match msg {
            Msg::Stats(Ok(s)) => self.stats = Some(s),
            Msg::Documents(Ok(d)) => {
                self.documents = d;
                self.doc_sel = self.doc_sel.min(self.documents.len().saturating_sub(1));
            }
            Msg::Users(Ok(u)) => {
                self.users = u;
                self.user_sel = self.user_sel.min(self.users.len().saturating_sub(1));
            }
            Msg::Reports(Ok(r)) => {
                self.reports = r;
                self.report_sel = self.report_sel.min(self.reports.len().saturating_sub(1));
            }
            Msg::Federation(Ok((p, i))) => {
                self.policy = Some(p);
                self.instances = i;
                self.instance_sel = self
                    .instance_sel
                    .min(self.instances.len().saturating_sub(1));
            }
            Msg::Ledger(Ok(l)) => {
                self.payout_sel = self
                    .payout_sel
                    .min(l.recent_payouts.len().saturating_sub(1));
                self.ledger = Some(*l);
            }
            Msg::Decrypted(Ok(v)) => {
                self.status = v.summary();
                self.viewed = Some(v);
            }
            Msg::Done(Ok(line)) => {
                self.status = line;
                self.refresh();
            }
            Msg::Stats(Err(e))
            | Msg::Documents(Err(e))
            | Msg::Users(Err(e))
            | Msg::Reports(Err(e))
            | Msg::Federation(Err(e))
            | Msg::Ledger(Err(e))
            | Msg::Decrypted(Err(e))
            | Msg::Done(Err(e)) => self.status = format!("error: {e}"),
        }
    }

    fn go(&mut self, screen: Screen) {
        if self.screen != screen {
            self.screen = screen;
            self.refresh();
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match self.mode.clone() {
            Mode::Help => self.mode = Mode::Normal,
            Mode::Typing { input, mut buffer } => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    self.status = "cancelled".into();
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    self.submit(input, buffer.trim().to_string());
                }
                KeyCode::Backspace => {
                    buffer.pop();
                    self.mode = Mode::Typing { input, buffer };
                }
                KeyCode::Char(c) if buffer.chars().count() < 500 => {
                    buffer.push(c);
                    self.mode = Mode::Typing { input, buffer };
                }
                _ => {}
            },
            Mode::Normal => self.normal_key(key.code),
        }
    }

    fn typing(&mut self, input: Input) {
        self.mode = Mode::Typing {
            input,
            buffer: String::new(),
        };
    }

    fn normal_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => {
                if self.screen == Screen::Dashboard {
                    self.quit = true;
                } else {
                    self.viewed = None;
                    self.go(Screen::Dashboard);
                }
            }
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('r') => self.refresh(),
            KeyCode::Char(c @ '1'..='6') => {
                self.go(Screen::ALL[c as usize - '1' as usize]);
            }
            KeyCode::Tab => {
                let i = Screen::ALL
                    .iter()
                    .position(|s| *s == self.screen)
                    .unwrap_or(0);
                self.go(Screen::ALL[(i + 1) % Screen::ALL.len()]);
            }
            KeyCode::Up | KeyCode::Down | KeyCode::Char('k') | KeyCode::Char('j') => {
                let down = matches!(code, KeyCode::Down | KeyCode::Char('j'));
                match self.screen {
                    Screen::Verifications => {
                        select(&mut self.doc_sel, self.documents.len(), down);
                        self.viewed = None;
                    }
                    Screen::Users => select(&mut self.user_sel, self.users.len(), down),
                    Screen::Reports => select(&mut self.report_sel, self.reports.len(), down),
                    Screen::Federation => {
                        select(&mut self.instance_sel, self.instances.len(), down)
                    }
                    Screen::Ledger => {
                        let n = self.ledger.as_ref().map_or(0, |l| l.recent_payouts.len());
                        select(&mut self.payout_sel, n, down)
                    }
                    Screen::Dashboard => {}
                }
            }
            KeyCode::Char(c) => self.screen_key(c),
            _ => {}
        }
    }

    fn screen_key(&mut self, c: char) {
        match (self.screen, c) {
            (Screen::Verifications, 'd') => self.decrypt_selected(),
            (Screen::Verifications, 'a') => {
                if self.viewed.as_ref().is_some_and(|v| !v.is_accepted_type()) {
                    self.status = "this document is not a JPEG, PNG or PDF: reject it (X)".into();
                } else if self.viewed_matches_selection() {
                    self.typing(Input::DateOfBirth);
                } else {
                    self.status = "decrypt and view the document first (d)".into();
                }
            }
            (Screen::Verifications, 'x') => {
                if self.viewed_matches_selection() {
                    self.typing(Input::RejectReason);
                } else {
                    self.status = "decrypt and view the document first (d)".into();
                }
            }
            (Screen::Verifications, 'X') => {
                if self.viewed_matches_selection()
                    && self.viewed.as_ref().is_some_and(|v| !v.is_accepted_type())
                {
                    self.decide(Decision {
                        decision: DecisionKind::Reject,
                        sha256: String::new(),
                        date_of_birth: None,
                        valid_until: None,
                        reason: Some(WRONG_TYPE.into()),
                        key_proof: None,
                    });
                } else {
                    self.status = "X rejects a decrypted document that is not a JPEG, PNG or PDF; \
                                   x rejects with a reason"
                        .into();
                }
            }
            (Screen::Verifications, 'w') => self.rewrap_all(),
            (Screen::Users, '/') => self.typing(Input::Search),
            (Screen::Users, 's') => self.user_action(UserAction::ToggleSuspend),
            (Screen::Users, 'm') => self.user_action(UserAction::Role(Role::Model)),
            (Screen::Users, 'v') => self.user_action(UserAction::Role(Role::Viewer)),
            (Screen::Users, 'A') => self.user_action(UserAction::Role(Role::Admin)),
            (Screen::Users, 'e') => self.user_action(UserAction::EndShow),
            (Screen::Users, 't') => self.user_action(UserAction::ListTokens),
            (Screen::Users, 'T') => self.user_action(UserAction::RevokeTokens),
            (Screen::Reports, 'D') => self.resolve(ReportAction::Dismiss),
            (Screen::Reports, 'e') => self.resolve(ReportAction::EndShow),
            (Screen::Reports, 's') => self.resolve(ReportAction::SuspendModel),
            (Screen::Federation, 'M') => self.toggle_mode(),
            (Screen::Federation, 'b') => self.typing(Input::Domain("block")),
            (Screen::Federation, 'a') => self.typing(Input::Domain("allow")),
            (Screen::Federation, 'u') => self.typing(Input::Domain("none")),
            (Screen::Federation, 'B') => match self.instances.get(self.instance_sel) {
                Some(i) => {
                    let d = i.domain.clone();
                    self.domain_policy(d, "block");
                }
                None => self.status = "no instance selected".into(),
            },
            _ => {}
        }
    }

    fn viewed_matches_selection(&self) -> bool {
        match (&self.viewed, self.documents.get(self.doc_sel)) {
            (Some(v), Some(d)) => v.document_id == d.id,
            _ => false,
        }
    }

    fn decrypt_selected(&mut self) {
        let Some(doc) = self.documents.get(self.doc_sel).cloned() else {
            self.status = "no document selected".into();
            return;
        };
        let Some(identity) = self.identity.clone() else {
            self.status = "start the console with --identity FILE to decrypt documents".into();
            return;
        };
        let Some(api) = self.api.clone() else { return };
        self.viewed = None;
        self.status = format!("downloading and decrypting document {}…", doc.id);
        self.spawn(async move {
            let r = async {
                let key = api.key(doc.id).await.map_err(|e| e.to_string())?;
                let (ct, sha) = api.ciphertext(doc.id).await.map_err(|e| e.to_string())?;
                if !sha.eq_ignore_ascii_case(&doc.sha256) {
                    return Err("the document changed since the list was loaded; refresh".into());
                }
                let (plain, sha, proof) = tokio::task::spawn_blocking(move || {
                    let plain = crypto::decrypt_document(&identity, &key.wrapped_key, &ct, &sha)?;
                    let proof = crypto::key_proof(&identity, &key.wrapped_key)?;
                    Ok::<_, crypto::CryptoError>((plain, sha, proof))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                let mut viewed =
                    Viewed::open(doc.id, &doc.model, sha, plain).map_err(|e| e.to_string())?;
                viewed.key_proof = proof;
                Ok(viewed)
            }
            .await;
            Msg::Decrypted(r)
        });
    }

    fn submit(&mut self, input: Input, text: String) {
        match input {
            Input::Search => {
                self.search = text;
                self.refresh();
            }
            Input::Domain(policy) => {
                if text.is_empty() {
                    self.status = "no domain given".into();
                } else {
                    self.domain_policy(text, policy);
                }
            }
            Input::DateOfBirth => match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(dob) => self.typing(Input::Expiry { dob }),
                Err(_) => self.status = format!("{text:?} is not a date like 1990-04-23"),
            },
            Input::Expiry { dob } => {
                let expiry = if text.is_empty() {
                    None
                } else {
                    match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                        Ok(d) => Some(d),
                        Err(_) => {
                            self.status = format!("{text:?} is not a date like 2031-12-31");
                            return;
                        }
                    }
                };
                self.decide(Decision {
                    decision: DecisionKind::Approve,
                    sha256: String::new(),
                    date_of_birth: Some(dob),
                    valid_until: expiry,
                    reason: None,
                    key_proof: None,
                });
            }
            Input::RejectReason => self.decide(Decision {
                decision: DecisionKind::Reject,
                sha256: String::new(),
                date_of_birth: None,
                valid_until: None,
                reason: Some(text),
                key_proof: None,
            }),
        }
    }

    /// Send a decision bound to the hash of the ciphertext that was decrypted and viewed.
    fn decide(&mut self, mut d: Decision) {
        let Some(viewed) = self.viewed.take() else {
            self.status = "decrypt and view the document first (d)".into();
            return;
        };
        let Some(api) = self.api.clone() else { return };
        d.sha256 = viewed.sha256.clone();
        d.key_proof = Some(viewed.key_proof.clone());
        let id = viewed.document_id;
        let model = viewed.model.clone();
        // Leaving the document: its private temporary copy is removed now.
        drop(viewed);
        self.spawn(async move {
            let verb = match d.decision {
                DecisionKind::Approve => "approved",
                DecisionKind::Reject => "rejected",
            };
            Msg::Done(
                api.decide(id, &d)
                    .await
                    .map(|_| format!("{model}'s document {verb}"))
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn rewrap_all(&mut self) {
        let Some(identity) = self.identity.clone() else {
            self.status = "start the console with --identity FILE to re-wrap keys".into();
            return;
        };
        let Some(api) = self.api.clone() else { return };
        self.spawn(async move {
            let r = async {
                let mut done = 0;
                let mut skipped = 0;
                for status in ["pending", "approved", "rejected"] {
                    let docs = api.documents(status).await.map_err(|e| e.to_string())?;
                    for doc in docs.into_iter().filter(|d| d.needs_rewrap) {
                        let key = api.key(doc.id).await.map_err(|e| e.to_string())?;
                        let rewrapped =
                            crypto::rewrap(&identity, &key.wrapped_key, &key.current_recipients)
                                .and_then(|w| {
                                    Ok((w, crypto::key_proof(&identity, &key.wrapped_key)?))
                                });
                        match rewrapped {
                            Ok((wrapped, proof)) => {
                                api.put_key(
                                    doc.id,
                                    &Rewrap {
                                        wrapped_key: wrapped,
                                        previous_key_sha256: key.key_sha256,
                                        recipients: key.current_recipients,
                                        key_proof: Some(proof),
                                    },
                                )
                                .await
                                .map_err(|e| e.to_string())?;
                                done += 1;
                            }
                            // Wrapped to others only: another verifier must re-wrap it.
                            Err(_) => skipped += 1,
                        }
                    }
                }
                Ok(format!(
                    "re-wrapped {done} document key(s); {skipped} not readable with your identity"
                ))
            }
            .await;
            Msg::Done(r)
        });
    }

    fn user_action(&mut self, action: UserAction) {
        let Some(user) = self.users.get(self.user_sel).cloned() else {
            self.status = "no account selected".into();
            return;
        };
        let Some(api) = self.api.clone() else { return };
        self.spawn(async move {
            let r = match action {
                UserAction::ToggleSuspend => api.suspend(user.id, !user.suspended).await.map(|u| {
                    let verb = if u.suspended {
                        "suspended"
                    } else {
                        "reinstated"
                    };
                    format!("{} {verb}", u.username)
                }),
                UserAction::Role(role) => api
                    .set_role(user.id, role)
                    .await
                    .map(|u| format!("{} is now {}", u.username, u.role.as_str())),
                UserAction::ListTokens => api.tokens().await.map(|all| {
                    let mine: Vec<String> = all
                        .iter()
                        .filter(|t| t.user_id == user.id)
                        .map(|t| {
                            format!(
                                "{} ({})",
                                t.id.get(..12).unwrap_or(&t.id),
                                t.created_at.format("%Y-%m-%d %H:%M")
                            )
                        })
                        .collect();
                    if mine.is_empty() {
                        format!("{} has no admin API tokens", user.username)
                    } else {
                        format!(
                            "{}'s admin API tokens: {} (T revokes them)",
                            user.username,
                            mine.join(", ")
                        )
                    }
                }),
                UserAction::RevokeTokens => match api.tokens().await {
                    Ok(all) => {
                        let mut revoked = 0;
                        let mut failed = None;
                        for t in all.iter().filter(|t| t.user_id == user.id) {
                            match api.revoke_token(&t.id).await {
                                Ok(()) => revoked += 1,
                                Err(e) => failed = Some(e),
                            }
                        }
                        match failed {
                            Some(e) => Err(e),
                            None => Ok(format!(
                                "revoked {revoked} admin API token(s) of {}",
                                user.username
                            )),
                        }
                    }
                    Err(e) => Err(e),
                },
                UserAction::EndShow => match user.room_id {
                    Some(room) if user.room_status != Some(RoomStatus::Offline) => api
                        .end_show(room)
                        .await
                        .map(|_| format!("{}'s show ended", user.username)),
                    _ => Ok(format!("{} is not showing", user.username)),
                },
            };
            Msg::Done(r.map_err(|e| e.to_string()))
        });
    }

    fn toggle_mode(&mut self) {
        let Some(policy) = &self.policy else {
            self.status = "the federation policy is not loaded yet (r)".into();
            return;
        };
        let next = if policy.mode == "open" {
            "allowlist"
        } else {
            "open"
        };
        let Some(api) = self.api.clone() else { return };
        self.spawn(async move {
            Msg::Done(
                api.set_federation_mode(next)
                    .await
                    .map(|p| format!("federation mode is now {}", p.mode))
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn domain_policy(&mut self, domain: String, policy: &'static str) {
        let Some(api) = self.api.clone() else { return };
        self.spawn(async move {
            let verb = match policy {
                "block" => "blocked",
                "allow" => "allowed",
                _ => "cleared",
            };
            Msg::Done(
                api.set_domain_policy(&domain, policy)
                    .await
                    .map(|_| format!("{domain} {verb}"))
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn resolve(&mut self, action: ReportAction) {
        let Some(report) = self.reports.get(self.report_sel).cloned() else {
            self.status = "no report selected".into();
            return;
        };
        let Some(api) = self.api.clone() else { return };
        self.spawn(async move {
            Msg::Done(
                api.resolve(report.id, action)
                    .await
                    .map(|r| {
                        format!(
                            "report {} resolved: {}",
                            r.id,
                            r.resolution.unwrap_or_default()
                        )
                    })
                    .map_err(|e| e.to_string()),
            )
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum UserAction {
    ToggleSuspend,
    Role(Role),
    EndShow,
    /// Show the account's admin API tokens (id prefix and age).
    ListTokens,
    /// Revoke every admin API token of the account.
    RevokeTokens,
}
