//! Odoo calls per order, read from the Odoo sandbox's call log, for batches of 1, 10 and 100 with
//! cold and warm caches. Embedded adapters (the calls do not depend on the family). A batch of 100
//! is what `mlc` or a poster given 100 messages at once sees; SQS hands Lambda at most 10.
//!
//!     cargo run -p blackbox --example odoo_calls

use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{TimeZone, Utc};
use shared::ids::{ConnectionId, SourceId};
use shared::poster::{Poster, RecordOutcome};
use shared::records::{CustomerRef, Envelope, Record, SourceSystem, samples};

fn order(n: usize, customer: usize) -> Envelope {
    paid_with(n, customer, "stripe")
}

fn paid_with(n: usize, customer: usize, method: &str) -> Envelope {
    let mut o = samples::order();
    o.payment_method = Some(shared::records::PaymentMethod { code: method.into(), title: None });
    o.number = format!("B{n}");
    o.customer = CustomerRef::Registered {
        source_id: SourceId::parse(format!("cust-{customer}")).unwrap(),
        email: Some(format!("c{customer}@example.com")),
        group: None,
    };
    Envelope::new(
        ConnectionId::parse(blackbox::harness::CONNECTION).unwrap(),
        SourceSystem::Woocommerce,
        SourceId::parse(format!("B{n}")).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
        Record::Order(o),
    )
}

async fn measure(h: &Harness, poster: &Poster, orders: &[Envelope]) -> (usize, f64) {
    let before = h.odoo.calls().len();
    let refs: Vec<&Envelope> = orders.iter().collect();
    let report = h.post(poster, &refs).await;
    let posted = report.outcomes.iter().filter(|(_, o)| matches!(o, RecordOutcome::Posted { .. })).count();
    assert_eq!(posted, orders.len(), "{:?}", report.outcomes);
    let calls = h.odoo.calls().len() - before;
    (calls, calls as f64 / orders.len() as f64)
}

#[tokio::main]
async fn main() {
    let h = Harness::start(Family::embedded().await).await;
    let mut next = 0;
    let mut batch = |size: usize, customers: &mut dyn FnMut(usize) -> usize| {
        let orders: Vec<Envelope> = (0..size).map(|i| order(next + i, customers(next + i))).collect();
        next += size;
        orders
    };
    println!("Odoo calls per order (sandbox call log; batch = one SQS batch handed to the poster)\n");
    println!("{:<58} {:>6} {:>10}", "case", "calls", "per order");
    let cold = h.poster();
    let (c, p) = measure(&h, &cold, &batch(10, &mut |i| i)).await;
    println!("{:<58} {:>6} {:>10.2}", "cold container, batch of 10, 10 new customers", c, p);
    let cold1 = h.poster();
    let (c, p) = measure(&h, &cold1, &batch(1, &mut |i| i)).await;
    println!("{:<58} {:>6} {:>10.2}", "cold container, batch of 1, new customer", c, p);

    let cold100 = h.poster();
    let (c, p) = measure(&h, &cold100, &batch(100, &mut |i| 2000 + i)).await;
    println!("{:<58} {:>6} {:>10.2}", "cold container, batch of 100, 100 new customers", c, p);

    let warm = h.poster();
    measure(&h, &warm, &batch(10, &mut |i| i % 10)).await; // warms lookups and the partner cache
    let (c, p) = measure(&h, &warm, &batch(1, &mut |i| i % 10)).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 1, returning customer", c, p);
    let (c, p) = measure(&h, &warm, &batch(10, &mut |i| i % 10)).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 10, returning customers", c, p);
    let (c, p) = measure(&h, &warm, &batch(10, &mut |i| 1000 + i)).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 10, 10 new customers", c, p);
    let (c, p) = measure(&h, &warm, &batch(1, &mut |i| 1000 + i)).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 1, new customer", c, p);
    measure(&h, &warm, &batch(100, &mut |i| i % 100)).await; // 100 returning customers
    let (c, p) = measure(&h, &warm, &batch(100, &mut |i| i % 100)).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 100, returning customers", c, p);

    // Which calls a warm batch of 10 makes.
    let before = h.odoo.calls().len();
    measure(&h, &warm, &batch(10, &mut |i| i % 10)).await;
    let calls: Vec<String> = h.odoo.calls()[before..].iter().map(|c| format!("{}.{}", c.model, c.method)).collect();
    println!("\nwarm batch of 10, returning customers: {}", calls.join(", "));

    // Sales-order mode: each order is its own steps (create, confirm; online: invoice, post, pay),
    // each reading Odoo's state first so that a retry never does one twice.
    let rules = blackbox::harness::sales_rules(blackbox::harness::rules());
    let so = Harness::start_with(Family::embedded().await, rules).await;
    blackbox::harness::sales_master_data(&so.odoo);
    let warm = so.poster();
    let make =
        |from: usize, method: &str| -> Vec<Envelope> { (0..10).map(|i| paid_with(from + i, i, method)).collect() };
    measure(&so, &warm, &make(5000, "stripe")).await; // warms lookups and the partner cache
    println!("\nsales-order mode");
    let (c, p) = measure(&so, &warm, &make(5100, "stripe")).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 10 online orders (invoiced and paid)", c, p);
    let (c, p) = measure(&so, &warm, &make(5200, "cod")).await;
    println!("{:<58} {:>6} {:>10.2}", "warm, batch of 10 offline orders (confirmed only)", c, p);
    let before = so.odoo.calls().len();
    measure(&so, &warm, &make(5300, "stripe")[..1]).await;
    let calls: Vec<String> = so.odoo.calls()[before..].iter().map(|c| format!("{}.{}", c.model, c.method)).collect();
    println!("\nwarm online order: {}", calls.join(", "));
}
