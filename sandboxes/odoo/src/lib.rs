//! A sandbox Odoo on a random loopback port, faithful where a connector can tell: XML-RPC
//! (`/xmlrpc/2/common`, `/xmlrpc/2/object`) and JSON-2 (`/json/2/<model>/<method>`, Odoo 19+) with
//! Odoo-shaped results and faults, the accounting models a connector posts to, injectable latency
//! and faults, and a log of every call for tests and benchmarks to read.
//!
//! Error statuses follow Odoo 19's `odoo/exceptions.py` (`UserError` 422, `AccessError` and
//! `AccessDenied` 403, `MissingError` 404, `LockError` 409) and the reference's observations
//! (401 for a bad API key, 404 for an unknown model or method, 422 for arguments that do not bind).

mod accounting;
mod models;
mod orm;
mod sales;
mod seed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use orm::Exc;
use orm::World;

mod xmlrpc;
use shared::odoo::value::Val;
use xmlrpc::{decode_call, encode_fault, encode_response};

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Major version reported; JSON-2 and `/web/version` answer only from 19.
    pub version: u32,
    pub database: String,
    pub login: String,
    pub api_key: String,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            version: 19,
            database: "sandbox".into(),
            login: "bot@example.com".into(),
            api_key: format!("sandbox-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// The bot user every valid key authenticates as.
const UID: i64 = 2;

/// One call the sandbox answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// `"http"` (`/web/version`), `"xmlrpc"` or `"json2"`.
    pub transport: &'static str,
    pub model: String,
    pub method: String,
}

/// A failure to inject into matching calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An HTTP error from "in front of" Odoo (a proxy, a restarting worker), with `Retry-After`.
    Http { status: u16, retry_after_secs: Option<u64> },
    /// PostgreSQL's serialization failure, as Odoo lets it through.
    SerializationFailure,
    /// A `UserError` with this message.
    UserError(String),
    /// Answer normally, this much later.
    Latency(Duration),
    /// Do the work (and commit it), then hold the answer this long: past a client's timeout,
    /// the client cannot know whether the call took effect.
    LostAnswer(Duration),
}

/// Random faults on a share of calls: for the chaos suite.
struct Chaos {
    per_mille: u32,
    rng: rand::rngs::StdRng,
    hold: Duration,
}

struct FaultRule {
    model: String,
    method: String,
    fault: Fault,
    remaining: usize,
}

struct Shared {
    options: SandboxOptions,
    world: Mutex<World>,
    calls: Mutex<Vec<LoggedCall>>,
    faults: Mutex<Vec<FaultRule>>,
    chaos: Mutex<Option<Chaos>>,
    /// The API key was revoked in Odoo's preferences: every call with it is refused.
    revoked: std::sync::atomic::AtomicBool,
    /// When set, every call's transaction starts at this instant (tests of `write_date`).
    clock: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// A running sandbox; stops when dropped.
pub struct Sandbox {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Sandbox {
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let mut world = World::new(chrono::Utc::now().format("%Y-%m-%d").to_string());
        seed::seed(&mut world);
        let shared = Arc::new(Shared {
            options,
            world: Mutex::new(world),
            calls: Mutex::default(),
            faults: Mutex::default(),
            chaos: Mutex::default(),
            revoked: Default::default(),
            clock: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/web/version", get(web_version))
            .route("/xmlrpc/2/{service}", post(xmlrpc))
            .route("/json/2/{model}/{method}", post(json2))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sandbox { url, shared, server })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn options(&self) -> &SandboxOptions {
        &self.shared.options
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<LoggedCall> {
        self.shared.calls.lock().expect("lock").clone()
    }

    /// `(model, method)` of every call so far.
    pub fn call_names(&self) -> Vec<(String, String)> {
        self.calls().into_iter().map(|c| (c.model, c.method)).collect()
    }

    pub fn clear_calls(&self) {
        self.shared.calls.lock().expect("lock").clear();
    }

    /// Injects `fault` into the next `times` calls of `model.method` (`"*"` matches any).
    pub fn inject(&self, model: &str, method: &str, fault: Fault, times: usize) {
        self.shared.faults.lock().expect("lock").push(FaultRule {
            model: model.into(),
            method: method.into(),
            fault,
            remaining: times,
        });
    }

    /// Forgets every injected fault not used up yet.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("lock").clear();
    }

    /// From now on `per_mille` of the model calls fail at random (seeded): HTTP 503, HTTP 502,
    /// PostgreSQL serialization failures, and answers lost after the work was committed (held
    /// `hold`, which should be past the client's timeout). `0` stops it.
    pub fn chaos(&self, per_mille: u32, seed: u64, hold: Duration) {
        use rand::SeedableRng;
        *self.shared.chaos.lock().expect("lock") =
            (per_mille > 0).then(|| Chaos { per_mille, rng: rand::rngs::StdRng::seed_from_u64(seed), hold });
    }

    /// What a merchant selling in sales-order mode has set up: these goods (invoiced on
    /// ordered quantities), a rounding product, the "Flat rate" carrier with its delivery
    /// product SHIP-FLAT, the "Public Pricelist" and the "EU B2C" fiscal position.
    pub fn add_sales_setup(&self, goods: &[(&str, &str)]) -> Result<(), Exc> {
        let product = |sku: &str, name: &str, kind: &str| {
            let vals = [
                ("name", Val::from(name)),
                ("default_code", Val::from(sku)),
                ("type", Val::from(kind)),
                ("invoice_policy", Val::from("order")),
            ];
            self.create("product.product", Val::map(vals))
        };
        for (sku, name) in goods {
            product(sku, name, "consu")?;
        }
        product("ROUNDING", "Rounding difference", "service")?;
        let shipping = product("SHIP-FLAT", "Flat rate shipping", "service")?;
        let carrier = [
            ("name", Val::from("Flat rate")),
            ("product_id", Val::Int(shipping)),
            ("delivery_type", Val::from("fixed")),
            ("fixed_price", Val::Num(rust_decimal::Decimal::new(490, 2))),
        ];
        self.create("delivery.carrier", Val::map(carrier))?;
        self.create("product.pricelist", Val::map([("name", Val::from("Public Pricelist"))]))?;
        self.create("account.fiscal.position", Val::map([("name", Val::from("EU B2C"))]))?;
        Ok(())
    }

    /// Revokes the API key (`true`), as a user does in Odoo's preferences, or makes a new one
    /// with the same value (`false`): while revoked, every call with it is refused.
    pub fn revoke_key(&self, revoked: bool) {
        self.shared.revoked.store(revoked, std::sync::atomic::Ordering::SeqCst);
    }

    /// Starts every later call's transaction at `at` (`None`: the real clock again). A call made
    /// at an earlier instant than one before it is a long transaction that committed late: its
    /// records carry a `write_date` older than records already read.
    pub fn set_clock(&self, at: Option<chrono::DateTime<chrono::Utc>>) {
        *self.shared.clock.lock().expect("lock") = at;
    }

    /// Makes the company round taxes globally (`round_globally`) instead of per line.
    pub fn round_taxes_globally(&self, on: bool) {
        self.shared.world.lock().expect("lock").round_globally = on;
    }

    /// Reads records directly (no call logged), as `read` would return them.
    pub fn read(&self, model: &str, ids: &[i64], fields: &[&str]) -> Vec<Val> {
        let world = self.shared.world.lock().expect("lock");
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        world.read(model, ids, &fields).unwrap_or_default()
    }

    /// Creates a record directly (no call logged), as someone setting Odoo up would.
    pub fn create(&self, model: &str, vals: Val) -> Result<i64, Exc> {
        let mut world = self.shared.world.lock().expect("lock");
        world.now = self.shared.transaction_start();
        let vals = vals.as_map().cloned().ok_or_else(|| orm::value_error("create() expects a dict"))?;
        models::create_one(&mut world, model, vals)
    }

    /// Writes records directly (no call logged), as someone editing them in Odoo would.
    pub fn write(&self, model: &str, ids: &[i64], vals: Val) -> Result<(), Exc> {
        let args = BTreeMap::from([("vals".to_string(), vals)]);
        self.shared.run(model, "write", ids.to_vec(), args, Val::map::<&str>([])).map(|_| ())
    }

    /// Presses a record's button directly (no call logged), as a user in Odoo would: a
    /// delivery's `button_validate`, an order's `action_lock`.
    pub fn press(&self, model: &str, method: &str, ids: &[i64]) -> Result<Val, Exc> {
        self.shared.run(model, method, ids.to_vec(), BTreeMap::new(), Val::map::<&str>([]))
    }

    /// Ids matching a domain (no call logged).
    pub fn search(&self, model: &str, domain: Val) -> Vec<i64> {
        let world = self.shared.world.lock().expect("lock");
        world.search(model, &domain, 0, None, None).unwrap_or_default()
    }
}

impl Shared {
    fn key_accepted(&self, key: &str) -> bool {
        key == self.options.api_key && !self.revoked.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn log(&self, transport: &'static str, model: &str, method: &str) {
        self.calls.lock().expect("lock").push(LoggedCall { transport, model: model.into(), method: method.into() });
    }

    /// The fault to apply to this call, if a rule matches (latency is served here and not returned).
    async fn fault_for(&self, model: &str, method: &str) -> Option<Fault> {
        let fault = {
            let mut rules = self.faults.lock().expect("lock");
            match rules.iter_mut().find(|r| {
                r.remaining > 0 && (r.model == "*" || r.model == model) && (r.method == "*" || r.method == method)
            }) {
                Some(rule) => {
                    rule.remaining -= 1;
                    rule.fault.clone()
                }
                None => {
                    use rand::Rng;
                    let mut chaos = self.chaos.lock().expect("lock");
                    let c = chaos.as_mut()?;
                    if c.rng.random_range(0..1000) >= c.per_mille {
                        return None;
                    }
                    match c.rng.random_range(0..4) {
                        0 => Fault::Http { status: 503, retry_after_secs: None },
                        1 => Fault::Http { status: 502, retry_after_secs: None },
                        2 => Fault::SerializationFailure,
                        _ => Fault::LostAnswer(c.hold),
                    }
                }
            }
        };
        match fault {
            Fault::Latency(d) => {
                tokio::time::sleep(d).await;
                None
            }
            other => Some(other),
        }
    }

    /// Checks the method, then runs it in a transaction of its own.
    /// `cr.now()` for a transaction starting now (or at the frozen clock).
    fn transaction_start(&self) -> String {
        let started = self.clock.lock().expect("lock").unwrap_or_else(chrono::Utc::now);
        started.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    fn run(
        &self,
        model: &str,
        method: &str,
        ids: Vec<i64>,
        args: BTreeMap<String, Val>,
        context: Val,
    ) -> Result<Val, Exc> {
        let mut world = self.world.lock().expect("lock");
        if method.starts_with('_') {
            return Err(Exc::AccessError(format!(
                "Private methods (such as '{model}.{method}') cannot be called remotely."
            )));
        }
        if !world.has_model(model) {
            return Err(Exc::NotFound(format!("Object {model} doesn't exist")));
        }
        let writes = !matches!(method, "read" | "search" | "search_read" | "search_count" | "context_get");
        // One call, one transaction: what it writes shares the second it started in.
        world.now = self.transaction_start();
        let backup = writes.then(|| world.clone());
        let result = models::dispatch(&mut world, model, method, ids, &args, &context);
        if let (Err(_), Some(backup)) = (&result, backup) {
            *world = backup; // roll back, as Odoo's per-call transaction does
        }
        result
    }
}

fn traceback(class: &str, message: &str) -> String {
    format!(
        "Traceback (most recent call last):\n  File \"/opt/odoo/odoo/service/model.py\", line 62, in dispatch\n{class}: {message}\n"
    )
}

// -- XML-RPC ----------------------------------------------------------------------------------

fn xml(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

fn fault_response(e: &Exc) -> Response {
    let (code, message) = match e {
        Exc::UserError(m) | Exc::ValidationError(m) | Exc::MissingError(m) | Exc::NotFound(m) => (2, m.clone()),
        Exc::AccessDenied => (3, "Access Denied".to_string()),
        Exc::AccessError(m) => (4, m.clone()),
        Exc::Python { class, message } => (1, traceback(class, message)),
        Exc::BadArguments(m) => (1, traceback("TypeError", m)),
        Exc::Serialization => (
            1,
            traceback("psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update"),
        ),
    };
    xml(StatusCode::OK, encode_fault(Val::Int(code), &message))
}

fn injected_http(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = (status, format!("<html><body><h1>{status}</h1></body></html>")).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert("retry-after", secs.into());
    }
    response
}

async fn xmlrpc(State(shared): State<Arc<Shared>>, Path(service): Path<String>, body: String) -> Response {
    let (method, params) = match decode_call(&body) {
        Ok(call) => call,
        Err(e) => return fault_response(&Exc::Python { class: "xml.parsers.expat.ExpatError", message: e }),
    };
    let opts = &shared.options;
    let result = match (service.as_str(), method.as_str()) {
        ("common", "version") => {
            shared.log("xmlrpc", "common", "version");
            Ok(Val::map([
                ("server_version", Val::Str(format!("{}.0", opts.version))),
                (
                    "server_version_info",
                    Val::list([
                        Val::Int(opts.version.into()),
                        Val::Int(0),
                        Val::Int(0),
                        Val::from("final"),
                        Val::Int(0),
                        Val::from(""),
                    ]),
                ),
                ("server_serie", Val::Str(format!("{}.0", opts.version))),
                ("protocol_version", Val::Int(1)),
            ]))
        }
        ("common", "authenticate" | "login") => {
            shared.log("xmlrpc", "common", &method);
            let s = |i: usize| params.get(i).and_then(Val::as_str).unwrap_or_default();
            if s(0) != opts.database {
                Err(Exc::Python {
                    class: "psycopg2.OperationalError",
                    message: format!("connection to server failed: FATAL:  database \"{}\" does not exist", s(0)),
                })
            } else if s(1) == opts.login && shared.key_accepted(s(2)) {
                Ok(Val::Int(UID))
            } else {
                Ok(Val::Bool(false)) // Odoo answers bad credentials with False, not a fault
            }
        }
        ("object", "execute_kw" | "execute") => {
            let model = params.get(3).and_then(Val::as_str).unwrap_or_default().to_string();
            let name = params.get(4).and_then(Val::as_str).unwrap_or_default().to_string();
            shared.log("xmlrpc", &model, &name);
            match shared.fault_for(&model, &name).await {
                Some(Fault::Http { status, retry_after_secs }) => return injected_http(status, retry_after_secs),
                Some(Fault::SerializationFailure) => Err(Exc::Serialization),
                Some(Fault::UserError(m)) => Err(Exc::UserError(m)),
                Some(Fault::LostAnswer(hold)) => {
                    let done = xml_object_call(&shared, &method, &params, &model, &name);
                    tokio::time::sleep(hold).await;
                    done
                }
                _ => xml_object_call(&shared, &method, &params, &model, &name),
            }
        }
        _ => Err(Exc::Python {
            class: "AttributeError",
            message: format!("'{service}' service has no method '{method}'"),
        }),
    };
    match result {
        Ok(value) => match encode_response(&value) {
            Ok(body) => xml(StatusCode::OK, body),
            // Odoo marshals with allow_none=False: a method returning None faults.
            Err(_) => fault_response(&Exc::Python {
                class: "TypeError",
                message: "cannot marshal None unless allow_none is enabled".into(),
            }),
        },
        Err(e) => fault_response(&e),
    }
}

fn xml_object_call(shared: &Shared, method: &str, params: &[Val], model: &str, name: &str) -> Result<Val, Exc> {
    let opts = &shared.options;
    if params.first().and_then(Val::as_str) != Some(opts.database.as_str()) {
        return Err(Exc::Python { class: "psycopg2.OperationalError", message: "database does not exist".into() });
    }
    if params.get(1).and_then(Val::as_i64) != Some(UID)
        || !params.get(2).and_then(Val::as_str).is_some_and(|k| shared.key_accepted(k))
    {
        return Err(Exc::AccessDenied);
    }
    let (positional, mut kwargs) = if method == "execute_kw" {
        let args = params.get(5).and_then(Val::as_list).map(<[Val]>::to_vec).unwrap_or_default();
        (args, params.get(6).and_then(Val::as_map).cloned().unwrap_or_default())
    } else {
        (params.get(5..).map(<[Val]>::to_vec).unwrap_or_default(), BTreeMap::new())
    };
    let context = kwargs.remove("context").unwrap_or(Val::map::<&str>([]));
    let Some((on_model, names)) = models::signature(model, name) else {
        return run_unknown(shared, model, name);
    };
    let mut positional = positional.into_iter();
    let ids = if on_model {
        vec![]
    } else {
        match positional.next() {
            Some(Val::List(l)) => l.iter().filter_map(Val::as_i64).collect(),
            Some(Val::Int(i)) => vec![i],
            Some(other) => return Err(Exc::BadArguments(format!("ids must be a list, not {other:?}"))),
            None => vec![],
        }
    };
    let mut args = BTreeMap::new();
    for (i, value) in positional.enumerate() {
        let param = names.get(i).ok_or_else(|| {
            Exc::BadArguments(format!("{name}() takes {} positional arguments but more were given", names.len() + 1))
        })?;
        args.insert(param.to_string(), value);
    }
    let keyword_only = models::keyword_only(model, name);
    for (k, v) in kwargs {
        if !names.contains(&k.as_str()) && !keyword_only.contains(&k.as_str()) {
            return Err(Exc::BadArguments(format!("{name}() got an unexpected keyword argument '{k}'")));
        }
        if args.insert(k.clone(), v).is_some() {
            return Err(Exc::BadArguments(format!("{name}() got multiple values for argument '{k}'")));
        }
    }
    shared.run(model, name, ids, args, context)
}

/// Unknown or private method: let `run` give the error Odoo gives (privacy is checked first).
fn run_unknown(shared: &Shared, model: &str, method: &str) -> Result<Val, Exc> {
    match shared.run(model, method, vec![], BTreeMap::new(), Val::Bool(false)) {
        Err(e) => Err(e),
        Ok(_) => Err(Exc::Python {
            class: "AttributeError",
            message: format!("The method '{method}' does not exist on the model '{model}'"),
        }),
    }
}

// -- JSON-2 and /web/version ------------------------------------------------------------------

async fn web_version(State(shared): State<Arc<Shared>>) -> Response {
    shared.log("http", "web", "version");
    let v = shared.options.version;
    if v < 19 {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let body = Val::map([
        (
            "version_info",
            Val::list([Val::Int(v.into()), Val::Int(0), Val::Int(0), Val::from("final"), Val::Int(0), Val::from("")]),
        ),
        ("version", Val::Str(format!("{v}.0"))),
    ]);
    (StatusCode::OK, [("content-type", "application/json")], body.to_json()).into_response()
}

fn json_error(status: u16, name: &str, message: &str) -> Response {
    let body = Val::map([
        ("name", Val::from(name)),
        ("message", Val::from(message)),
        ("arguments", Val::list([Val::from(message)])),
        ("context", Val::map::<&str>([])),
        ("debug", Val::Str(traceback(name, message))),
    ]);
    (StatusCode::from_u16(status).expect("status"), [("content-type", "application/json")], body.to_json())
        .into_response()
}

fn json_exc(e: &Exc) -> Response {
    match e {
        Exc::UserError(m) => json_error(422, "odoo.exceptions.UserError", m),
        Exc::ValidationError(m) => json_error(422, "odoo.exceptions.ValidationError", m),
        Exc::MissingError(m) => json_error(404, "odoo.exceptions.MissingError", m),
        Exc::AccessError(m) => json_error(403, "odoo.exceptions.AccessError", m),
        Exc::AccessDenied => json_error(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey"),
        Exc::NotFound(m) => json_error(404, "werkzeug.exceptions.NotFound", m),
        Exc::BadArguments(m) => json_error(422, "werkzeug.exceptions.UnprocessableEntity", m),
        Exc::Python { class, message } => json_error(500, &format!("builtins.{class}"), message),
        Exc::Serialization => json_error(
            500,
            "psycopg2.errors.SerializationFailure",
            "could not serialize access due to concurrent update",
        ),
    }
}

async fn json2(
    State(shared): State<Arc<Shared>>,
    Path((model, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let opts = &shared.options;
    if opts.version < 19 {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    shared.log("json2", &model, &method);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if !header("content-type").starts_with("application/json") {
        return json_error(415, "werkzeug.exceptions.UnsupportedMediaType", "JSON-2 takes application/json");
    }
    let auth = header("authorization");
    let key = auth.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, k)| k.trim());
    if !key.is_some_and(|k| shared.key_accepted(k)) {
        return json_exc(&Exc::AccessDenied);
    }
    let db = header("x-odoo-database");
    if !db.is_empty() && db != opts.database {
        return json_error(404, "werkzeug.exceptions.NotFound", &format!("Database {db:?} not found"));
    }
    let parsed = std::str::from_utf8(&body).ok().and_then(|t| Val::from_json_str(t).ok());
    let Some(Val::Map(mut args)) = parsed else {
        return json_error(400, "werkzeug.exceptions.BadRequest", "The request body must be a JSON object");
    };
    let hold = match shared.fault_for(&model, &method).await {
        Some(Fault::Http { status, retry_after_secs }) => return injected_http(status, retry_after_secs),
        Some(Fault::SerializationFailure) => return json_exc(&Exc::Serialization),
        Some(Fault::UserError(m)) => return json_exc(&Exc::UserError(m)),
        Some(Fault::LostAnswer(hold)) => Some(hold),
        _ => None,
    };
    let context = args.remove("context").unwrap_or(Val::map::<&str>([]));
    let ids = args.remove("ids");
    let result = match models::signature(&model, &method) {
        None => match run_unknown(&shared, &model, &method) {
            Err(Exc::Python { class: "AttributeError", message }) => Err(Exc::NotFound(message)),
            other => other,
        },
        Some((on_model, names)) => {
            let keyword_only = models::keyword_only(&model, &method);
            if let Some(unknown) =
                args.keys().find(|k| !names.contains(&k.as_str()) && !keyword_only.contains(&k.as_str()))
            {
                Err(Exc::BadArguments(format!("{model}.{method}() got an unexpected keyword argument '{unknown}'")))
            } else if on_model && ids.is_some() {
                Err(Exc::BadArguments(format!("cannot call {model}.{method} with ids")))
            } else {
                let ids: Vec<i64> =
                    ids.as_ref().and_then(Val::as_list).unwrap_or_default().iter().filter_map(Val::as_i64).collect();
                shared.run(&model, &method, ids, args, context)
            }
        }
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    match result {
        // JSON-2 turns recordsets into id lists: `create` always answers a list.
        Ok(Val::Int(id)) if method == "create" => {
            (StatusCode::OK, [("content-type", "application/json")], Val::ids(&[id]).to_json()).into_response()
        }
        Ok(value) => (StatusCode::OK, [("content-type", "application/json")], value.to_json()).into_response(),
        Err(e) => json_exc(&e),
    }
}
