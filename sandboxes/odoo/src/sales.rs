//! `sale` with `sale_stock` and `delivery`, as a connector sees them (Odoo 19): quotations and
//! orders (`draft` → `sale` → `cancel`), lines priced and taxed as invoices are, a delivery
//! created on confirmation for goods, the invoice made from the order by its wizard, and the
//! cancellation that asks first (its wizard) unless told not to (`disable_cancel_warning`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::accounting::priced_line_amounts;
use super::models::{create_one, round_money};
use super::orm::Kind::*;
use super::orm::{Exc, Field, OrmResult, World, comp, f, req};
use shared::odoo::value::Val;

const SO: &str = "sale.order";
const SOL: &str = "sale.order.line";
const PICKING: &str = "stock.picking";
const MOVE: &str = "stock.move";

pub fn schema() -> BTreeMap<&'static str, Vec<Field>> {
    BTreeMap::from([
        ("product.pricelist", vec![req("name", Char), f("currency_id", Many2one("res.currency")), f("active", Bool)]),
        ("account.fiscal.position", vec![req("name", Char), f("active", Bool)]),
        (
            "delivery.carrier",
            vec![
                req("name", Char),
                req("product_id", Many2one("product.product")),
                f("delivery_type", Selection(&["fixed", "base_on_rule"])),
                f("fixed_price", Float),
                f("active", Bool),
            ],
        ),
        (
            SO,
            vec![
                f("name", Char),
                req("partner_id", Many2one("res.partner")),
                f("partner_invoice_id", Many2one("res.partner")),
                f("partner_shipping_id", Many2one("res.partner")),
                f("client_order_ref", Char),
                f("origin", Char),
                f("date_order", Char),
                f("pricelist_id", Many2one("product.pricelist")),
                f("currency_id", Many2one("res.currency")),
                f("payment_term_id", Many2one("account.payment.term")),
                f("fiscal_position_id", Many2one("account.fiscal.position")),
                f("carrier_id", Many2one("delivery.carrier")),
                f("note", Char),
                comp("state", Selection(&["draft", "sent", "sale", "cancel"])),
                f("locked", Bool),
                f("order_line", One2many(SOL, "order_id")),
                comp("amount_untaxed", Float),
                comp("amount_tax", Float),
                comp("amount_total", Float),
                comp("invoice_ids", Many2many("account.move")),
                comp("picking_ids", Many2many(PICKING)),
                comp("invoice_status", Selection(&["upselling", "invoiced", "to invoice", "no"])),
            ],
        ),
        (
            SOL,
            vec![
                req("order_id", Many2one(SO)),
                f("product_id", Many2one("product.product")),
                f("name", Char),
                f("product_uom_qty", Float),
                f("price_unit", Float),
                f("discount", Float),
                // `tax_id` up to Odoo 18, `tax_ids` from 19.
                f("tax_ids", Many2many("account.tax")),
                f("analytic_distribution", Json),
                f("is_delivery", Bool),
                f("display_type", Selection(&["line_section", "line_note"])),
                comp("price_subtotal", Float),
                comp("price_tax", Float),
                comp("price_total", Float),
                comp("qty_delivered", Float),
                comp("qty_invoiced", Float),
                comp("invoice_lines", Many2many("account.move.line")),
            ],
        ),
        (
            PICKING,
            vec![
                f("name", Char),
                f("origin", Char),
                f("partner_id", Many2one("res.partner")),
                f("sale_id", Many2one(SO)),
                f("carrier_id", Many2one("delivery.carrier")),
                f("carrier_tracking_ref", Char),
                f("picking_type_code", Selection(&["incoming", "outgoing", "internal"])),
                comp("state", Selection(&["draft", "waiting", "confirmed", "assigned", "done", "cancel"])),
                comp("date_done", Char),
                f("move_ids", One2many(MOVE, "picking_id")),
            ],
        ),
        (
            MOVE,
            vec![
                req("picking_id", Many2one(PICKING)),
                req("product_id", Many2one("product.product")),
                f("product_uom_qty", Float),
                f("quantity", Float),
                f("sale_line_id", Many2one(SOL)),
                comp("state", Selection(&["draft", "confirmed", "assigned", "done", "cancel"])),
            ],
        ),
        (
            "sale.advance.payment.inv",
            vec![
                f("advance_payment_method", Selection(&["delivered", "percentage", "fixed"])),
                f("sale_order_ids", Many2many(SO)),
            ],
        ),
        ("sale.order.cancel", vec![req("order_id", Many2one(SO))]),
    ])
}

/// Methods of these models: whether they run on the model (no ids) and their parameters.
pub fn signature(model: &str, method: &str) -> Option<(bool, &'static [&'static str])> {
    Some(match (model, method) {
        (SO, "action_confirm" | "action_cancel" | "action_draft" | "action_lock" | "action_unlock") => (false, &[]),
        ("sale.advance.payment.inv", "create_invoices") => (false, &[]),
        ("sale.order.cancel", "action_cancel") => (false, &[]),
        (PICKING, "button_validate" | "action_cancel") => (false, &[]),
        _ => return None,
    })
}

/// Runs one of `signature`'s methods; `None` for any other.
pub fn dispatch(world: &mut World, model: &str, method: &str, ids: &[i64], context: &Val) -> Option<OrmResult<Val>> {
    Some(match (model, method) {
        (SO, "action_confirm") => action_confirm(world, ids),
        (SO, "action_cancel") => action_cancel(world, ids, context),
        (SO, "action_draft") => action_draft(world, ids),
        (SO, "action_lock") => set_locked(world, ids, true),
        (SO, "action_unlock") => set_locked(world, ids, false),
        ("sale.advance.payment.inv", "create_invoices") => create_invoices(world, ids),
        ("sale.order.cancel", "action_cancel") => {
            let orders: Vec<i64> = ids.iter().filter_map(|&w| world.m2o("sale.order.cancel", w, "order_id")).collect();
            let quiet = Val::map([("disable_cancel_warning", Val::Bool(true))]);
            action_cancel(world, &orders, &quiet)
        }
        (PICKING, "button_validate") => button_validate(world, ids),
        (PICKING, "action_cancel") => cancel_pickings(world, ids),
        _ => return None,
    })
}

/// Defaults before a record of these models is inserted; `active_ids` of a wizard's context.
pub fn defaults(world: &World, model: &str, vals: &mut BTreeMap<String, Val>, context: &Val) {
    let mut default = |k: &str, v: Val| {
        vals.entry(k.to_string()).or_insert(v);
    };
    match model {
        "product.pricelist" | "account.fiscal.position" | "delivery.carrier" => default("active", Val::Bool(true)),
        SO => {
            default("date_order", Val::Str(format!("{} 00:00:00", world.today)));
            default("locked", Val::Bool(false));
        }
        SOL => {
            default("product_uom_qty", Val::Num(Decimal::ONE));
            default("is_delivery", Val::Bool(false));
        }
        PICKING => default("picking_type_code", Val::from("outgoing")),
        "sale.advance.payment.inv" => {
            default("advance_payment_method", Val::from("delivered"));
            if let Some(ids) = super::models::active_ids(context, SO) {
                default("sale_order_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&ids)])]));
            }
        }
        _ => {}
    }
}

/// After a record of these models is inserted: names, computed values, checks.
pub fn after_create(world: &mut World, model: &str, id: i64) -> OrmResult<()> {
    match model {
        SO => {
            world.set(SO, id, "name", Val::Str(format!("S{id:05}")));
            world.set(SO, id, "state", Val::from("draft"));
            for field in ["partner_invoice_id", "partner_shipping_id"] {
                if world.m2o(SO, id, field).is_none() {
                    let partner = world.value(SO, id, "partner_id");
                    world.set(SO, id, field, partner);
                }
            }
            if world.m2o(SO, id, "currency_id").is_none() {
                let from_pricelist =
                    world.m2o(SO, id, "pricelist_id").and_then(|p| world.m2o("product.pricelist", p, "currency_id"));
                let company = world.table("res.currency").rows.keys().next().copied();
                if let Some(c) = from_pricelist.or(company) {
                    world.set(SO, id, "currency_id", Val::Int(c));
                }
            }
            recompute_order(world, id)
        }
        SOL => {
            check_line(world, id)?;
            let order = world.m2o(SOL, id, "order_id").unwrap_or_default();
            recompute_order(world, order)
        }
        "sale.advance.payment.inv" => {
            if world.x2many("sale.advance.payment.inv", id, "sale_order_ids").is_empty() {
                return Err(Exc::UserError("No sales order to invoice: open the wizard with active_ids.".into()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub fn before_write(world: &World, model: &str, id: i64, vals: &BTreeMap<String, Val>) -> OrmResult<()> {
    if model == SO {
        let state = world.value(SO, id, "state");
        if vals.contains_key("order_line")
            && (state.as_str() == Some("cancel") || !world.value(SO, id, "locked").is_falsy())
        {
            return Err(Exc::UserError(
                "It is forbidden to modify the following fields in a locked or cancelled order: Order Lines".into(),
            ));
        }
    }
    Ok(())
}

pub fn after_write(world: &mut World, model: &str, id: i64) -> OrmResult<()> {
    match model {
        SO => recompute_order(world, id),
        SOL => {
            let order = world.m2o(SOL, id, "order_id").unwrap_or_default();
            recompute_order(world, order)
        }
        _ => Ok(()),
    }
}

fn check_line(world: &mut World, line: i64) -> OrmResult<()> {
    if !world.value(SOL, line, "display_type").is_falsy() {
        return Ok(());
    }
    let Some(product) = world.m2o(SOL, line, "product_id") else {
        return Err(Exc::ValidationError("Missing required product and UoM on accountable sale order line.".into()));
    };
    if world.value(SOL, line, "name").is_falsy() {
        let name = world.display_name("product.product", product);
        world.set(SOL, line, "name", Val::Str(name));
    }
    Ok(())
}

fn order_decimals(world: &World, order: i64) -> u32 {
    world
        .m2o(SO, order, "currency_id")
        .and_then(|c| world.value("res.currency", c, "decimal_places").as_i64())
        .unwrap_or(2) as u32
}

/// Line and order amounts, taxes rounded as the company rounds an invoice's.
fn recompute_order(world: &mut World, order: i64) -> OrmResult<()> {
    let decimals = order_decimals(world, order);
    let mut untaxed = Decimal::ZERO;
    let mut per_tax: BTreeMap<i64, Decimal> = BTreeMap::new();
    for line in world.children(SOL, "order_id", order) {
        if !world.value(SOL, line, "display_type").is_falsy() {
            continue;
        }
        let (subtotal, taxes) = priced_line_amounts(world, SOL, "product_uom_qty", line, decimals);
        let tax: Decimal = taxes.iter().map(|(_, a)| *a).sum();
        world.set(SOL, line, "price_subtotal", Val::Num(subtotal));
        world.set(SOL, line, "price_tax", Val::Num(round_money(tax, decimals)));
        world.set(SOL, line, "price_total", Val::Num(round_money(subtotal + tax, decimals)));
        untaxed += subtotal;
        for (t, a) in taxes {
            *per_tax.entry(t).or_default() += a;
        }
    }
    let tax: Decimal = per_tax.values().map(|a| round_money(*a, decimals)).sum();
    world.set(SO, order, "amount_untaxed", Val::Num(untaxed));
    world.set(SO, order, "amount_tax", Val::Num(tax));
    world.set(SO, order, "amount_total", Val::Num(untaxed + tax));
    let status = invoice_status(world, order);
    world.set(SO, order, "invoice_status", Val::from(status));
    Ok(())
}

/// A product's own value of a template field (`type`, `invoice_policy`, ...).
fn product_field(world: &World, product: i64, field: &str) -> Val {
    let own = world.value("product.product", product, field);
    if !own.is_falsy() {
        return own;
    }
    match world.m2o("product.product", product, "product_tmpl_id") {
        Some(t) => world.value("product.template", t, field),
        None => Val::Bool(false),
    }
}

fn is_goods(world: &World, product: i64) -> bool {
    matches!(product_field(world, product, "type").as_str(), Some("consu") | None)
}

/// What a line has left to invoice: ordered or delivered quantities, by the product's policy.
fn qty_to_invoice(world: &World, line: i64) -> Decimal {
    let Some(product) = world.m2o(SOL, line, "product_id") else { return Decimal::ZERO };
    let policy = product_field(world, product, "invoice_policy");
    let basis = if policy.as_str() == Some("delivery") && is_goods(world, product) {
        world.decimal(SOL, line, "qty_delivered")
    } else {
        world.decimal(SOL, line, "product_uom_qty")
    };
    basis - world.decimal(SOL, line, "qty_invoiced")
}

fn invoice_status(world: &World, order: i64) -> &'static str {
    if world.value(SO, order, "state").as_str() != Some("sale") {
        return "no";
    }
    let lines = world.children(SOL, "order_id", order);
    if lines.iter().any(|&l| qty_to_invoice(world, l) > Decimal::ZERO) {
        "to invoice"
    } else if lines.iter().any(|&l| world.decimal(SOL, l, "qty_invoiced") > Decimal::ZERO) {
        "invoiced"
    } else {
        "no"
    }
}

fn action_confirm(world: &mut World, ids: &[i64]) -> OrmResult<Val> {
    world.check_ids(SO, ids)?;
    if ids.iter().any(|&o| !matches!(world.value(SO, o, "state").as_str(), Some("draft" | "sent"))) {
        return Err(Exc::UserError(
            "The following orders are not in a state requiring confirmation: only quotations can be confirmed.".into(),
        ));
    }
    for &order in ids {
        world.set(SO, order, "state", Val::from("sale"));
        world.set(SO, order, "date_order", Val::Str(format!("{} 00:00:00", world.today)));
        let goods: Vec<(i64, i64, Decimal)> = world
            .children(SOL, "order_id", order)
            .into_iter()
            .filter(|&l| world.value(SOL, l, "is_delivery").is_falsy())
            .filter_map(|l| Some((l, world.m2o(SOL, l, "product_id")?, world.decimal(SOL, l, "product_uom_qty"))))
            .filter(|(_, p, q)| is_goods(world, *p) && *q > Decimal::ZERO)
            .collect();
        if !goods.is_empty() {
            let number = world.table(PICKING).next_id;
            let moves: Vec<Val> = goods
                .iter()
                .map(|(line, product, qty)| {
                    Val::list([
                        Val::Int(0),
                        Val::Int(0),
                        Val::map([
                            ("product_id", Val::Int(*product)),
                            ("product_uom_qty", Val::Num(*qty)),
                            ("sale_line_id", Val::Int(*line)),
                        ]),
                    ])
                })
                .collect();
            let vals = BTreeMap::from([
                ("name".to_string(), Val::Str(format!("WH/OUT/{number:05}"))),
                ("origin".to_string(), world.value(SO, order, "name")),
                ("partner_id".to_string(), world.value(SO, order, "partner_shipping_id")),
                ("sale_id".to_string(), Val::Int(order)),
                ("carrier_id".to_string(), world.value(SO, order, "carrier_id")),
                ("move_ids".to_string(), Val::List(moves)),
            ]);
            let picking = create_one(world, PICKING, vals)?;
            world.set(PICKING, picking, "state", Val::from("assigned"));
            for m in world.children(MOVE, "picking_id", picking) {
                world.set(MOVE, m, "state", Val::from("assigned"));
            }
            let mut pickings = world.x2many(SO, order, "picking_ids");
            pickings.push(picking);
            world.set(SO, order, "picking_ids", Val::ids(&pickings));
        }
        recompute_order(world, order)?;
    }
    Ok(Val::Bool(true))
}

fn action_cancel(world: &mut World, ids: &[i64], context: &Val) -> OrmResult<Val> {
    world.check_ids(SO, ids)?;
    if ids.iter().any(|&o| !world.value(SO, o, "locked").is_falsy()) {
        return Err(Exc::UserError("You cannot cancel a locked order. Please unlock it first.".into()));
    }
    let quiet = context.get("disable_cancel_warning").is_some_and(|v| !v.is_falsy());
    if !quiet && ids.iter().any(|&o| world.value(SO, o, "state").as_str() != Some("draft")) {
        // The form's button opens the wizard that offers to tell the customer; nothing is cancelled yet.
        let wizard = create_one(world, "sale.order.cancel", BTreeMap::from([("order_id".into(), Val::Int(ids[0]))]))?;
        return Ok(Val::map([
            ("name", Val::from("Cancel Sales Order")),
            ("type", Val::from("ir.actions.act_window")),
            ("res_model", Val::from("sale.order.cancel")),
            ("view_mode", Val::from("form")),
            ("res_id", Val::Int(wizard)),
            ("target", Val::from("new")),
        ]));
    }
    for &order in ids {
        for invoice in world.x2many(SO, order, "invoice_ids") {
            if world.value("account.move", invoice, "state").as_str() == Some("draft") {
                world.set("account.move", invoice, "state", Val::from("cancel"));
            }
        }
        let open: Vec<i64> = world
            .x2many(SO, order, "picking_ids")
            .into_iter()
            .filter(|&p| world.value(PICKING, p, "state").as_str() != Some("done"))
            .collect();
        cancel_pickings(world, &open)?;
        world.set(SO, order, "state", Val::from("cancel"));
        recompute_order(world, order)?;
    }
    Ok(Val::Bool(true))
}

fn action_draft(world: &mut World, ids: &[i64]) -> OrmResult<Val> {
    world.check_ids(SO, ids)?;
    for &order in ids {
        if world.value(SO, order, "state").as_str() == Some("cancel") {
            world.set(SO, order, "state", Val::from("draft"));
        }
    }
    Ok(Val::Bool(true))
}

fn set_locked(world: &mut World, ids: &[i64], locked: bool) -> OrmResult<Val> {
    world.check_ids(SO, ids)?;
    for &order in ids {
        world.set(SO, order, "locked", Val::Bool(locked));
    }
    Ok(Val::Bool(true))
}

fn cancel_pickings(world: &mut World, ids: &[i64]) -> OrmResult<Val> {
    world.check_ids(PICKING, ids)?;
    for &p in ids {
        if world.value(PICKING, p, "state").as_str() == Some("done") {
            return Err(Exc::UserError("You cannot cancel a stock move that has been set to 'Done'.".into()));
        }
        world.set(PICKING, p, "state", Val::from("cancel"));
        for m in world.children(MOVE, "picking_id", p) {
            world.set(MOVE, m, "state", Val::from("cancel"));
        }
    }
    Ok(Val::Bool(true))
}

/// Validates deliveries: everything reserved is done, and the order lines count it delivered.
fn button_validate(world: &mut World, ids: &[i64]) -> OrmResult<Val> {
    world.check_ids(PICKING, ids)?;
    for &p in ids {
        match world.value(PICKING, p, "state").as_str() {
            Some("done") => return Err(Exc::UserError("This transfer is already done.".into())),
            Some("cancel") => return Err(Exc::UserError("You cannot validate a cancelled transfer.".into())),
            _ => {}
        }
        for m in world.children(MOVE, "picking_id", p) {
            let qty = world.decimal(MOVE, m, "product_uom_qty");
            world.set(MOVE, m, "quantity", Val::Num(qty));
            world.set(MOVE, m, "state", Val::from("done"));
            if let Some(line) = world.m2o(MOVE, m, "sale_line_id") {
                let delivered = world.decimal(SOL, line, "qty_delivered") + qty;
                world.set(SOL, line, "qty_delivered", Val::Num(delivered));
            }
        }
        world.set(PICKING, p, "state", Val::from("done"));
        world.set(PICKING, p, "date_done", Val::Str(format!("{} 00:00:00", world.today)));
        if let Some(order) = world.m2o(PICKING, p, "sale_id") {
            recompute_order(world, order)?;
        }
    }
    Ok(Val::Bool(true))
}

/// `sale.advance.payment.inv.create_invoices` for regular invoices (`delivered`): one draft
/// customer invoice per order, of what each line has left to invoice.
fn create_invoices(world: &mut World, wizards: &[i64]) -> OrmResult<Val> {
    world.check_ids("sale.advance.payment.inv", wizards)?;
    for &wizard in wizards {
        if world.value("sale.advance.payment.inv", wizard, "advance_payment_method").as_str() != Some("delivered") {
            return Err(Exc::UserError("The sandbox invoices delivered quantities only.".into()));
        }
        for order in world.x2many("sale.advance.payment.inv", wizard, "sale_order_ids") {
            invoice_order(world, order)?;
        }
    }
    Ok(Val::map([("type", Val::from("ir.actions.act_window_close"))]))
}

fn invoice_order(world: &mut World, order: i64) -> OrmResult<i64> {
    if world.value(SO, order, "state").as_str() != Some("sale") {
        return Err(Exc::UserError("You may only invoice confirmed sales orders.".into()));
    }
    let lines: Vec<(i64, Decimal)> = world
        .children(SOL, "order_id", order)
        .into_iter()
        .map(|l| (l, qty_to_invoice(world, l)))
        .filter(|(_, q)| *q > Decimal::ZERO)
        .collect();
    if lines.is_empty() {
        return Err(Exc::UserError(
            "There is no invoiceable line. If a product has a Delivered quantities invoicing policy, please make sure that a quantity has been delivered.".into(),
        ));
    }
    let commands: Vec<Val> = lines
        .iter()
        .map(|(line, qty)| {
            let mut vals: BTreeMap<String, Val> =
                ["name", "product_id", "price_unit", "discount", "analytic_distribution"]
                    .iter()
                    .map(|f| (f.to_string(), world.value(SOL, *line, f)))
                    .filter(|(_, v)| !v.is_falsy())
                    .collect();
            vals.insert("quantity".into(), Val::Num(*qty));
            let taxes = Val::ids(&world.x2many(SOL, *line, "tax_ids"));
            vals.insert("tax_ids".into(), Val::list([Val::list([Val::Int(6), Val::Int(0), taxes])]));
            vals.insert("sale_line_ids".into(), Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&[*line])])]));
            Val::list([Val::Int(0), Val::Int(0), Val::Map(vals)])
        })
        .collect();
    let mut vals = BTreeMap::from([
        ("move_type".to_string(), Val::from("out_invoice")),
        ("partner_id".to_string(), world.value(SO, order, "partner_invoice_id")),
        ("invoice_origin".to_string(), world.value(SO, order, "name")),
        ("ref".to_string(), world.value(SO, order, "client_order_ref")),
        ("currency_id".to_string(), world.value(SO, order, "currency_id")),
        ("invoice_line_ids".to_string(), Val::List(commands)),
    ]);
    for (from, to) in [("payment_term_id", "invoice_payment_term_id"), ("fiscal_position_id", "fiscal_position_id")] {
        let v = world.value(SO, order, from);
        if !v.is_falsy() {
            vals.insert(to.to_string(), v);
        }
    }
    let invoice = create_one(world, "account.move", vals)?;
    for (line, qty) in lines {
        let invoiced = world.decimal(SOL, line, "qty_invoiced") + qty;
        world.set(SOL, line, "qty_invoiced", Val::Num(invoiced));
        let mut links = world.x2many(SOL, line, "invoice_lines");
        links.extend(
            world
                .children("account.move.line", "move_id", invoice)
                .into_iter()
                .filter(|&l| world.x2many("account.move.line", l, "sale_line_ids").contains(&line)),
        );
        world.set(SOL, line, "invoice_lines", Val::ids(&links));
    }
    let mut invoices = world.x2many(SO, order, "invoice_ids");
    invoices.push(invoice);
    world.set(SO, order, "invoice_ids", Val::ids(&invoices));
    recompute_order(world, order)?;
    Ok(invoice)
}
