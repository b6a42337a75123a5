//! Adobe Commerce end to end: invoices by webhook and by poll as journal entries (or customer
//! invoices), credit memos with adjustments, customers, IMS tokens and bad signatures.

use std::collections::BTreeMap;

use adobe_sandbox::fixtures::{invoice_number, memo_number, order_number};
use adobe_sandbox::{Item, MemoSpec, Mode, OrderSpec};
use blackbox::Family;
use blackbox::harness::LedgerLine;
use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use shared::ids::SourceId;
use shared::odoo::Val;
use shared::ports::AuditStage;
use shared::records::EntityKind;

use super::setup::{Setup, journal_rules};

/// A hoodie twice, a configurable hoodie (parent priced, child zero) and a dynamic bundle of
/// two gear children (parent repeating them): 180.00 + 10.00 shipping + 20% tax = 228.00.
fn hoodies_and_gear() -> Vec<Item> {
    vec![
        Item::simple("HOODIE-S", dec!(40), 2, 4),
        Item::Configurable { sku: "HOODIE-CFG".into(), child_sku: "HOODIE-CFG-M".into(), price: dec!(60), category: 4 },
        Item::Bundle {
            sku: "GEAR-KIT".into(),
            children: vec![("GEAR-BOTTLE".into(), dec!(15)), ("GEAR-MAT".into(), dec!(25))],
            category: 5,
        },
    ]
}

fn spec(entity: i64, customer: Option<i64>, at: chrono::DateTime<Utc>, items: Vec<Item>) -> OrderSpec {
    OrderSpec { tax_percent: dec!(20), ..OrderSpec::new(entity, customer, at, items) }
}

fn money(v: &Value) -> Decimal {
    Decimal::from_f64_retain(v.as_f64().unwrap()).unwrap().round_dp(2)
}

/// Debit and credit per account.
fn by_account(lines: &[LedgerLine]) -> BTreeMap<String, (Decimal, Decimal)> {
    let mut out: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for l in lines {
        let e = out.entry(l.account.clone()).or_default();
        e.0 += l.debit;
        e.1 += l.credit;
    }
    out
}

fn assert_balanced(lines: &[LedgerLine], total: Decimal) {
    let debit: Decimal = lines.iter().map(|l| l.debit).sum();
    let credit: Decimal = lines.iter().map(|l| l.credit).sum();
    assert_eq!((debit, credit), (total, total), "balanced at the store's total: {lines:#?}");
}

fn cost_centers(lines: &[LedgerLine], account: &str) -> Vec<BTreeMap<String, Decimal>> {
    lines.iter().filter(|l| l.account == account).map(|l| l.analytic.clone()).collect()
}

fn one_cc(code: &str) -> BTreeMap<String, Decimal> {
    BTreeMap::from([(code.to_string(), dec!(100))])
}

async fn invoices_post_once_and_a_memo_reverses_its_lines(family: Family, mode: Mode) {
    let s = Setup::start(family, mode, journal_rules()).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(2);

    // By webhook: the order is only noted, its invoice is booked.
    s.store.add_order(&spec(1, Some(7), t0, hoodies_and_gear()));
    let hook =
        s.deliver("sales_order_save_after", "order", json!({ "entity_id": 1, "increment_id": order_number(1) })).await;
    assert!(!hook.blocked && hook.status == 200, "{hook:?}");
    let invoice = s.store.invoice_order(1, 1, t0 + Duration::minutes(1));
    let hook = s.deliver("sales_order_invoice_save_after", "invoice", json!({ "entity_id": 1, "order_id": 1 })).await;
    assert!(!hook.blocked, "{hook:?}");
    let reports = s.h.drain(&poster).await;
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{failed:?} {reports:?}");
    assert!(s.h.moves(":order:", "entry").is_empty(), "an order books nothing by itself");
    let entries = s.h.moves(&format!(":invoice:{}:", invoice_number(1)), "entry");
    assert_eq!(entries.len(), 1, "{reports:?}");
    let total = money(&invoice["grand_total"]);
    assert_eq!(total, dec!(228));
    let lines = s.h.ledger_lines(entries[0]);
    assert_balanced(&lines, total);
    let accounts = by_account(&lines);
    assert_eq!(accounts["121000"], (dec!(228), dec!(0)), "the receivable");
    assert_eq!(accounts["400100"], (dec!(0), dec!(140)), "hoodies: 2 × 40 + the configurable's 60, once");
    assert_eq!(accounts["400000"], (dec!(0), dec!(40)), "gear: the bundle's children, not its parent too");
    assert_eq!(accounts["410000"], (dec!(0), dec!(10)), "shipping");
    assert_eq!(accounts["445710"], (dec!(0), dec!(38)), "tax, items and shipping");
    assert_eq!(lines.iter().filter(|l| l.account == "400100").count(), 2, "the configurable's child is no line");
    assert_eq!(lines.iter().filter(|l| l.account == "400000").count(), 2, "the bundle's parent is no line");
    assert_eq!(cost_centers(&lines, "400100"), vec![one_cc("CC-EU"); 2]);
    assert_eq!(cost_centers(&lines, "400000"), vec![one_cc("CC-US"); 2]);

    // The trail, both ways: the order's increment id leads to the entry, the entry back to it.
    let audit = s.h.family.audit();
    let order_id = SourceId::parse(order_number(1)).unwrap();
    let trail = audit.by_source(&s.h.connection, EntityKind::Order, &order_id).await.unwrap();
    let posted = trail.iter().find(|a| a.stage == AuditStage::Posted).expect("the order's trail names its entry");
    let odoo = posted.odoo.clone().unwrap();
    assert_eq!(odoo.id, entries[0]);
    let back = audit.by_odoo(&s.h.connection, &odoo).await.unwrap();
    assert!(back.iter().any(|a| a.source_id.as_str() == invoice_number(1)), "{back:?}");

    // Only the poller sees this one: a wholesale order in the German store view.
    let t1 = t0 + Duration::minutes(10);
    s.store.add_order(&OrderSpec {
        group_id: 2,
        store_id: 2,
        ..spec(2, Some(8), t1, vec![Item::simple("HOODIE-S", dec!(40), 3, 4)])
    });
    let quiet_invoice = s.store.invoice_order(2, 2, t1 + Duration::minutes(1));
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    let found = s.h.moves(&format!(":invoice:{}:", invoice_number(2)), "entry");
    assert_eq!(found.len(), 1);
    let lines = s.h.ledger_lines(found[0]);
    assert_balanced(&lines, money(&quiet_invoice["grand_total"]));
    assert_eq!(by_account(&lines)["400200"], (dec!(0), dec!(120)), "the wholesale rule, by group and store view");
    assert_eq!(cost_centers(&lines, "400200"), vec![one_cc("CC-WHS")]);
    assert_eq!(s.h.moves(&format!(":invoice:{}:", invoice_number(1)), "entry").len(), 1, "read again, booked once");
    assert!(s.h.moves(":order:", "entry").is_empty());

    // A partial credit memo: one hoodie back, 5.00 kept as an adjustment fee: 40 + 8 - 5 = 43.
    let memo = MemoSpec { rows: vec![(101, 1)], adjustment_negative: dec!(5), ..MemoSpec::default() };
    let credit = s.store.refund(1, 1, &memo, Utc::now());
    assert_eq!(money(&credit["grand_total"]), dec!(43));
    let hook =
        s.deliver("sales_order_creditmemo_save_after", "creditmemo", json!({ "entity_id": 1, "order_id": 1 })).await;
    assert!(!hook.blocked);
    let reports = s.h.drain(&poster).await;
    let reversals = s.h.moves(&format!(":refund:{}:", memo_number(1)), "entry");
    assert_eq!(reversals.len(), 1, "{reports:?}");
    let lines = s.h.ledger_lines(reversals[0]);
    assert_balanced(&lines, dec!(48));
    let accounts = by_account(&lines);
    assert_eq!(accounts["121000"], (dec!(0), dec!(43)), "the customer gets 43.00 back");
    assert_eq!(accounts["400100"], (dec!(40), dec!(0)), "exactly the hoodie");
    assert_eq!(accounts["445710"], (dec!(8), dec!(0)), "and its tax");
    assert_eq!(accounts["420000"], (dec!(0), dec!(5)), "the fee kept, on its own account");
    assert_eq!(accounts.len(), 4, "no shipping, no other line: {lines:#?}");
    let reversed = s.h.odoo.read("account.move", &reversals, &["reversed_entry_id"]).remove(0);
    assert_eq!(reversed.get("reversed_entry_id").and_then(Val::many2one_id), Some(entries[0]), "linked to its invoice");

    s.assert_no_store_writes();
}

pub async fn paas_invoices_post_once_as_balanced_entries_and_a_memo_reverses_its_lines(family: Family) {
    invoices_post_once_and_a_memo_reverses_its_lines(family, Mode::Paas).await
}

pub async fn saas_invoices_post_once_as_balanced_entries_and_a_memo_reverses_its_lines(family: Family) {
    invoices_post_once_and_a_memo_reverses_its_lines(family, Mode::Saas).await
}

/// A warm poller holds one IMS token; when the token stops working mid-run, the next request is
/// refused once, one new token is minted, and the same poll reads on.
pub async fn an_expired_ims_token_is_refreshed_once_and_the_poll_goes_on(family: Family) {
    let s = Setup::start(family, Mode::Saas, journal_rules()).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    s.store.add_order(&spec(1, None, t0, vec![Item::simple("HOODIE-S", dec!(40), 1, 4)]));
    s.store.invoice_order(1, 1, t0 + Duration::minutes(1));
    s.poll(t0 - Duration::hours(1)).await;
    assert_eq!(s.store.tokens_issued(), 1, "one token for the whole poll");

    s.store.add_order(&spec(2, None, t0 + Duration::minutes(5), vec![Item::simple("GEAR-MAT", dec!(25), 1, 5)]));
    s.store.invoice_order(2, 2, t0 + Duration::minutes(6));
    s.store.expire_tokens();
    let refused = s.store.refused();
    let report = s.poll(t0 - Duration::hours(1)).await;
    assert_eq!(s.store.tokens_issued(), 2, "refreshed once");
    assert_eq!(s.store.refused(), refused + 1, "one refusal, then the new token worked");
    assert!(report.records_queued > 0, "{report:?}");
    s.h.drain(&poster).await;
    for n in [1, 2] {
        assert_eq!(s.h.moves(&format!(":invoice:{}:", invoice_number(n)), "entry").len(), 1, "invoice {n}");
    }
    s.assert_no_store_writes();
}

/// A queue that is down.
struct DownQueue;

#[async_trait::async_trait]
impl shared::ports::RecordQueue for DownQueue {
    async fn send_batch(&self, _: &[shared::ports::OutgoingMessage]) -> shared::Result<()> {
        Err(shared::Error::retryable(anyhow::anyhow!("the queue is unreachable")))
    }
}

/// Forged or unsigned deliveries are refused and queue nothing, yet the answer is still the
/// success Commerce needs to finish the shopper's checkout. So is the answer when our own queue
/// is down: the trail says so, and the poller books the record.
pub async fn a_bad_signature_queues_nothing_and_never_blocks_the_store(family: Family) {
    let s = Setup::start(family, Mode::Paas, journal_rules()).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::minutes(30);
    s.store.add_order(&spec(1, None, t0, vec![Item::simple("HOODIE-S", dec!(40), 1, 4)]));
    s.store.invoice_order(1, 1, t0 + Duration::minutes(1));
    let data = json!({ "entity_id": 1, "order_id": 1 });
    // Signed with the store's own key, but over another body.
    let other =
        json!({ "eventName": "observer.sales_order_invoice_save_after", "data": { "invoice": { "entity_id": 2 } } });
    let key = &s.store.options().webhook_private_key;
    let forged = adobe_sandbox::signing::sign(key, adobe_sandbox::signing::php_json(&other).as_bytes());
    for signature in [forged.as_str(), "bm90IGEgc2lnbmF0dXJl", ""] {
        let event = "observer.sales_order_invoice_save_after";
        let answer = s.store.deliver(&s.hooks, event, "invoice", data.clone(), Some(signature)).await;
        assert_eq!((answer.status, answer.blocked), (200, false), "{answer:?}");
        assert_eq!(serde_json::from_str::<Value>(&answer.body).unwrap(), json!({ "op": "success" }));
    }
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0, "nothing was queued");
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0);
    assert_eq!(s.store.requests(), 0, "nothing was read on a refused delivery's word");

    // Signed and valid, but our fetch queue is down: still success, and the trail says so.
    let deps = shared::stores::webhook::StoreDeps { fetch_queue: std::sync::Arc::new(DownQueue), ..s.h.store_deps() };
    let down = std::sync::Arc::new(shared::stores::Stores::standard(deps));
    let (url, _server) = shared::serve::on_loopback(shared::serve::webhook_router(down)).await.unwrap();
    let hooks = format!("{url}/webhooks/adobe-commerce/{}", s.h.connection);
    let answer = s.store.deliver(&hooks, "observer.sales_order_invoice_save_after", "invoice", data, None).await;
    assert_eq!((answer.status, answer.blocked), (200, false), "{answer:?}");
    let trail =
        s.h.family
            .audit()
            .by_source(&s.h.connection, EntityKind::Invoice, &SourceId::parse("1").unwrap())
            .await
            .unwrap();
    assert!(trail.iter().any(|a| a.message.contains("answered success so the store's operation goes on")), "{trail:?}");
    assert_eq!(s.h.fetches.approximate_depth().await.unwrap(), 0);
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;
    assert_eq!(s.h.moves(&format!(":invoice:{}:", invoice_number(1)), "entry").len(), 1, "the poller booked it");
    s.assert_no_store_writes();
}

/// Invoice mode: the invoice becomes a posted customer invoice at the store's total, the memo a
/// credit note against it; the customer arrives once as a partner with its two addresses.
pub async fn invoice_mode_posts_customer_invoices_and_credit_notes_and_customers_once(family: Family) {
    let mut rules = journal_rules();
    rules["posting"]["mode"] = "invoice".into();
    let s = Setup::start(family, Mode::Paas, rules).await;
    let poster = s.h.poster();
    let t0 = Utc::now() - Duration::hours(1);
    s.store.add_customer(7, "jane@example.com", 1, t0);
    for _ in 0..2 {
        let hook = s.deliver("customer_save_after", "customer", json!({ "entity_id": 7 })).await;
        assert!(!hook.blocked);
    }
    s.store.add_order(&spec(1, Some(7), t0, hoodies_and_gear()));
    let invoice = s.store.invoice_order(1, 1, t0 + Duration::minutes(1));
    s.deliver("sales_order_invoice_save_after", "invoice", json!({ "entity_id": 1, "order_id": 1 })).await;
    let memo = MemoSpec { rows: vec![(105, 1)], shipping: true, adjustment_positive: dec!(2), ..MemoSpec::default() };
    let credit = s.store.refund(1, 1, &memo, t0 + Duration::minutes(2));
    s.h.drain(&poster).await;
    s.deliver("sales_order_creditmemo_save_after", "creditmemo", json!({ "entity_id": 1 })).await;
    s.h.drain(&poster).await;
    s.poll(t0 - Duration::hours(1)).await;
    s.h.drain(&poster).await;

    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let invoices = s.h.moves(&format!(":invoice:{}:", invoice_number(1)), "out_invoice");
    assert_eq!(invoices.len(), 1);
    assert_eq!(s.h.move_total(invoices[0]), money(&invoice["grand_total"]));
    let notes = s.h.moves(&format!(":refund:{}:", memo_number(1)), "out_refund");
    assert_eq!(notes.len(), 1);
    // The bottle (15 + 3 tax), the shipping (10 + 2) and a 2.00 adjustment refund: 32.00.
    assert_eq!(money(&credit["grand_total"]), dec!(32));
    assert_eq!(s.h.move_total(notes[0]), dec!(32));
    let note = s.h.odoo.read("account.move", &notes, &["reversed_entry_id"]).remove(0);
    assert_eq!(note.get("reversed_entry_id").and_then(Val::many2one_id), Some(invoices[0]));
    let accounts = by_account(&s.h.ledger_lines(notes[0]));
    assert_eq!(accounts["420000"].0, dec!(2), "the adjustment refund on its own account");

    // Another order currency: booked in what the shopper paid, the base figures in the trail.
    let dollars = OrderSpec {
        currency: "USD".into(),
        base_rate: dec!(0.9),
        ..spec(2, None, t0 + Duration::minutes(3), vec![Item::simple("GEAR-MAT", dec!(25), 2, 5)])
    };
    s.store.add_order(&dollars);
    let usd = s.store.invoice_order(2, 2, t0 + Duration::minutes(4));
    s.deliver("sales_order_invoice_save_after", "invoice", json!({ "entity_id": 2, "order_id": 2 })).await;
    s.h.drain(&poster).await;
    let found = s.h.moves(&format!(":invoice:{}:", invoice_number(2)), "out_invoice");
    assert_eq!(found.len(), 1);
    assert_eq!(s.h.move_total(found[0]), money(&usd["grand_total"]), "50.00 + 10.00 shipping + 20% = 72.00 USD");
    let currency = s.h.odoo.read("account.move", &found, &["currency_id"]).remove(0);
    let name = currency.get("currency_id").and_then(|c| c.as_list().and_then(|l| l.get(1).cloned()));
    assert_eq!(name.as_ref().and_then(Val::as_str), Some("USD"));
    let audit = s.h.family.audit();
    let number = SourceId::parse(invoice_number(2)).unwrap();
    let trail = audit.by_source(&s.h.connection, EntityKind::Invoice, &number).await.unwrap();
    let posted = trail.into_iter().find(|a| a.stage == AuditStage::Posted).expect("posted");
    let base = &posted.details["base"];
    let figure = |k: &str| base[k].as_str().and_then(|v| v.parse::<Decimal>().ok());
    assert_eq!(base["currency"].as_str(), Some("EUR"), "{base}");
    assert_eq!(figure("total"), Some(money(&usd["base_grand_total"])), "64.80 EUR at 0.9: {base}");

    let leaf = |f: &str, v: Val| Val::list([Val::from(f), Val::from("="), v]);
    let partners = s.h.odoo.search("res.partner", Val::list([leaf("ref", Val::from("7"))]));
    assert_eq!(partners.len(), 1, "one partner for customer 7, however often it came");
    let addresses = s.h.odoo.search("res.partner", Val::list([leaf("parent_id", Val::Int(partners[0]))]));
    assert_eq!(addresses.len(), 1, "the shipping address; the billing one is the partner's own");
    let own = s.h.odoo.read("res.partner", &partners, &["city"]).remove(0);
    assert_eq!(own.get("city").and_then(Val::as_str), Some("Köln"));
    let delivery = s.h.odoo.read("res.partner", &addresses, &["type", "city"]).remove(0);
    assert_eq!(delivery.get("type").and_then(Val::as_str), Some("delivery"));
    assert_eq!(delivery.get("city").and_then(Val::as_str), Some("Bonn"));
    let partner = s.h.odoo.read("account.move", &invoices, &["partner_id"]).remove(0);
    let billed = partner.get("partner_id").and_then(Val::many2one_id).unwrap();
    assert!(billed == partners[0] || addresses.contains(&billed), "the invoice is the customer's");
    s.assert_no_store_writes();
}

/// What sales-order rules can name: websites, stores and store views (the admin scope left
/// out), customer groups, attribute sets, and the payment and shipping methods of the latest
/// orders (Adobe Commerce lists those per cart only). Reads only.
async fn master_data_in(family: Family, mode: Mode) {
    let s = Setup::start(family, mode, journal_rules()).await;
    s.store.add_order(&spec(950, None, Utc::now() - Duration::hours(1), hoodies_and_gear()));
    let connection = s.h.family.connections().connection(&s.h.connection).await.unwrap().unwrap();
    let secrets = s.h.family.secrets().get(&s.h.connection).await.unwrap().unwrap();
    let store = s.stores.for_connection(&connection).unwrap();
    let master = store.checks().master_data(&connection, &secrets).await.unwrap();
    let scopes: Vec<String> = master.scopes.iter().map(|(kind, n)| format!("{kind} {}", n.code)).collect();
    assert_eq!(scopes, ["website base", "store main_website_store", "store view default", "store view de"]);
    let names = |items: &[shared::stores::Named]| items.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&master.attribute_sets), ["Default", "Top", "Gear"]);
    assert!(names(&master.customer_groups).contains(&"Wholesale".to_string()));
    let pairs =
        |items: &[shared::stores::Named]| items.iter().map(|n| (n.code.clone(), n.name.clone())).collect::<Vec<_>>();
    assert_eq!(pairs(&master.payment_methods), [("checkmo".to_string(), "Check / Money order".to_string())]);
    assert_eq!(pairs(&master.shipping_methods), [("flatrate_flatrate".to_string(), "Flat Rate - Fixed".to_string())]);
    assert!(master.notes[0].contains("1 latest orders"), "{:?}", master.notes);
    s.assert_no_store_writes();
}

pub async fn paas_master_data_for_sales_rules_is_read(family: Family) {
    master_data_in(family, Mode::Paas).await
}

pub async fn saas_master_data_for_sales_rules_is_read(family: Family) {
    master_data_in(family, Mode::Saas).await
}
