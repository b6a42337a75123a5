use std::collections::BTreeMap;
use std::str::FromStr;

use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shared::ids::{ConnectionId, CurrencyCode, OdooRef, Sku, SourceId};
use shared::odoo::Val;
use shared::ports::{AuditStage, SaveRules};
use shared::poster::RecordOutcome;
use shared::records::*;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn tax(rate: &str, amount: &str) -> Vec<LineTax> {
    vec![LineTax { rate_id: rate.into(), label: None, rate_percent: None, amount: d(amount) }]
}

#[allow(clippy::too_many_arguments)]
pub fn line(
    id: &str,
    sku: &str,
    name: &str,
    category: &[&str],
    qty: &str,
    subtotal: &str,
    discount: &str,
    rate: &str,
    tax_amount: &str,
) -> SalesLine {
    let subtotal = d(subtotal);
    let discount = d(discount);
    SalesLine {
        line_id: id.into(),
        sku: Some(Sku::parse(sku).unwrap()),
        name: name.into(),
        product_id: None,
        variant_id: None,
        category_path: category.iter().map(|c| c.to_string()).collect(),
        quantity: d(qty),
        unit_price: subtotal / d(qty),
        subtotal,
        discount,
        total: subtotal - discount,
        taxes: tax(rate, tax_amount),
    }
}

/// Three lines with two tax rates, a coupon on the first, and shipping:
/// 35.98 + 12.50 + 15.00 = 63.48 net, shipping 4.90, tax 7.20 + 0.69 + 3.00 + 0.98 = 11.87, total 80.25.
pub fn order(number: &str, customer: &str) -> SalesDocument {
    let mut o = samples::order();
    o.number = number.into();
    o.customer = CustomerRef::Registered {
        source_id: SourceId::parse(customer).unwrap(),
        email: Some(format!("{customer}@example.com")),
        group: None,
    };
    o.lines = vec![
        line("1", "SHIRT-M", "Shirt (M)", &["Apparel", "Shirts"], "2", "39.98", "4.00", "1", "7.20"),
        line("2", "BOOK-1", "Rust in Action", &["Books"], "1", "12.50", "0", "2", "0.69"),
        line("3", "HAT-1", "Hat", &["Apparel", "Hats"], "1", "15.00", "0", "1", "3.00"),
    ];
    o.shipping = vec![ShippingLine {
        line_id: "9".into(),
        method_id: None,
        title: "Flat rate".into(),
        total: d("4.90"),
        taxes: tax("1", "0.98"),
    }];
    o.totals = Totals {
        subtotal: d("67.48"),
        discount: d("4.00"),
        shipping: d("4.90"),
        fees: d("0"),
        tax: d("11.87"),
        total: d("80.25"),
    };
    o
}

/// The book (line 2 of `order`) refunded: 12.50 + 0.69 = 13.19.
pub fn book_refund(order: &str, at: chrono::DateTime<Utc>) -> Refund {
    Refund {
        order_id: SourceId::parse(order).unwrap(),
        invoice_id: None,
        created_at: at,
        currency: CurrencyCode::parse("EUR").unwrap(),
        reason: None,
        lines: vec![RefundLine {
            order_line_id: "2".into(),
            sku: None,
            quantity: dec!(-1),
            amount: dec!(-12.50),
            taxes: tax("2", "-0.69"),
        }],
        shipping: dec!(0),
        shipping_line_id: None,
        shipping_tax: dec!(0),
        unallocated: dec!(0),
        amount: dec!(13.19),
        adjustments: Default::default(),
    }
}

pub fn envelope(source_id: &str, record: Record) -> Envelope {
    Envelope::new(
        ConnectionId::parse(blackbox::harness::CONNECTION).unwrap(),
        SourceSystem::Woocommerce,
        SourceId::parse(source_id).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
        record,
    )
}

pub fn moves_for(h: &Harness, marker_part: &str) -> Vec<i64> {
    h.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::from(marker_part)])]),
    )
}

pub fn posted(report: &shared::poster::BatchReport) -> Vec<OdooRef> {
    report
        .outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            RecordOutcome::Posted { odoo, .. } => Some(odoo.clone()),
            _ => None,
        })
        .collect()
}

pub fn read_one(h: &Harness, model: &str, id: i64, fields: &[&str]) -> Val {
    h.odoo.read(model, &[id], fields).remove(0)
}

fn account_code(h: &Harness, line: &Val) -> String {
    let id = line.get("account_id").and_then(Val::many2one_id).unwrap();
    read_one(h, "account.account", id, &["code"]).get("code").and_then(Val::as_str).unwrap().to_string()
}

fn analytic_codes(h: &Harness, line: &Val) -> BTreeMap<String, Decimal> {
    line.get("analytic_distribution")
        .and_then(Val::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let code = read_one(h, "account.analytic.account", k.parse().unwrap(), &["code"])
                        .get("code")
                        .and_then(Val::as_str)
                        .unwrap()
                        .to_string();
                    (code, v.as_decimal().unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn product_lines(h: &Harness, move_id: i64) -> Vec<Val> {
    let m = read_one(h, "account.move", move_id, &["invoice_line_ids"]);
    let ids: Vec<i64> =
        m.get("invoice_line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    h.odoo.read(
        "account.move.line",
        &ids,
        &["name", "account_id", "analytic_distribution", "price_subtotal", "tax_ids", "quantity"],
    )
}

pub async fn an_order_posts_on_the_accounts_its_rules_choose(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let e = envelope("1042", Record::Order(order("1042", "77")));
    let report = h.post(&poster, &[&e]).await;
    let moves = posted(&report);
    assert_eq!(moves.len(), 1, "{:?}", report.outcomes);
    let id = moves[0].id;

    let m = read_one(
        &h,
        "account.move",
        id,
        &["state", "move_type", "amount_untaxed", "amount_tax", "amount_total", "partner_id", "name"],
    );
    assert_eq!(m.get("state"), Some(&Val::from("posted")));
    assert_eq!(m.get("move_type"), Some(&Val::from("out_invoice")));
    // The Odoo total equals the store's to the cent.
    assert_eq!(m.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
    assert_eq!(m.get("amount_tax").and_then(Val::as_decimal), Some(dec!(11.87)));

    let lines = product_lines(&h, id);
    let summary: Vec<(String, String, Decimal, BTreeMap<String, Decimal>)> = lines
        .iter()
        .map(|l| {
            (
                l.get("name").and_then(Val::as_str).unwrap().to_string(),
                account_code(&h, l),
                l.get("price_subtotal").and_then(Val::as_decimal).unwrap(),
                analytic_codes(&h, l),
            )
        })
        .collect();
    let eu = BTreeMap::from([("CC-EU".to_string(), dec!(100))]);
    assert_eq!(
        summary,
        vec![
            ("Shirt (M)".into(), "400100".into(), dec!(35.98), eu.clone()),
            (
                "Rust in Action".into(),
                "400200".into(),
                dec!(12.50),
                BTreeMap::from([("CC-EU".to_string(), dec!(60)), ("CC-WHS".to_string(), dec!(40))])
            ),
            ("Hat".into(), "400100".into(), dec!(15.00), eu.clone()),
            ("Flat rate".into(), "410000".into(), dec!(4.90), eu),
        ]
    );
    // Tax sits on the tax account, by rate.
    let all = h.odoo.search(
        "account.move.line",
        Val::list([
            Val::list([Val::from("move_id"), Val::from("="), Val::Int(id)]),
            Val::list([Val::from("display_type"), Val::from("="), Val::from("tax")]),
        ]),
    );
    let taxes: Vec<(String, Decimal)> = h
        .odoo
        .read("account.move.line", &all, &["name", "credit", "account_id"])
        .iter()
        .map(|l| (account_code(&h, l), l.get("credit").and_then(Val::as_decimal).unwrap()))
        .collect();
    assert_eq!(taxes, vec![("445710".to_string(), dec!(11.18)), ("445710".to_string(), dec!(0.69))]);

    // The partner came from the store customer, bound by external id.
    let partner = m.get("partner_id").and_then(Val::many2one_id).unwrap();
    let xmlids = h.odoo.search(
        "ir.model.data",
        Val::list([
            Val::list([Val::from("res_id"), Val::from("="), Val::Int(partner)]),
            Val::list([Val::from("model"), Val::from("="), Val::from("res.partner")]),
        ]),
    );
    assert_eq!(xmlids.len(), 1);

    // The audit trail explains each line and is found from both ends.
    let c = h.connection.clone();
    let trail = h.family.audit().by_source(&c, EntityKind::Order, &SourceId::parse("1042").unwrap()).await.unwrap();
    let post = trail.iter().find(|a| a.stage == AuditStage::Posted).expect("a posted entry");
    assert_eq!(post.details["lines"][1]["rule"], "books");
    assert_eq!(post.details["lines"][1]["why"], "SKU BOOK-1 matches BOOK-*");
    assert_eq!(post.details["store_total"], "80.25");
    let back = h.family.audit().by_odoo(&c, &moves[0]).await.unwrap();
    assert!(back.iter().any(|a| a.source_id.as_str() == "1042"));
}

pub async fn duplicates_races_and_crashes_still_give_one_move(family: Family) {
    let h = Harness::start(family).await;

    // The same message three times, in one batch and again later.
    let poster = h.poster();
    let e = envelope("2001", Record::Order(order("2001", "78")));
    let report = h.post(&poster, &[&e, &e, &e]).await;
    assert_eq!(posted(&report).len(), 1, "{:?}", report.outcomes);
    assert_eq!(report.outcomes.iter().filter(|(_, o)| *o == RecordOutcome::Duplicate).count(), 2);
    let again = h.post(&poster, &[&e]).await;
    assert_eq!(again.outcomes[0].1, RecordOutcome::Duplicate);
    assert_eq!(moves_for(&h, ":order:2001:").len(), 1);

    // Two posters (two containers) at once, each with its own handles.
    let e = envelope("2002", Record::Order(order("2002", "79")));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (poster, message, barrier) = (h.poster(), Harness::message(&e), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                poster.handle_batch(&[message]).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in racers {
        outcomes.push(r.await.unwrap().outcomes[0].1.clone());
    }
    assert_eq!(outcomes.iter().filter(|o| matches!(o, RecordOutcome::Posted { .. })).count(), 1, "{outcomes:?}");
    assert_eq!(moves_for(&h, ":order:2002:").len(), 1);

    // A worker dies right after Odoo's create: the message comes back after the claim lapses,
    // and the next worker finds the move by its marker instead of creating another.
    let e = envelope("2003", Record::Order(order("2003", "80")));
    let doomed = h.poster();
    doomed.crash_after_next_create();
    let crashed = h.post(&doomed, &[&e]).await;
    assert!(matches!(crashed.outcomes[0].1, RecordOutcome::Retry(_)));
    assert_eq!(moves_for(&h, ":order:2003:").len(), 1, "the create did happen");
    let early = h.post(&h.poster(), &[&e]).await;
    assert!(matches!(early.outcomes[0].1, RecordOutcome::Retry(_)), "claim still held: {:?}", early.outcomes);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let recovered = h.post(&h.poster(), &[&e]).await;
    let moves = posted(&recovered);
    assert_eq!(moves.len(), 1, "{:?}", recovered.outcomes);
    assert_eq!(moves_for(&h, ":order:2003:"), vec![moves[0].id]);
    assert_eq!(read_one(&h, "account.move", moves[0].id, &["state"]).get("state"), Some(&Val::from("posted")));
    // And the link is in place for refunds.
    let link = h
        .family
        .state()
        .link_by_source(&h.connection, EntityKind::Order, &SourceId::parse("2003#2").unwrap())
        .await
        .unwrap();
    assert!(link.is_some());
}

pub async fn a_partial_refund_credits_exactly_its_lines(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let o = envelope("3001", Record::Order(order("3001", "81")));
    let invoice = posted(&h.post(&poster, &[&o]).await)[0].id;

    // The book comes back, with its shipping: 12.50 + 0.69 + 4.90 + 0.98 = 19.07.
    let refund = Refund {
        order_id: SourceId::parse("3001").unwrap(),
        invoice_id: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
        currency: CurrencyCode::parse("EUR").unwrap(),
        reason: Some("damaged".into()),
        lines: vec![RefundLine {
            order_line_id: "2".into(),
            sku: Some(Sku::parse("BOOK-1").unwrap()),
            quantity: dec!(-1),
            amount: dec!(-12.50),
            taxes: tax("2", "-0.69"),
        }],
        shipping: dec!(-4.90),
        shipping_line_id: Some("9".into()),
        shipping_tax: dec!(-0.98),
        unallocated: dec!(0),
        amount: dec!(19.07),
        adjustments: Default::default(),
    };
    // Right after its order posted, a refund whose line link is not there yet (another
    // worker writing them) waits and is retried; it is not parked for good.
    let mut racing = refund.clone();
    racing.lines[0].order_line_id = "77".into();
    let raced = h.post(&poster, &[&envelope("r-76", Record::Refund(racing))]).await;
    assert!(matches!(raced.outcomes[0].1, RecordOutcome::Retry(_)), "{:?}", raced.outcomes);
    assert!(h.family.failed().failed(&h.connection).await.unwrap().is_empty());

    let r = envelope("r-77", Record::Refund(refund));
    let report = h.post(&poster, &[&r]).await;
    let credit = posted(&report);
    assert_eq!(credit.len(), 1, "{:?}", report.outcomes);
    let m = read_one(&h, "account.move", credit[0].id, &["move_type", "state", "reversed_entry_id", "amount_total"]);
    assert_eq!(m.get("move_type"), Some(&Val::from("out_refund")));
    assert_eq!(m.get("state"), Some(&Val::from("posted")));
    assert_eq!(m.get("reversed_entry_id").and_then(Val::many2one_id), Some(invoice));
    assert_eq!(m.get("amount_total").and_then(Val::as_decimal), Some(dec!(19.07)));
    let lines: Vec<(String, String, Decimal)> = product_lines(&h, credit[0].id)
        .iter()
        .map(|l| {
            (
                l.get("name").and_then(Val::as_str).unwrap().to_string(),
                account_code(&h, l),
                l.get("price_subtotal").and_then(Val::as_decimal).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("Rust in Action".to_string(), "400200".to_string(), dec!(12.50)),
            ("Flat rate".to_string(), "410000".to_string(), dec!(4.90))
        ]
    );

    // The store then marks the order "refunded": its refunds were credited line by line already,
    // so no second, full credit note.
    let mut refunded = order("3001", "81");
    refunded.source_status = "refunded".into();
    refunded.status = DocumentStatus::Refunded;
    let report = h.post(&poster, &[&envelope("3001", Record::Order(refunded))]).await;
    assert!(
        matches!(&report.outcomes[0].1, RecordOutcome::Skipped(why) if why.contains("line by line")),
        "{:?}",
        report.outcomes
    );
    assert_eq!(
        h.odoo
            .search(
                "account.move",
                Val::list([Val::list([Val::from("reversed_entry_id"), Val::from("="), Val::Int(invoice)])])
            )
            .len(),
        1
    );

    // A refund for an order not yet in Odoo waits (retry), it does not fail.
    let mut early = samples::refund();
    early.order_id = SourceId::parse("9999").unwrap();
    let waiting = h.post(&poster, &[&envelope("r-78", Record::Refund(early))]).await;
    assert!(matches!(waiting.outcomes[0].1, RecordOutcome::Retry(_)), "{:?}", waiting.outcomes);
}

pub async fn an_unmapped_sku_fails_explains_and_replays_once(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let mut o = order("4001", "82");
    o.lines[2] = line("3", "GNOME-1", "Garden gnome", &["Garden"], "1", "15.00", "0", "1", "3.00");
    let e = envelope("4001", Record::Order(o));
    let report = h.post(&poster, &[&e]).await;
    let RecordOutcome::Parked(reason) = &report.outcomes[0].1 else { panic!("{:?}", report.outcomes) };
    assert!(
        reason.contains("no mapping rule matches line \"Garden gnome\" (SKU GNOME-1, category Garden)"),
        "{reason}"
    );
    assert!(report.failed_message_ids().is_empty(), "a permanent failure must be acknowledged, not looped");
    assert!(moves_for(&h, ":order:4001:").is_empty());

    let failed = h.family.failed().failed(&h.connection).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].class, "permanent");
    let trail =
        h.family.audit().by_source(&h.connection, EntityKind::Order, &SourceId::parse("4001").unwrap()).await.unwrap();
    assert!(trail.iter().any(|a| a.stage == AuditStage::Failed && a.message.contains("GNOME-1")), "{trail:?}");

    // The finance team adds a fallback rule; replaying posts the order, once.
    let mut fixed = blackbox::harness::rules();
    fixed["lines"].as_array_mut().unwrap().push(serde_json::json!({ "name": "everything else", "account": "400000" }));
    assert_eq!(
        h.family.connections().save_rules(&h.connection, Some(1), &fixed).await.unwrap(),
        SaveRules::Saved { version: 2 }
    );
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    let audit = h.family.audit();
    assert_eq!(shared::poster::replay(&*h.family.failed(), &*h.queue, &*audit, &connection, None).await.unwrap(), 1);
    assert_eq!(
        shared::poster::replay(&*h.family.failed(), &*h.queue, &*audit, &connection, None).await.unwrap(),
        0,
        "replayed twice"
    );
    let reports = h.drain(&poster).await;
    let moves: Vec<OdooRef> = reports.iter().flat_map(posted).collect();
    assert_eq!(moves.len(), 1, "{reports:?}");
    assert!(h.family.failed().failed(&h.connection).await.unwrap().is_empty());
    let gnome =
        product_lines(&h, moves[0].id).into_iter().find(|l| l.get("name") == Some(&Val::from("Garden gnome"))).unwrap();
    assert_eq!(account_code(&h, &gnome), "400000");
    // Delivering the original message once more changes nothing.
    assert!(posted(&h.post(&poster, &[&e]).await).is_empty());
    assert_eq!(moves_for(&h, ":order:4001:").len(), 1);
    let trail =
        h.family.audit().by_source(&h.connection, EntityKind::Order, &SourceId::parse("4001").unwrap()).await.unwrap();
    let posted_entry = trail.iter().find(|a| a.stage == AuditStage::Posted).unwrap();
    assert_eq!(posted_entry.details["rules_version"], 2);
    let stages: Vec<AuditStage> = trail.iter().map(|a| a.stage).collect();
    assert_eq!(stages, vec![AuditStage::Failed, AuditStage::Replayed, AuditStage::Posted, AuditStage::Skipped]);
}

pub async fn statuses_customers_and_cancellations(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    // A pending order waits; once processing it posts.
    let mut pending = order("5001", "83");
    pending.source_status = "pending".into();
    pending.status = DocumentStatus::Pending;
    let report = h.post(&poster, &[&envelope("5001", Record::Order(pending.clone()))]).await;
    assert!(
        matches!(&report.outcomes[0].1, RecordOutcome::Skipped(why) if why.contains("pending")),
        "{:?}",
        report.outcomes
    );
    // Delivered again: the trail says what the earlier delivery did, not that it posted.
    h.post(&poster, &[&envelope("5001", Record::Order(pending))]).await;
    let trail =
        h.family.audit().by_source(&h.connection, EntityKind::Order, &SourceId::parse("5001").unwrap()).await.unwrap();
    let again = &trail.last().unwrap().message;
    assert!(again.starts_with("already handled by an earlier delivery, which skipped it: status pending"), "{again}");
    let invoice = posted(&h.post(&poster, &[&envelope("5001", Record::Order(order("5001", "83")))]).await)[0].id;

    // Cancelled after posting: a full credit note, linked to the invoice.
    let mut cancelled = order("5001", "83");
    cancelled.source_status = "cancelled".into();
    cancelled.status = DocumentStatus::Cancelled;
    let report = h.post(&poster, &[&envelope("5001", Record::Order(cancelled))]).await;
    let credit = posted(&report);
    assert_eq!(credit.len(), 1, "{:?}", report.outcomes);
    let m = read_one(&h, "account.move", credit[0].id, &["move_type", "reversed_entry_id", "amount_total", "state"]);
    assert_eq!(m.get("reversed_entry_id").and_then(Val::many2one_id), Some(invoice));
    assert_eq!(m.get("amount_total").and_then(Val::as_decimal), Some(dec!(80.25)));
    assert_eq!(m.get("state"), Some(&Val::from("posted")));

    // A customer record upserts one partner by external id, also across orders.
    let customer = envelope("83", Record::Customer(samples::customer()));
    let first = posted(&h.post(&poster, &[&customer]).await);
    let mut changed = samples::customer();
    changed.phone = Some("+33 9 99 99 99 99".into());
    let second = posted(&h.post(&poster, &[&envelope("83", Record::Customer(changed))]).await);
    assert_eq!(first, second);
    let invoice_partner =
        read_one(&h, "account.move", invoice, &["partner_id"]).get("partner_id").and_then(Val::many2one_id).unwrap();
    assert_eq!(first[0].id, invoice_partner, "the order's partner and the customer's are one");
    let row = read_one(&h, "res.partner", first[0].id, &["phone", "email"]);
    assert_eq!(row.get("phone"), Some(&Val::from("+33 9 99 99 99 99")));

    // Guests match by normalized email, never by name.
    let mut guest = order("5002", "84");
    guest.customer = CustomerRef::Guest { email: Some("  Guest@Example.COM ".into()) };
    let mut guest2 = order("5003", "84");
    guest2.customer = CustomerRef::Guest { email: Some("guest@example.com".into()) };
    let report =
        h.post(&poster, &[&envelope("5002", Record::Order(guest)), &envelope("5003", Record::Order(guest2))]).await;
    let moves = posted(&report);
    assert_eq!(moves.len(), 2, "{:?}", report.outcomes);
    let partners: Vec<i64> = moves
        .iter()
        .map(|m| {
            read_one(&h, "account.move", m.id, &["partner_id"]).get("partner_id").and_then(Val::many2one_id).unwrap()
        })
        .collect();
    assert_eq!(partners[0], partners[1]);
    assert_eq!(
        h.odoo
            .search(
                "res.partner",
                Val::list([Val::list([Val::from("email"), Val::from("="), Val::from("guest@example.com")])])
            )
            .len(),
        1
    );
}

pub async fn journal_entries_balance_to_the_store_total(family: Family) {
    let mut rules = blackbox::harness::rules();
    rules["posting"]["mode"] = "journal_entry".into();
    rules["accounts"]["receivable"] = "121000".into();
    rules["taxes"] = serde_json::json!([
        { "store_rate": "1", "odoo_tax": "VAT 20%", "account": "445710" },
        { "store_rate": "2", "odoo_tax": "VAT 5.5%", "account": "445710" }
    ]);
    let h = Harness::start_with(family, rules).await;
    let poster = h.poster();
    let report = h.post(&poster, &[&envelope("6001", Record::Order(order("6001", "85")))]).await;
    let moves = posted(&report);
    assert_eq!(moves.len(), 1, "{:?}", report.outcomes);
    let m = read_one(&h, "account.move", moves[0].id, &["move_type", "state", "amount_total", "line_ids"]);
    assert_eq!(m.get("move_type"), Some(&Val::from("entry")));
    assert_eq!(m.get("state"), Some(&Val::from("posted")));
    let ids: Vec<i64> = m.get("line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    let lines = h.odoo.read("account.move.line", &ids, &["account_id", "debit", "credit"]);
    let by_account = |code: &str, field: &str| -> Decimal {
        lines
            .iter()
            .filter(|l| account_code(&h, l) == code)
            .map(|l| l.get(field).and_then(Val::as_decimal).unwrap())
            .sum()
    };
    // Receivable debit against revenue, shipping and tax credits: 80.25 = 50.98 + 12.50 + 4.90 + 11.87.
    assert_eq!(by_account("121000", "debit"), dec!(80.25));
    assert_eq!(by_account("400100", "credit"), dec!(50.98));
    assert_eq!(by_account("400200", "credit"), dec!(12.50));
    assert_eq!(by_account("410000", "credit"), dec!(4.90));
    assert_eq!(by_account("445710", "credit"), dec!(11.87));

    // A refund of the book reverses exactly its share: credit receivable, debit revenue and tax.
    let refund = book_refund("6001", Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap());
    let credit = posted(&h.post(&poster, &[&envelope("r-6001", Record::Refund(refund))]).await);
    assert_eq!(credit.len(), 1);
    let m = read_one(&h, "account.move", credit[0].id, &["line_ids", "reversed_entry_id"]);
    assert_eq!(m.get("reversed_entry_id").and_then(Val::many2one_id), Some(moves[0].id));
    let ids: Vec<i64> = m.get("line_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
    let lines = h.odoo.read("account.move.line", &ids, &["account_id", "debit", "credit"]);
    let get = |code: &str, field: &str| -> Decimal {
        lines
            .iter()
            .filter(|l| account_code(&h, l) == code)
            .map(|l| l.get(field).and_then(Val::as_decimal).unwrap())
            .sum()
    };
    assert_eq!(
        (get("121000", "credit"), get("400200", "debit"), get("445710", "debit")),
        (dec!(13.19), dec!(12.50), dec!(0.69))
    );
}

pub async fn versions_drafts_fifo_and_redrive(family: Family) {
    let mut rules = blackbox::harness::rules();
    rules["posting"]["payment_term"] = "30 Days".into();
    let h = Harness::start_with(family, rules).await;
    let poster = h.poster();

    // A changed order after posting: credit note for the old invoice, a new invoice, link moved.
    let first = posted(&h.post(&poster, &[&envelope("7001", Record::Order(order("7001", "86")))]).await)[0].id;
    let term = read_one(&h, "account.move", first, &["invoice_payment_term_id"])
        .get("invoice_payment_term_id")
        .cloned()
        .unwrap();
    assert_eq!(term.as_list().and_then(|l| l.get(1)).and_then(Val::as_str), Some("30 Days"));
    let mut changed = order("7001", "86");
    changed.lines.remove(2); // the hat was taken off the order
    changed.totals = Totals {
        subtotal: d("52.48"),
        discount: d("4.00"),
        shipping: d("4.90"),
        fees: d("0"),
        tax: d("8.87"),
        total: d("62.25"),
    };
    let report = h.post(&poster, &[&envelope("7001", Record::Order(changed))]).await;
    let second = posted(&report);
    assert_eq!(second.len(), 1, "{:?}", report.outcomes);
    assert_ne!(second[0].id, first);
    assert_eq!(
        read_one(&h, "account.move", second[0].id, &["amount_total"]).get("amount_total").and_then(Val::as_decimal),
        Some(dec!(62.25))
    );
    let credits = h.odoo.search(
        "account.move",
        Val::list([Val::list([Val::from("reversed_entry_id"), Val::from("="), Val::Int(first)])]),
    );
    assert_eq!(credits.len(), 1, "the first invoice is credited");
    let link = h
        .family
        .state()
        .link_by_source(&h.connection, EntityKind::Order, &SourceId::parse("7001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.odoo.id, second[0].id);

    // FIFO within a group: once a message must wait, the group's later messages wait too.
    let mut waiting = samples::refund();
    waiting.order_id = SourceId::parse("7999").unwrap();
    let refund = envelope("r-7999", Record::Refund(waiting));
    let later = envelope("7002", Record::Order(order("7002", "87")));
    let other = envelope("7003", Record::Order(order("7003", "88")));
    let mut messages = vec![Harness::message(&refund), Harness::message(&later), Harness::message(&other)];
    messages[1].group_id = messages[0].group_id.clone();
    let report = poster.handle_batch(&messages).await;
    assert!(matches!(report.outcomes[0].1, RecordOutcome::Retry(_)));
    assert!(
        matches!(&report.outcomes[1].1, RecordOutcome::Retry(why) if why.contains("earlier message")),
        "{:?}",
        report.outcomes
    );
    assert!(matches!(report.outcomes[2].1, RecordOutcome::Posted { .. }));
    assert!(moves_for(&h, ":order:7002:").is_empty());
    assert_eq!(report.failed_message_ids(), vec![messages[0].message_id.clone(), messages[1].message_id.clone()]);

    // What reached the dead-letter queue is redriven onto the queue and posts once.
    let dead = shared::ports::OutgoingMessage::for_envelope(&later);
    h.dlq.send_batch(&[dead]).await.unwrap();
    assert_eq!(shared::poster::redrive(&*h.dlq, &*h.queue).await.unwrap(), 1);
    let reports = h.drain(&poster).await;
    assert_eq!(reports.iter().flat_map(posted).count(), 1, "{reports:?}");
    assert_eq!(moves_for(&h, ":order:7002:").len(), 1);
    assert_eq!(h.dlq.approximate_depth().await.unwrap(), 0);

    // Drafts: with posting off the move stays a draft; a new version replaces the draft.
    let mut drafts = blackbox::harness::rules();
    drafts["posting"]["post"] = false.into();
    let v = h.family.connections().latest_rules(&h.connection).await.unwrap().unwrap().version;
    h.family.connections().save_rules(&h.connection, Some(v), &drafts).await.unwrap();
    let fresh = h.poster(); // rules are read per batch; a fresh container is not needed, but is realistic
    let draft = posted(&h.post(&fresh, &[&envelope("7004", Record::Order(order("7004", "89")))]).await)[0].id;
    assert_eq!(read_one(&h, "account.move", draft, &["state"]).get("state"), Some(&Val::from("draft")));
    let mut edited = order("7004", "89");
    edited.number = "7004-b".into();
    let replaced = posted(&h.post(&fresh, &[&envelope("7004", Record::Order(edited))]).await)[0].id;
    assert_ne!(replaced, draft);
    assert!(h.odoo.read("account.move", &[draft], &["state"]).is_empty(), "the old draft is gone");
    assert_eq!(moves_for(&h, ":order:7004:").len(), 1);

    // One failed record replays by itself.
    let mut bad = order("7005", "90");
    bad.lines[0].category_path = vec!["Garden".into()];
    bad.lines[0].sku = Some(shared::ids::Sku::parse("GNOME-2").unwrap());
    h.post(&fresh, &[&envelope("7005", Record::Order(bad))]).await;
    let mut bad2 = order("7006", "90");
    bad2.lines[0].sku = Some(shared::ids::Sku::parse("GNOME-3").unwrap());
    bad2.lines[0].category_path = vec!["Garden".into()];
    h.post(&fresh, &[&envelope("7006", Record::Order(bad2))]).await;
    assert_eq!(h.family.failed().failed(&h.connection).await.unwrap().len(), 2);
    let one = SourceId::parse("7005").unwrap();
    let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
    assert_eq!(
        shared::poster::replay(
            &*h.family.failed(),
            &*h.queue,
            &*h.family.audit(),
            &connection,
            Some((EntityKind::Order, &one))
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(h.family.failed().failed(&h.connection).await.unwrap().len(), 1);

    // A shipping address that differs from the billing one becomes a delivery contact.
    let mut shipped = order("7007", "91");
    let mut elsewhere = samples::address();
    elsewhere.line1 = Some("1 Quai de Bercy".into());
    elsewhere.first_name = Some("Charles".into());
    shipped.shipping_address = Some(elsewhere);
    let id = posted(&h.post(&fresh, &[&envelope("7007", Record::Order(shipped))]).await)[0].id;
    let partner =
        read_one(&h, "account.move", id, &["partner_id"]).get("partner_id").and_then(Val::many2one_id).unwrap();
    let children = h
        .odoo
        .search("res.partner", Val::list([Val::list([Val::from("parent_id"), Val::from("="), Val::Int(partner)])]));
    assert_eq!(children.len(), 1);
    let child = read_one(&h, "res.partner", children[0], &["type", "street", "country_id"]);
    assert_eq!(child.get("type"), Some(&Val::from("delivery")));
    assert_eq!(child.get("street"), Some(&Val::from("1 Quai de Bercy")));
}

/// A version older than one already applied (a poll that read a replica late, say) is stale:
/// skipped with its reason, and the newer invoice stands.
pub async fn an_older_version_delivered_late_is_stale_and_changes_nothing(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let newer = envelope("7101", Record::Order(order("7101", "86")));
    let mut older = newer.clone();
    older.source_updated_at -= chrono::Duration::hours(1);
    if let Record::Order(doc) = &mut older.record {
        doc.lines.remove(2);
    }
    let older =
        Envelope::new(older.connection_id, older.source, older.source_id, older.source_updated_at, older.record);
    assert_eq!(posted(&h.post(&poster, &[&newer]).await).len(), 1);
    let report = h.post(&poster, &[&older]).await;
    assert!(
        matches!(&report.outcomes[0].1, RecordOutcome::Skipped(why) if why.starts_with("stale")),
        "{:?}",
        report.outcomes
    );
    assert_eq!(moves_for(&h, ":order:7101:").len(), 1, "no credit note, no second invoice");
}

/// The poster decides on the normalized status, and a connection may give its own decision for
/// a raw store status (a custom `shipped` status that WooCommerce normalizes to pending).
pub async fn a_connection_s_own_status_words_decide_posting(family: Family) {
    let mut rules = blackbox::harness::rules();
    rules["posting"]["statuses"] = serde_json::json!({ "shipped": "post", "on-hold": "wait" });
    rules["posting"]["post_statuses"] = serde_json::json!(["processing", "completed", "on-hold"]);
    let h = Harness::start_with(family, rules).await;
    let poster = h.poster();
    let with_status = |id: &str, status: DocumentStatus, raw: &str| {
        let mut o = order(id, "86");
        o.status = status;
        o.source_status = raw.into();
        envelope(id, Record::Order(o))
    };
    // Custom raw status mapped to "post" by the connection: posts although normalized pending.
    let shipped = h.post(&poster, &[&with_status("7201", DocumentStatus::Pending, "shipped")]).await;
    assert_eq!(posted(&shipped).len(), 1, "{:?}", shipped.outcomes);
    // The raw word overrides the normalized list ("on-hold" posts by the list, waits by the word).
    let held = h.post(&poster, &[&with_status("7202", DocumentStatus::OnHold, "on-hold")]).await;
    assert!(
        matches!(&held.outcomes[0].1, RecordOutcome::Skipped(why) if why.contains("status on-hold does not post")),
        "{:?}",
        held.outcomes
    );
    // A pending order with no word of the connection's waits, and the trail names the raw status.
    let pending = h.post(&poster, &[&with_status("7203", DocumentStatus::Pending, "pending")]).await;
    assert!(
        matches!(&pending.outcomes[0].1, RecordOutcome::Skipped(why) if why.contains("status pending does not post (posting statuses: processing, completed, on_hold, shipped)")),
        "{:?}",
        pending.outcomes
    );
    assert_eq!(moves_for(&h, ":order:7202:").len() + moves_for(&h, ":order:7203:").len(), 0);
}

/// A store that books invoices (Adobe Commerce): the refund names only its order, and credits
/// the invoice posted for it; its shipping is refunded as an amount, with no line id, and lands
/// on the invoice's one shipping line.
pub async fn a_refund_credits_the_invoice_posted_for_its_order_and_shipping_by_amount(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let mut doc = order("INV-3101", "81");
    doc.order_id = Some(SourceId::parse("3101").unwrap());
    let invoice = posted(&h.post(&poster, &[&envelope("inv-3101", Record::Invoice(doc))]).await)[0].id;

    let refund = Refund {
        order_id: SourceId::parse("3101").unwrap(),
        invoice_id: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
        currency: CurrencyCode::parse("EUR").unwrap(),
        reason: None,
        lines: vec![RefundLine {
            order_line_id: "2".into(),
            sku: Some(Sku::parse("BOOK-1").unwrap()),
            quantity: dec!(-1),
            amount: dec!(-12.50),
            taxes: tax("2", "-0.69"),
        }],
        shipping: dec!(-4.90),
        shipping_line_id: None,
        shipping_tax: dec!(-0.98),
        unallocated: dec!(0),
        amount: dec!(19.07),
        adjustments: Default::default(),
    };
    let report = h.post(&poster, &[&envelope("r-3101", Record::Refund(refund.clone()))]).await;
    let credit = posted(&report);
    assert_eq!(credit.len(), 1, "{:?}", report.outcomes);
    let m = read_one(&h, "account.move", credit[0].id, &["reversed_entry_id", "amount_total"]);
    assert_eq!(m.get("reversed_entry_id").and_then(Val::many2one_id), Some(invoice));
    assert_eq!(m.get("amount_total").and_then(Val::as_decimal), Some(dec!(19.07)));
    let names: Vec<String> = product_lines(&h, credit[0].id)
        .iter()
        .map(|l| l.get("name").and_then(Val::as_str).unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["Rust in Action".to_string(), "Flat rate".to_string()]);

    // Naming the invoice works the same; an invoice never posted makes the refund wait.
    let mut named = refund;
    named.invoice_id = Some(SourceId::parse("inv-9999").unwrap());
    let waiting = h.post(&poster, &[&envelope("r-3102", Record::Refund(named))]).await;
    assert!(matches!(waiting.outcomes[0].1, RecordOutcome::Retry(_)), "{:?}", waiting.outcomes);
}

/// Odoo's reversal wizard copies the invoice's `invoice_origin` onto the credit note (the field
/// is not `copy=False` in `addons/account/models/account_move.py`), so a credit note can carry an
/// order version's marker. The poster never takes it for that version's invoice.
pub async fn a_credit_note_carrying_an_orders_marker_is_never_adopted_as_its_invoice(family: Family) {
    let h = Harness::start(family).await;
    let poster = h.poster();
    let e = envelope("6801", Record::Order(order("6801", "86")));
    let marker = format!("mlc:{}:order:6801:{}", h.connection, &e.content_hash.as_str()[..12]);
    // A posted credit note with this version's marker is already in Odoo.
    let mut config = shared::odoo::OdooConfig::new(
        h.odoo.url(),
        Some(h.odoo.options().database.clone()),
        &h.odoo.options().login,
        shared::ports::Secret::new(h.odoo.options().api_key.clone()),
    );
    config.allow_private_network = true;
    let client = shared::odoo::OdooClient::connect(config).await.unwrap();
    let partner = client.create("res.partner", Val::map([("name", Val::from("Someone"))])).await.unwrap();
    let account = h
        .odoo
        .search("account.account", Val::list([Val::list([Val::from("code"), Val::from("="), Val::from("400100")])]))[0];
    let line = Val::list([
        Val::Int(0),
        Val::Int(0),
        Val::map([
            ("name", Val::from("x")),
            ("quantity", Val::Num(dec!(1))),
            ("price_unit", Val::Num(dec!(10))),
            ("account_id", Val::Int(account)),
        ]),
    ]);
    let credit = client
        .create(
            "account.move",
            Val::map([
                ("move_type", Val::from("out_refund")),
                ("partner_id", Val::Int(partner)),
                ("invoice_origin", Val::from(marker.as_str())),
                ("invoice_line_ids", Val::list([line])),
            ]),
        )
        .await
        .unwrap();
    client.call_method("account.move", "action_post", &[credit]).await.unwrap();

    let report = h.post(&poster, &[&e]).await;
    let made = posted(&report);
    assert_eq!(made.len(), 1, "{:?}", report.outcomes);
    assert_ne!(made[0].id, credit, "the credit note was taken for the invoice");
    let row = read_one(&h, "account.move", made[0].id, &["move_type", "amount_total"]);
    assert_eq!(row.get("move_type").and_then(Val::as_str), Some("out_invoice"));
}
