//! One Odoo client, two transports. XML-RPC (`/xmlrpc/2/common` + `/xmlrpc/2/object`) for Odoo up
//! to 18; JSON-2 (`POST /json/2/<model>/<method>`, bearer API key, named arguments) from 19. The
//! transport is chosen from the server's version unless the connection pins one.

use std::time::Duration;

use tokio::sync::OnceCell;

use super::endpoint::OdooEndpoint;
use super::error::{OdooError, from_fault, from_json2};
use super::value::{Val, XmlRpcResponse, decode_response, encode_call};
use crate::http::retry::{RetryPolicy, server_wait};
use crate::ids::OdooRef;
use crate::ports::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    XmlRpc,
    Json2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportChoice {
    #[default]
    Auto,
    XmlRpc,
    Json2,
}

pub struct OdooConfig {
    pub url: String,
    pub database: Option<String>,
    /// The user's login; XML-RPC authenticates with it. JSON-2 needs only the key.
    pub login: String,
    pub api_key: Secret,
    pub transport: TransportChoice,
    pub allow_private_network: bool,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// The connection's CA bundle (PEM), for a self-hosted Odoo behind a private CA.
    pub ca_pem: Option<String>,
}

impl OdooConfig {
    pub fn new(url: impl Into<String>, database: Option<String>, login: impl Into<String>, api_key: Secret) -> Self {
        OdooConfig {
            url: url.into(),
            database,
            login: login.into(),
            api_key,
            transport: TransportChoice::Auto,
            allow_private_network: false,
            ca_pem: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A call: positional arguments go after the ids in XML-RPC and by name in JSON-2; keyword
/// arguments and the context go by name in both.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub model: &'a str,
    pub method: &'a str,
    pub ids: Option<Vec<i64>>,
    pub args: Vec<(&'static str, Val)>,
    pub kwargs: Vec<(&'static str, Val)>,
    pub context: Option<Val>,
}

impl<'a> Call<'a> {
    pub fn new(model: &'a str, method: &'a str) -> Self {
        Call { model, method, ids: None, args: vec![], kwargs: vec![], context: None }
    }

    pub fn ids(mut self, ids: &[i64]) -> Self {
        self.ids = Some(ids.to_vec());
        self
    }

    pub fn arg(mut self, name: &'static str, value: Val) -> Self {
        self.args.push((name, value));
        self
    }

    pub fn kwarg(mut self, name: &'static str, value: Val) -> Self {
        self.kwargs.push((name, value));
        self
    }

    pub fn context(mut self, context: Val) -> Self {
        self.context = Some(context);
        self
    }
}

pub struct OdooClient {
    http: reqwest::Client,
    endpoint: OdooEndpoint,
    login: String,
    api_key: Secret,
    transport: Transport,
    server_version: String,
    uid: OnceCell<i64>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for OdooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooClient")
            .field("base", &self.endpoint.base.as_str())
            .field("database", &self.endpoint.database)
            .field("transport", &self.transport)
            .field("server_version", &self.server_version)
            .finish_non_exhaustive()
    }
}

fn transport_error(e: reqwest::Error) -> OdooError {
    // reqwest's message names the URL, never headers or body, so the key cannot leak through it.
    let (connect, lost) = (e.is_connect(), e.is_timeout() || e.is_request() || e.is_body() || e.is_decode());
    if crate::http::is_certificate_error(&e) {
        return OdooError::Endpoint { message: crate::http::certificate_advice(&e) };
    }
    let message = crate::http::describe(&e);
    if connect {
        OdooError::transient(message) // never reached Odoo
    } else if lost {
        OdooError::Ambiguous { message } // sent; the answer was lost
    } else {
        OdooError::protocol(message)
    }
}

/// Calls that change nothing, so an unanswered one can simply be sent again.
fn is_read(method: &str) -> bool {
    matches!(
        method,
        "read"
            | "search"
            | "search_read"
            | "search_count"
            | "fields_get"
            | "name_search"
            | "read_group"
            | "context_get"
            | "version"
            | "authenticate"
            | "check_access_rights"
            | "has_access"
    )
}

impl OdooClient {
    /// Checks the URL (SSRF guard included), detects the server's version and picks the transport.
    pub async fn connect(config: OdooConfig) -> Result<OdooClient, OdooError> {
        let endpoint = OdooEndpoint::parse(&config.url, config.database.as_deref(), config.allow_private_network)?;
        let addrs = endpoint.resolve_guarded().await?;
        let http = crate::http::guard::pinned_client(endpoint.host(), &addrs, config.timeout, config.ca_pem.as_deref())
            .map_err(|e| OdooError::protocol(e.to_string()))?;
        let mut client = OdooClient {
            http,
            endpoint,
            login: config.login,
            api_key: config.api_key,
            transport: Transport::XmlRpc,
            server_version: String::new(),
            uid: OnceCell::new(),
            retry: config.retry,
        };
        let (major, version) = client.detect_version().await?;
        client.server_version = version;
        client.transport = match config.transport {
            TransportChoice::XmlRpc => Transport::XmlRpc,
            TransportChoice::Json2 => Transport::Json2,
            TransportChoice::Auto if major >= 19 => Transport::Json2,
            TransportChoice::Auto => Transport::XmlRpc,
        };
        if client.transport == Transport::XmlRpc && client.endpoint.database.is_none() {
            return Err(OdooError::Endpoint {
                message: "XML-RPC needs the database name; set it on the connection".into(),
            });
        }
        Ok(client)
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    pub fn endpoint(&self) -> &OdooEndpoint {
        &self.endpoint
    }

    /// Runs `attempt`, retrying what was certainly not done (and, for reads, what may have been).
    async fn with_retry<T, F, Fut>(&self, read: bool, mut attempt: F) -> Result<T, OdooError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OdooError>>,
    {
        let mut retry = 0;
        loop {
            let outcome = match attempt().await {
                Err(OdooError::Ambiguous { message }) if read => {
                    Err(OdooError::Transient { message, retry_after: None })
                }
                other => other,
            };
            match outcome {
                Err(OdooError::Transient { message, retry_after }) if retry + 1 < self.retry.attempts => {
                    let wait = self.retry.delay(retry, retry_after);
                    tracing::warn!(%message, attempt = retry + 1, wait_ms = wait.as_millis() as u64, "Odoo call failed; retrying");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                other => return other,
            }
        }
    }

    /// `GET /web/version` (Odoo 19's probe), falling back to XML-RPC `common.version()`.
    async fn detect_version(&self) -> Result<(u32, String), OdooError> {
        let web = self
            .with_retry(true, || async {
                let response =
                    self.http.get(self.endpoint.join("/web/version")).send().await.map_err(transport_error)?;
                let status = response.status().as_u16();
                let after = server_wait(response.headers());
                let body = response.text().await.map_err(transport_error)?;
                match status {
                    200 => Ok(Val::from_json_str(&body).ok()),
                    429 | 500..=599 => Err(OdooError::Transient {
                        message: format!("HTTP {status} from /web/version"),
                        retry_after: after,
                    }),
                    _ => Ok(None),
                }
            })
            .await?;
        if let Some(v) = web
            && let Some(major) =
                v.get("version_info").and_then(|i| i.as_list()).and_then(|l| l.first()).and_then(Val::as_i64)
        {
            let version = v.get("version").and_then(Val::as_str).unwrap_or_default().to_string();
            return Ok((major as u32, version));
        }
        let v = self.xmlrpc("common", "version", &[]).await?;
        let major = v
            .get("server_version_info")
            .and_then(|i| i.as_list())
            .and_then(|l| l.first())
            .and_then(Val::as_i64)
            .ok_or_else(|| OdooError::protocol("common.version() has no server_version_info"))?;
        Ok((major as u32, v.get("server_version").and_then(Val::as_str).unwrap_or_default().to_string()))
    }

    async fn xmlrpc(&self, service: &str, method: &str, params: &[Val]) -> Result<Val, OdooError> {
        let body = encode_call(method, params).map_err(OdooError::protocol)?;
        let url = self.endpoint.join(&format!("/xmlrpc/2/{service}"));
        let read = service == "common" || params.get(4).and_then(Val::as_str).is_some_and(is_read);
        self.with_retry(read, || async {
            let response = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml")
                .body(body.clone())
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let after = server_wait(response.headers());
            let text = response.text().await.map_err(transport_error)?;
            match status {
                200 => {}
                502 | 504 => {
                    return Err(OdooError::Ambiguous { message: format!("HTTP {status} from {service}.{method}") });
                }
                429 | 500..=599 => {
                    return Err(OdooError::Transient {
                        message: format!("HTTP {status} from {service}.{method}"),
                        retry_after: after,
                    });
                }
                _ => return Err(OdooError::protocol(format!("HTTP {status} from {service}.{method}"))),
            }
            match decode_response(&text).map_err(|e| OdooError::protocol(format!("{service}.{method}: {e}")))? {
                XmlRpcResponse::Value(v) => Ok(v),
                XmlRpcResponse::Fault { code, message } => Err(from_fault(&code, &message)),
            }
        })
        .await
    }

    /// The user id for XML-RPC, authenticated once and cached for the client's life (a container's).
    async fn uid(&self) -> Result<i64, OdooError> {
        self.uid
            .get_or_try_init(|| async {
                let db = self.endpoint.database.clone().unwrap_or_default();
                let params = [
                    Val::Str(db.clone()),
                    Val::Str(self.login.clone()),
                    Val::Str(self.api_key.expose().to_string()),
                    Val::map::<&str>([]),
                ];
                match self.xmlrpc("common", "authenticate", &params).await? {
                    Val::Int(uid) => Ok(uid),
                    Val::Bool(false) => Err(OdooError::Auth {
                        message: format!("login {:?} with this API key is not accepted by database {db:?}", self.login),
                    }),
                    other => Err(OdooError::protocol(format!("authenticate returned {other:?}"))),
                }
            })
            .await
            .copied()
    }

    /// Runs one call on the chosen transport, retrying transient failures.
    pub async fn execute(&self, call: Call<'_>) -> Result<Val, OdooError> {
        match self.transport {
            Transport::XmlRpc => {
                let uid = self.uid().await?;
                let mut args: Vec<Val> = call.ids.iter().map(|ids| Val::ids(ids)).collect();
                args.extend(call.args.into_iter().map(|(_, v)| v));
                let mut kwargs: Vec<(&str, Val)> = call.kwargs;
                if let Some(ctx) = call.context {
                    kwargs.push(("context", ctx));
                }
                let params = [
                    Val::Str(self.endpoint.database.clone().unwrap_or_default()),
                    Val::Int(uid),
                    Val::Str(self.api_key.expose().to_string()),
                    Val::from(call.model),
                    Val::from(call.method),
                    Val::List(args),
                    Val::map(kwargs),
                ];
                self.xmlrpc("object", "execute_kw", &params).await
            }
            Transport::Json2 => {
                let mut body: Vec<(&str, Val)> = call.args.into_iter().chain(call.kwargs).collect();
                if let Some(ids) = &call.ids {
                    body.push(("ids", Val::ids(ids)));
                }
                if let Some(ctx) = call.context {
                    body.push(("context", ctx));
                }
                let body = Val::map(body).to_json();
                let url = self.endpoint.join(&format!("/json/2/{}/{}", call.model, call.method));
                self.with_retry(is_read(call.method), || async {
                    let mut request = self
                        .http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .header(reqwest::header::AUTHORIZATION, format!("bearer {}", self.api_key.expose()))
                        .body(body.clone());
                    if let Some(db) = &self.endpoint.database {
                        request = request.header("X-Odoo-Database", db);
                    }
                    let response = request.send().await.map_err(transport_error)?;
                    let status = response.status().as_u16();
                    let after = server_wait(response.headers());
                    let text = response.text().await.map_err(transport_error)?;
                    if status == 200 {
                        Val::from_json_str(&text)
                            .map_err(|e| OdooError::protocol(format!("{}.{}: {e}", call.model, call.method)))
                    } else {
                        Err(from_json2(status, &text, after))
                    }
                })
                .await
            }
        }
    }

    // -- Batch-first helpers ------------------------------------------------------------------

    pub async fn search_read(
        &self,
        model: &str,
        domain: Val,
        fields: &[&str],
        limit: Option<u32>,
        order: Option<&str>,
    ) -> Result<Vec<Val>, OdooError> {
        let mut call =
            Call::new(model, "search_read").arg("domain", domain).kwarg("fields", Val::list(fields.iter().copied()));
        if let Some(limit) = limit {
            call = call.kwarg("limit", Val::Int(limit.into()));
        }
        if let Some(order) = order {
            call = call.kwarg("order", Val::from(order));
        }
        list_of(self.execute(call).await?, "search_read")
    }

    pub async fn read(&self, model: &str, ids: &[i64], fields: &[&str]) -> Result<Vec<Val>, OdooError> {
        let call = Call::new(model, "read").ids(ids).kwarg("fields", Val::list(fields.iter().copied()));
        list_of(self.execute(call).await?, "read")
    }

    /// Creates one record per value map in a single call; ids come back in the same order.
    pub async fn create_many(
        &self,
        model: &str,
        vals_list: Vec<Val>,
        context: Option<Val>,
    ) -> Result<Vec<i64>, OdooError> {
        let n = vals_list.len();
        let mut call = Call::new(model, "create").arg("vals_list", Val::List(vals_list));
        call.context = context;
        let ids = ids_of(&self.execute(call).await?)?;
        if ids.len() != n {
            return Err(OdooError::protocol(format!("create of {n} {model} records returned {} ids", ids.len())));
        }
        Ok(ids)
    }

    pub async fn create(&self, model: &str, vals: Val) -> Result<i64, OdooError> {
        Ok(self.create_many(model, vec![vals], None).await?[0])
    }

    pub async fn write(&self, model: &str, ids: &[i64], vals: Val) -> Result<(), OdooError> {
        self.execute(Call::new(model, "write").ids(ids).arg("vals", vals)).await?;
        Ok(())
    }

    /// Calls a public method on records (`action_post`, `button_cancel`, ...).
    pub async fn call_method(&self, model: &str, method: &str, ids: &[i64]) -> Result<Val, OdooError> {
        self.execute(Call::new(model, method).ids(ids)).await
    }

    /// Creates a wizard for `active_ids` of `active_model` (as the form's button does) and runs
    /// `method` on it. Returns the wizard's id and what the method returned.
    pub async fn run_wizard(
        &self,
        wizard: &str,
        active_model: &str,
        active_ids: &[i64],
        vals: Val,
        method: &str,
    ) -> Result<(i64, Val), OdooError> {
        let context = Val::map([("active_model", Val::from(active_model)), ("active_ids", Val::ids(active_ids))]);
        let id = self.create_many(wizard, vec![vals], Some(context.clone())).await?[0];
        let result = self.execute(Call::new(wizard, method).ids(&[id]).context(context)).await?;
        Ok((id, result))
    }

    /// Reverses posted moves through `account.move.reversal` → `refund_moves`; returns the new
    /// moves (credit notes for invoices, in draft).
    pub async fn reverse_moves(
        &self,
        move_ids: &[i64],
        reason: &str,
        date: Option<&str>,
    ) -> Result<Vec<i64>, OdooError> {
        let mut vals = vec![("reason", Val::from(reason))];
        if let Some(date) = date {
            vals.push(("date", Val::from(date)));
        }
        let (wizard, action) =
            self.run_wizard("account.move.reversal", "account.move", move_ids, Val::map(vals), "refund_moves").await?;
        if let Some(id) = action.get("res_id").and_then(Val::as_i64).filter(|&id| id > 0) {
            return Ok(vec![id]);
        }
        // Several moves: the action lists them by domain; the wizard's new_move_ids has them too.
        let read = self.read("account.move.reversal", &[wizard], &["new_move_ids"]).await?;
        let ids = read.first().and_then(|w| w.get("new_move_ids")).map(ids_of).transpose()?.unwrap_or_default();
        if ids.is_empty() {
            return Err(OdooError::protocol("refund_moves created no move"));
        }
        Ok(ids)
    }

    /// Registers payment of posted invoices through `account.payment.register` → `action_create_payments`.
    pub async fn register_payment(&self, move_ids: &[i64], vals: Val) -> Result<(), OdooError> {
        self.run_wizard("account.payment.register", "account.move", move_ids, vals, "action_create_payments").await?;
        Ok(())
    }

    /// An internal note on a record's chatter (`mail.thread.message_post`, keyword-only
    /// arguments; plain text, which Odoo escapes). Answers the message's id.
    pub async fn message_post(&self, model: &str, id: i64, body: &str) -> Result<i64, OdooError> {
        let call = Call::new(model, "message_post")
            .ids(&[id])
            .kwarg("body", Val::from(body))
            .kwarg("message_type", Val::from("comment"))
            .kwarg("subtype_xmlid", Val::from("mail.mt_note"));
        match self.execute(call).await? {
            Val::Int(id) => Ok(id),
            // JSON-2 answers a recordset as a list of ids.
            Val::List(l) if l.len() == 1 => l[0].as_i64().ok_or_else(|| OdooError::protocol("message_post: not an id")),
            other => Err(OdooError::protocol(format!("message_post returned {other:?}"))),
        }
    }

    /// The record an external id (`module.name`) points at, if any.
    pub async fn find_external_id(&self, module: &str, name: &str) -> Result<Option<OdooRef>, OdooError> {
        let domain = Val::list([
            Val::list([Val::from("module"), Val::from("="), Val::from(module)]),
            Val::list([Val::from("name"), Val::from("="), Val::from(name)]),
        ]);
        let rows = self.search_read("ir.model.data", domain, &["model", "res_id"], Some(1), None).await?;
        Ok(rows.first().and_then(|r| Some(OdooRef::new(r.get("model")?.as_str()?, r.get("res_id")?.as_i64()?))))
    }

    /// Binds `module.name` to a record. Odoo's unique (module, name) makes a second binding fail
    /// with a validation error, which is what makes external ids a safe idempotency key.
    pub async fn bind_external_id(&self, module: &str, name: &str, target: &OdooRef) -> Result<i64, OdooError> {
        self.create(
            "ir.model.data",
            Val::map([
                ("module", Val::from(module)),
                ("name", Val::from(name)),
                ("model", Val::from(target.model.as_str())),
                ("res_id", Val::Int(target.id)),
                ("noupdate", Val::Bool(true)),
            ]),
        )
        .await
    }
}

fn list_of(v: Val, what: &str) -> Result<Vec<Val>, OdooError> {
    match v {
        Val::List(l) => Ok(l),
        other => Err(OdooError::protocol(format!("{what} returned {other:?}, not a list"))),
    }
}

/// Ids from `create` (an id or a list of ids) or a many2many value.
fn ids_of(v: &Val) -> Result<Vec<i64>, OdooError> {
    match v {
        Val::Int(id) => Ok(vec![*id]),
        Val::List(l) => {
            l.iter().map(|i| i.as_i64().ok_or_else(|| OdooError::protocol(format!("{i:?} is not an id")))).collect()
        }
        other => Err(OdooError::protocol(format!("{other:?} is not a list of ids"))),
    }
}
