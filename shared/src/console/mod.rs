//! The finance team's console at `/console`: the overview, failures with their fixes and
//! replay, a record's trace, a preview, reconciliation with its backfill, and settings. Served
//! by `mlc serve` beside the webhooks and by `mlc console --aws` for a deployed stack: the
//! pages read the ports, so both show the same.

// A request turned away is answered at once: the answer is the error, as axum's extractors do it.
#![allow(clippy::result_large_err)]

pub mod access;
mod fixes;
mod pages;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

pub use access::{Access, TokenFile};
pub use fixes::suggested_fix;
use pages::Frame;

use crate::alerts::reason_key;
use crate::error::{Error, ErrorClass};
use crate::ports::*;
use crate::poster::Poster;
use crate::reconcile::Reconciler;
use crate::records::EntityKind;
use crate::stores::Stores;

/// What the console reads and acts with.
pub struct Console {
    pub connections: Arc<dyn ConnectionStore>,
    pub failed: Arc<dyn FailedRecords>,
    pub audit: Arc<dyn AuditLog>,
    pub state: Arc<dyn SyncState>,
    pub secrets: Arc<dyn SecretStore>,
    /// Where replays are sent.
    pub queue: Arc<dyn RecordQueue>,
    /// The poster's queue and its dead letters, for their depth.
    pub queue_depth: Arc<dyn QueueConsumer>,
    pub dead_letters: Arc<dyn QueueConsumer>,
    pub stores: Arc<Stores>,
    /// Previews plan with it (reads only).
    pub poster: Arc<Poster>,
    pub reconciler: Arc<Reconciler>,
    /// Settings can be changed here (one machine); a deployed stack's are read-only.
    pub editable: bool,
}

struct App {
    console: Arc<Console>,
    access: Arc<Access>,
}

/// The console's routes, under `/console`.
pub fn router(console: Arc<Console>, access: Arc<Access>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console", get(overview))
        .route("/console/failures", get(failures))
        .route("/console/replay", post(replay))
        .route("/console/trace", get(trace))
        .route("/console/preview", get(preview))
        .route("/console/reconciliation", get(reconciliation))
        .route("/console/reconcile", post(reconcile))
        .route("/console/settings", get(settings).post(save_settings))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(Arc::new(App { console, access }))
}

fn params(text: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A request let in, with the cookie to set when its session is new.
struct Visitor {
    session: access::Session,
    set_cookie: Option<String>,
}

impl App {
    /// Lets a request in: by its session, or on loopback with a new one; otherwise 401 and the
    /// sign-in form.
    fn admit(&self, headers: &HeaderMap) -> Result<Visitor, Response> {
        let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
        if let Some(session) = self.access.session(cookie) {
            return Ok(Visitor { session, set_cookie: None });
        }
        if self.access.login_required {
            return Err(html(StatusCode::UNAUTHORIZED, pages::login(None)));
        }
        let (id, session) = self.access.open("loopback");
        Ok(Visitor { session, set_cookie: Some(self.access.cookie(&id)) })
    }

    /// A form let in: its fields, sent by its session with the session's CSRF token.
    fn admit_form(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Vec<(String, String)>, access::Session), Response> {
        let form = params(std::str::from_utf8(body).ok());
        let session = self.session_of_form(headers, &form)?;
        Ok((form, session))
    }

    fn session_of_form(&self, headers: &HeaderMap, form: &[(String, String)]) -> Result<access::Session, Response> {
        let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
        let Some(session) = self.access.session(cookie) else {
            return Err(if self.access.login_required {
                html(StatusCode::UNAUTHORIZED, pages::login(None))
            } else {
                refused("this form's session has ended: open the page again and resend it")
            });
        };
        if !Access::csrf_ok(&session, param(form, "csrf")) {
            return Err(refused("the form's CSRF token is missing or wrong: open the page again and resend it"));
        }
        Ok(session)
    }

    async fn frame_data(&self, wanted: Option<&str>) -> Result<(Vec<Connection>, Option<Connection>), Response> {
        let all = self.console.connections.connections().await.map_err(error_page)?;
        let chosen = match wanted {
            Some(id) => Some(
                all.iter()
                    .find(|c| c.id.as_str() == id)
                    .cloned()
                    .ok_or_else(|| error_page(Error::bad_input(format!("there is no connection {id:?}"))))?,
            ),
            None => all.first().cloned(),
        };
        Ok((all, chosen))
    }
}

fn refused(why: &str) -> Response {
    (StatusCode::FORBIDDEN, why.to_string()).into_response()
}

fn error_page(e: Error) -> Response {
    let status = match e.class() {
        ErrorClass::BadInput => StatusCode::BAD_REQUEST,
        ErrorClass::Retryable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.to_string()).into_response()
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A page request let in, with the connection in view.
struct Page {
    visitor: Visitor,
    connections: Vec<Connection>,
    connection: Connection,
    query: Vec<(String, String)>,
}

impl Page {
    async fn open(app: &App, headers: &HeaderMap, uri: &Uri, name: &'static str) -> Result<Page, Response> {
        let visitor = app.admit(headers)?;
        let query = params(uri.query());
        let (connections, chosen) = app.frame_data(param(&query, "connection")).await?;
        let Some(connection) = chosen else {
            let frame = Frame {
                who: &visitor.session.who,
                csrf: &visitor.session.csrf,
                connections: &[],
                connection: None,
                page: name,
            };
            let body =
                pages::message_page(&frame, "No connection", "Add a connection with `mlc connection add`.", false);
            return Err(with_cookie(html(StatusCode::OK, body), visitor.set_cookie.clone()));
        };
        Ok(Page { visitor, connections, connection, query })
    }

    fn frame(&self, name: &'static str) -> Frame<'_> {
        Frame {
            who: &self.visitor.session.who,
            csrf: &self.visitor.session.csrf,
            connections: &self.connections,
            connection: Some(&self.connection),
            page: name,
        }
    }

    fn respond(&self, body: String) -> Response {
        with_cookie(html(StatusCode::OK, body), self.visitor.set_cookie.clone())
    }

    fn param(&self, name: &str) -> String {
        param(&self.query, name).unwrap_or_default().trim().to_string()
    }
}

/// `Ok` of a result, or its answer (a refusal, the sign-in form) at once.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(answer) => return answer,
        }
    };
}

/// `Ok` of a result, or the error's page.
macro_rules! or_page {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return error_page(e),
        }
    };
}

async fn overview(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let visitor = or_answer!(app.admit(&headers));
    let c = &app.console;
    let now = Utc::now();
    let gathered: Result<_, Error> = async {
        let all = c.connections.connections().await?;
        let mut rows = Vec::new();
        for connection in all.iter().cloned() {
            rows.push(c.overview_of(connection, now).await?);
        }
        let queued = c.queue_depth.approximate_depth().await?;
        let dead = c.dead_letters.approximate_depth().await?;
        Ok((all, rows, queued, dead))
    }
    .await;
    let (all, rows, queued, dead) = or_page!(gathered);
    let frame = Frame {
        who: &visitor.session.who,
        csrf: &visitor.session.csrf,
        connections: &all,
        connection: None,
        page: "overview",
    };
    with_cookie(html(StatusCode::OK, pages::overview(&frame, &rows, queued, dead, now)), visitor.set_cookie)
}

async fn failures(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let page = or_answer!(Page::open(&app, &headers, &uri, "failures").await);
    let records = or_page!(app.console.failed.failed(&page.connection.id).await);
    let groups = views::group_failures(&records);
    page.respond(pages::failures(&page.frame("failures"), &page.connection, &records, &groups))
}

async fn trace(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let page = or_answer!(Page::open(&app, &headers, &uri, "trace").await);
    let (c, q) = (&app.console, page.param("q"));
    let (steps, error) = if q.is_empty() {
        (Vec::new(), None)
    } else {
        match crate::lookup::trail_of(&*c.state, &*c.audit, &*c.secrets, &page.connection, &q, false).await {
            Ok(entries) => (c.trace_steps(&page.connection, entries), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    };
    page.respond(pages::trace(&page.frame("trace"), &page.connection, &q, &steps, error.as_deref()))
}

async fn preview(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let page = or_answer!(Page::open(&app, &headers, &uri, "preview").await);
    let (c, id) = (&app.console, page.param("id"));
    let (preview, error) = if id.is_empty() {
        (None, None)
    } else {
        match crate::lookup::preview(&c.stores, &c.poster, &page.connection, &id).await {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    page.respond(pages::preview(&page.frame("preview"), &page.connection, &id, preview.as_ref(), error.as_deref()))
}

async fn reconciliation(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let page = or_answer!(Page::open(&app, &headers, &uri, "reconciliation").await);
    let report = or_page!(app.console.last_reconciliation(&page.connection).await);
    page.respond(pages::reconciliation(&page.frame("reconciliation"), &page.connection, report.as_ref()))
}

async fn settings(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let page = or_answer!(Page::open(&app, &headers, &uri, "settings").await);
    let statuses = match or_page!(app.console.connections.latest_rules(&page.connection.id).await) {
        Some(rules) => crate::rules::MappingRules::from_json(&rules.rules)
            .map(|r| r.posting.posting_statuses())
            .unwrap_or_else(|e| format!("(the rules cannot be read: {e})")),
        None => "(no mapping rules yet)".into(),
    };
    page.respond(pages::settings(&page.frame("settings"), &page.connection, &statuses, app.console.editable))
}

impl Console {
    async fn last_reconciliation(
        &self,
        connection: &Connection,
    ) -> Result<Option<crate::reconcile::ReconcileReport>, Error> {
        let Some(run) = self.state.watermark(&connection.id, crate::reconcile::LAST_RUN).await?.and_then(|w| w.cursor)
        else {
            return Ok(None);
        };
        let entries =
            self.audit.by_source(&connection.id, EntityKind::Order, &crate::ids::SourceId::parse(run)?).await?;
        Ok(entries.last().and_then(|e| serde_json::from_value(e.details.clone()).ok()))
    }

    async fn connection(&self, form: &[(String, String)]) -> Result<Connection, Error> {
        let id = crate::ids::ConnectionId::parse(param(form, "connection").unwrap_or_default())?;
        self.connections.connection(&id).await?.ok_or_else(|| Error::bad_input(format!("there is no connection {id}")))
    }

    /// The failed records a replay form names: `only` (one button), the `record`s checked, or
    /// every record of a `reason`.
    async fn chosen_failures(
        &self,
        connection: &Connection,
        form: &[(String, String)],
    ) -> Result<Vec<FailedRecord>, Error> {
        let failed = self.failed.failed(&connection.id).await?;
        if let Some(reason) = param(form, "reason") {
            return Ok(failed.into_iter().filter(|r| reason_key(&r.reason) == reason).collect());
        }
        let wanted: Vec<&str> = match param(form, "only") {
            Some(one) => vec![one],
            None => form.iter().filter(|(k, _)| k == "record").map(|(_, v)| v.as_str()).collect(),
        };
        Ok(failed.into_iter().filter(|r| wanted.contains(&format!("{}:{}", r.kind, r.source_id).as_str())).collect())
    }
}

fn client_of(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| crate::refusals::bounded(ua, 40))
        .unwrap_or_default()
}

async fn replay(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (form, session) = or_answer!(app.admit_form(&headers, &body));
    let c = &app.console;
    let done = async {
        let connection = c.connection(&form).await?;
        let records = c.chosen_failures(&connection, &form).await?;
        if records.is_empty() {
            return Err(Error::bad_input("none of the records named is failed any more (replayed already?)"));
        }
        let by = format!("{} from the console ({})", session.who, client_of(&headers));
        let n = crate::operations::replay_records(&*c.failed, &*c.queue, &*c.audit, &connection, records, &by).await?;
        tracing::info!(connection = %connection.id, who = %session.who, replayed = n, "replayed from the console");
        Ok(format!("/console/failures?connection={}&replayed={n}", connection.id))
    };
    after_form(done.await)
}

/// After a form: on to the page it names, or the error's page.
fn after_form(done: Result<String, Error>) -> Response {
    match done {
        Ok(next) => Redirect::to(&next).into_response(),
        Err(e) => error_page(e),
    }
}

async fn reconcile(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (form, session) = or_answer!(app.admit_form(&headers, &body));
    let c = &app.console;
    let done = async {
        let connection = c.connection(&form).await?;
        let day = |name: &str| {
            let text = param(&form, name).unwrap_or_default();
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| Error::bad_input(format!("{name} {text:?} is not a date")))
        };
        let (first, last) = (day("from")?, day("to")?);
        if last < first || (last - first).num_days() > 92 {
            return Err(Error::bad_input("reconcile from one day to a later one, at most 92 days apart"));
        }
        let from = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let to = last.and_hms_opt(0, 0, 0).expect("midnight").and_utc() + chrono::Duration::days(1);
        tracing::info!(connection = %connection.id, who = %session.who, "reconciliation asked from the console");
        c.reconciler.run(&connection, from, to, !connection.reconcile_list_only).await?;
        Ok(format!("/console/reconciliation?connection={}", connection.id))
    };
    after_form(done.await)
}

async fn save_settings(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (form, session) = or_answer!(app.admit_form(&headers, &body));
    let c = &app.console;
    if !c.editable {
        return refused("a deployed stack's settings are read-only here");
    }
    let done = async {
        let mut connection = c.connection(&form).await?;
        let text = param(&form, "retention").unwrap_or_default();
        connection.audit_retention =
            Retention::parse(text).ok_or_else(|| Error::bad_input(format!("{text:?} is not a retention")))?;
        c.connections.put_connection(&connection).await?;
        tracing::info!(connection = %connection.id, who = %session.who, retention = text, "audit retention set from the console");
        Ok(format!("/console/settings?connection={}", connection.id))
    };
    after_form(done.await)
}

async fn login_page() -> Response {
    html(StatusCode::OK, pages::login(None))
}

async fn login(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = params(std::str::from_utf8(&body).ok()).into_iter().collect();
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    match app.access.tokens.holder(token) {
        Ok(Some(who)) => {
            let (id, _) = app.access.open(&who);
            tracing::info!(who = %who, "signed in to the console");
            with_cookie(Redirect::to("/console").into_response(), Some(app.access.cookie(&id)))
        }
        Ok(None) => html(StatusCode::UNAUTHORIZED, pages::login(Some("That token is not one of this console's."))),
        Err(e) => error_page(e),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    app.access.close(headers.get(header::COOKIE).and_then(|v| v.to_str().ok()));
    Redirect::to("/console/login").into_response()
}
