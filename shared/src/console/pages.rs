//! The console's pages: server-rendered HTML (maud escapes every value), one small style sheet,
//! no script, nothing fetched from elsewhere.

use chrono::{DateTime, Duration, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::views::{ConnectionOverview, FailureGroup, TraceStep};
use crate::ports::{AuditStage, Connection, FailedRecord, HourActivity};
use crate::poster::Preview;
use crate::reconcile::ReconcileReport;

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#cfe0ff;text-decoration:none}header a.on{color:#fff;font-weight:600}
header .who{margin-left:auto;color:#9aa7bd}
main{padding:18px 24px;max-width:1200px}
h1{font-size:20px;margin:6px 0 14px}h2{font-size:16px;margin:18px 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0}td,th{border:1px solid #dde1e7;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b3261e}.ok{color:#1b7f3b}.muted{color:#6b7687}.fix{color:#704d00}
form.inline{display:inline}button{padding:4px 10px;cursor:pointer}
ol.timeline{list-style:none;padding:0;border-left:3px solid #c5ccd6;margin-left:8px}
ol.timeline li{margin:0 0 10px 0;padding-left:12px;position:relative}
ol.timeline li:before{content:'';position:absolute;left:-8px;top:5px;width:11px;height:11px;border-radius:50%;background:#5b7bb5}
ol.timeline li.failed:before{background:#b3261e}ol.timeline li.posted:before{background:#1b7f3b}
.notice{background:#fff7e0;border:1px solid #e8d28a;padding:8px 12px;border-radius:6px}
";

/// What every page knows: who is looking, the connection in view, and the CSRF token its forms carry.
pub struct Frame<'a> {
    pub who: &'a str,
    pub csrf: &'a str,
    pub connections: &'a [Connection],
    pub connection: Option<&'a Connection>,
    pub page: &'static str,
}

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn query_for(frame: &Frame, page: &str) -> String {
    match frame.connection {
        Some(c) => format!("/console{page}?connection={}", c.id),
        None => format!("/console{page}"),
    }
}

pub fn layout(frame: &Frame, title: &str, body: Markup) -> String {
    let pages = [
        ("overview", "", "Overview"),
        ("failures", "/failures", "Failures"),
        ("trace", "/trace", "Trace"),
        ("preview", "/preview", "Preview"),
        ("reconciliation", "/reconciliation", "Reconciliation"),
        ("settings", "/settings", "Settings"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ml-connector" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "ml-connector" }
                    @for (key, path, label) in pages {
                        a.on[frame.page == key] href=(query_for(frame, path)) { (label) }
                    }
                    @if frame.connections.len() > 1 {
                        span.muted { "connection:" }
                        @for c in frame.connections {
                            a.on[frame.connection.is_some_and(|x| x.id == c.id)]
                                href=(format!("/console{}?connection={}", pages.iter().find(|p| p.0 == frame.page).map_or("", |p| p.1), c.id)) { (c.id) }
                        }
                    }
                    span.who { (frame.who) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
    .into_string()
}

pub fn login(message: Option<&str>) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Sign in · ml-connector" } style { (PreEscaped(STYLE)) } }
            body { main {
                h1 { "Sign in to the ml-connector console" }
                @if let Some(m) = message { p.bad { (m) } }
                p.muted { "Give the token `mlc console token` printed for you." }
                form method="post" action="/console/login" {
                    input type="password" name="token" autocomplete="off" size="50" autofocus;
                    " " button type="submit" { "Sign in" }
                }
            } }
        }
    }
    .into_string()
}

pub fn message_page(frame: &Frame, title: &str, text: &str, bad: bool) -> String {
    layout(frame, title, html! { p.bad[bad] { (text) } })
}

/// Posted (green) and failed (red) records per hour, oldest on the left.
pub fn hourly_chart(hours: &[HourActivity], now: DateTime<Utc>) -> Markup {
    let start = super::views::first_of_24_hours(now);
    let slots: Vec<(DateTime<Utc>, u64, u64)> = (0..24)
        .map(|i| {
            let hour = start + Duration::hours(i);
            let found = hours.iter().find(|h| h.hour == hour);
            let posted = found.map_or(0, |h| h.count(AuditStage::Posted));
            let failed = found.map_or(0, |h| h.count(AuditStage::Failed));
            (hour, posted, failed)
        })
        .collect();
    let top = slots.iter().map(|s| s.1.max(s.2)).max().unwrap_or(0).max(1);
    let (width, height, base) = (24 * 30 + 40, 170, 140);
    // Heights in whole pixels, rounded, by integer arithmetic (n <= top).
    let bar = |n: u64| (n.saturating_mul(120).saturating_add(top / 2) / top) as i64;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height) role="img"
            aria-label="posted and failed records per hour, last 24 hours" {
            line x1="30" y1=(base) x2=(width) y2=(base) stroke="#8893a5" {}
            text x="0" y="24" font-size="11" fill="#6b7687" { (top) }
            @for (i, (hour, posted, failed)) in slots.iter().enumerate() {
                @let x = 34 + i as i64 * 30;
                rect x=(x) y=(base - bar(*posted)) width="12" height=(bar(*posted)) fill="#1b7f3b" {
                    title { (hour.format("%H:00")) ": " (posted) " posted" }
                }
                rect x=(x + 13) y=(base - bar(*failed)) width="12" height=(bar(*failed)) fill="#b3261e" {
                    title { (hour.format("%H:00")) ": " (failed) " failed" }
                }
                @if i % 6 == 0 {
                    text x=(x) y=(base + 16) font-size="11" fill="#6b7687" { (hour.format("%H:00")) }
                }
            }
        }
    }
}

pub fn overview(frame: &Frame, rows: &[ConnectionOverview], queued: u64, dead: u64, now: DateTime<Utc>) -> String {
    let body = html! {
        div.cards {
            div.card { "queued to post" b { (queued) } }
            div.card { "dead letters" b.bad[dead > 0] { (dead) } }
        }
        @for o in rows {
            h2 { "Connection " (o.connection.id) " · " (o.connection.source.as_str()) }
            div.cards {
                div.card { "posted today" b #(format!("posted-today-{}", o.connection.id)) { (o.posted_today) } }
                div.card { "posted this month" b { (o.posted_month) } }
                div.card { "failed records" b.bad[o.failed_total > 0] #(format!("failed-{}", o.connection.id)) { (o.failed_total) } }
                div.card { "last successful poll"
                    b { @match o.last_poll { Some(t) => (t.format("%H:%M UTC")), None => "never" } }
                    @if let Some(t) = o.last_poll { span.muted { (t.format("%Y-%m-%d")) } }
                }
                div.card { "taken in, last 24 h"
                    b { (o.received_24h) }
                    span.bad[o.refused_24h > 0] #(format!("refused-{}", o.connection.id)) { (o.refused_24h) " webhooks refused" }
                }
            }
            @if o.connection.paused { p.notice { "This connection is paused: webhooks are taken, nothing is posted." } }
            h2 { "Posted and failed per hour (UTC)" }
            (hourly_chart(&o.hours, now))
            @if !o.failures.is_empty() {
                h2 { "Failures by reason" }
                (failure_groups(frame, &o.connection, &o.failures))
            }
        }
        @if rows.is_empty() { p { "No connection yet: add one with " code { "mlc connection add" } "." } }
    };
    layout(frame, "Overview", body)
}

fn failure_groups(frame: &Frame, connection: &Connection, groups: &[FailureGroup]) -> Markup {
    html! {
        table {
            tr { th { "records" } th { "reason" } th { "suggested fix" } th {} }
            @for g in groups {
                tr {
                    td.n { (g.count) }
                    td { (g.example) }
                    td.fix { (g.fix) }
                    td { form.inline method="post" action="/console/replay" {
                        input type="hidden" name="csrf" value=(frame.csrf);
                        input type="hidden" name="connection" value=(connection.id);
                        input type="hidden" name="reason" value=(g.key);
                        button type="submit" { "Replay all " (g.count) }
                    } }
                }
            }
        }
    }
}

pub fn failures(frame: &Frame, connection: &Connection, records: &[FailedRecord], groups: &[FailureGroup]) -> String {
    let body = html! {
        @if records.is_empty() { p.ok { "Nothing failed on " (connection.id) "." } }
        @else {
            (failure_groups(frame, connection, groups))
            h2 { "Each failed record" }
            form method="post" action="/console/replay" #replay-selected {
                input type="hidden" name="csrf" value=(frame.csrf);
                input type="hidden" name="connection" value=(connection.id);
                table {
                    tr { th {} th { "record" } th { "failed at" } th { "reason" } th { "suggested fix" } th {} }
                    @for r in records {
                        @let key = format!("{}:{}", r.kind, r.source_id);
                        tr #(format!("failed-{}-{}", r.kind, r.source_id)) {
                            td { input type="checkbox" name="record" value=(key); }
                            td { a href=(format!("/console/trace?connection={}&q={}", connection.id, r.source_id)) { (r.kind) " " (r.source_id) } }
                            td { (at(r.failed_at)) }
                            td.reason { (r.reason) }
                            td.fix { (super::fixes::suggested_fix(&r.reason)) }
                            td { button type="submit" name="only" value=(key) { "Replay" } }
                        }
                    }
                }
                button type="submit" #replay-checked { "Replay the selected records" }
            }
        }
    };
    layout(frame, "Failures", body)
}

pub fn trace(frame: &Frame, connection: &Connection, query: &str, steps: &[TraceStep], error: Option<&str>) -> String {
    let body = html! {
        form method="get" action="/console/trace" {
            input type="hidden" name="connection" value=(connection.id);
            input type="search" name="q" value=(query) placeholder="order number, refund id or Odoo move name" size="40";
            " " button type="submit" { "Trace" }
        }
        @if let Some(e) = error { p.bad { (e) } }
        @if !query.is_empty() && steps.is_empty() && error.is_none() { p { "Nothing in the audit trail for " (query) "." } }
        @if !steps.is_empty() {
            ol.timeline {
                @for s in steps {
                    li class=(s.entry.stage.as_str()) {
                        strong { (s.label) } " · " span.muted { (at(s.entry.at)) } " · " (s.entry.kind) " " (s.entry.source_id)
                        @if let Some(store) = &s.store_link { " · " a href=(store) { "in the store" } }
                        @if let (Some(odoo), Some(link)) = (&s.entry.odoo, &s.odoo_link) { " · " a href=(link) { "Odoo " (odoo) } }
                        br;
                        span.message { (s.entry.message) }
                        @for rule in &s.rules { br; span.muted { (rule) } }
                    }
                }
            }
        }
    };
    layout(frame, "Trace", body)
}

pub fn preview(
    frame: &Frame,
    connection: &Connection,
    id: &str,
    preview: Option<&Preview>,
    error: Option<&str>,
) -> String {
    let body = html! {
        form method="get" action="/console/preview" {
            input type="hidden" name="connection" value=(connection.id);
            input type="text" name="id" value=(id) placeholder="store order (or invoice) id";
            " " button type="submit" { "Preview" }
        }
        p.muted { "What the document would become in Odoo, rule by rule. Nothing is written." }
        @if let Some(e) = error { p.bad { (e) } }
        @if let Some(p) = preview { (preview_table(p)) }
    };
    layout(frame, "Preview", body)
}

fn preview_table(p: &Preview) -> Markup {
    let plan = &p.plan;
    html! {
        p { "Mapping rules v" (p.rules_version) "; store status " (p.status) ": "
            @if p.posts { span.ok { "posts as a " (if p.post { "posted " } else { "draft " }) (plan.move_type) } }
            @else { span.bad { "does not post" } }
        }
        @if let Some(existing) = &p.already_in_odoo { p.notice { "Already in Odoo as " (existing) "." } }
        table #preview-lines {
            tr { th { "line" } th { "account" } th { "cost centers" } th { "qty" } th { "net" } th { "why" } }
            @for l in &plan.lines {
                tr {
                    td { (l.name) } td { (l.account_code) }
                    td { @for (id, pct) in &l.analytic { (id) ": " (pct.normalize()) "% " } }
                    td.n { (l.quantity.normalize()) } td.n { (l.amount) } td { (l.reason()) }
                }
            }
        }
        p #preview-total { "Total in Odoo " strong { (plan.expected_total) } " = store total " strong { (plan.store_total) }
            @if !plan.rounding.is_zero() { " (rounding line " (plan.rounding) ")" } }
    }
}

pub fn reconciliation(frame: &Frame, connection: &Connection, report: Option<&ReconcileReport>) -> String {
    let today = Utc::now().date_naive();
    let body = html! {
        @match report {
            None => p { "No reconciliation has run for " (connection.id) " yet." },
            Some(r) => {
                p { "Last run: " (r.from.format("%Y-%m-%d")) " .. " ((r.to - Duration::seconds(1)).format("%Y-%m-%d"))
                    ": " (r.store_documents) " store documents, " (r.odoo_documents) " in Odoo; "
                    strong.bad[!r.discrepancies.is_empty()] #reconcile-gaps { (r.gaps()) } "; "
                    (r.backfilled) " sent again; " (r.store_requests) " store and " (r.odoo_requests) " Odoo requests." }
                @if !r.discrepancies.is_empty() {
                    table {
                        tr { th { "gap" } th { "record" } th { "store total" } th { "in Odoo" } th { "sent again" } }
                        @for d in &r.discrepancies {
                            tr {
                                td { (d.gap.as_str()) } td { (d.kind) " " (d.source_id) }
                                td.n { @if let Some(t) = d.store_total { (t) } @else { "-" } }
                                td { @for o in &d.odoo { (o.name) " (" (o.odoo) "): " (o.total) br; } }
                                td { @if d.backfilled { "yes" } @else { "no" } }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Reconcile and backfill" }
        p.muted { "Compares the store's documents of the period with Odoo's; what is missing is sent again and posted once. Duplicates and differences are only reported." }
        form method="post" action="/console/reconcile" {
            input type="hidden" name="csrf" value=(frame.csrf);
            input type="hidden" name="connection" value=(connection.id);
            "from " input type="date" name="from" value=((today - Duration::days(1)).to_string());
            " to " input type="date" name="to" value=(today.to_string());
            " " button type="submit" #backfill { "Reconcile and backfill what is missing" }
        }
    };
    layout(frame, "Reconciliation", body)
}

pub fn settings(frame: &Frame, connection: &Connection, statuses: &str, editable: bool) -> String {
    use crate::ports::Retention;
    let options = [(Retention::Days30, "30 days"), (Retention::Days60, "60 days"), (Retention::Never, "never expire")];
    let body = html! {
        table {
            tr { th { "store" } td { (connection.source.as_str()) " at " (connection.store_url) } }
            tr { th { "Odoo" } td { (connection.odoo_url) } }
            tr { th { "posting statuses" } td #posting-statuses { (statuses) br; span.muted { "set in the mapping rules (posting.post_statuses): " code { "mlc mappings set" } } } }
            tr { th { "audit retention" } td {
                @if editable {
                    form method="post" action="/console/settings" {
                        input type="hidden" name="csrf" value=(frame.csrf);
                        input type="hidden" name="connection" value=(connection.id);
                        select name="retention" {
                            @for (r, label) in options {
                                option value=(r.as_str()) selected[connection.audit_retention == r] { (label) }
                            }
                        }
                        " " button type="submit" { "Save" }
                    }
                } @else {
                    (options.iter().find(|o| o.0 == connection.audit_retention).map_or("", |o| o.1))
                    br; span.muted { "read-only: a deployed stack's settings are its connection record's" }
                }
            } }
        }
    };
    layout(frame, "Settings", body)
}
