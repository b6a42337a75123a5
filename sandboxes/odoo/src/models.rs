//! Model behaviour: defaults, rules and the public methods the sandbox answers, with their
//! signatures (`@api.model` methods take no ids).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::accounting;
use super::orm::{Exc, OrmResult, World, value_error};
use shared::odoo::value::Val;

/// A method's signature: does it run on the model (no ids), and its parameters in order.
pub fn signature(model: &str, method: &str) -> Option<(bool, &'static [&'static str])> {
    Some(match (model, method) {
        (_, "create") => (true, &["vals_list"]),
        (_, "search") => (true, &["domain", "offset", "limit", "order"]),
        (_, "search_read") => (true, &["domain", "fields", "offset", "limit", "order"]),
        (_, "search_count") => (true, &["domain", "limit"]),
        (_, "read") => (false, &["fields"]),
        (_, "write") => (false, &["vals"]),
        (_, "unlink") => (false, &[]),
        ("account.move", "action_post" | "button_draft" | "button_cancel") => (false, &[]),
        ("account.move.reversal", "refund_moves") => (false, &[]),
        ("account.payment.register", "action_create_payments") => (false, &[]),
        ("res.users", "context_get") => (true, &[]),
        // Keyword-only in Odoo (`def message_post(self, *, body='', ...)`): no positional names.
        ("account.move" | "res.partner" | "sale.order" | "stock.picking", "message_post") => (false, &[]),
        _ => return super::sales::signature(model, method),
    })
}

/// Keyword-only parameters a method also takes (Odoo's `*,` in the signature).
pub fn keyword_only(model: &str, method: &str) -> &'static [&'static str] {
    match (model, method) {
        ("account.move" | "res.partner" | "sale.order" | "stock.picking", "message_post") => {
            &["body", "subject", "message_type", "subtype_xmlid"]
        }
        _ => &[],
    }
}

fn arg<'a>(args: &'a BTreeMap<String, Val>, name: &str) -> Option<&'a Val> {
    args.get(name).filter(|v| !matches!(v, Val::Nil))
}

fn fields_arg(args: &BTreeMap<String, Val>) -> Vec<String> {
    arg(args, "fields")
        .and_then(Val::as_list)
        .map(|l| l.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Runs a bound call. `ids` is `Some` exactly for record methods.
pub fn dispatch(
    world: &mut World,
    model: &str,
    method: &str,
    ids: Vec<i64>,
    args: &BTreeMap<String, Val>,
    context: &Val,
) -> OrmResult<Val> {
    match method {
        "create" => {
            let vals = arg(args, "vals_list").ok_or_else(|| {
                Exc::BadArguments("create() missing 1 required positional argument: 'vals_list'".into())
            })?;
            match vals {
                // One dict returns one id; a list returns a list (the JSON-2 layer turns both into a list).
                Val::Map(m) => Ok(Val::Int(create_with_context(world, model, m.clone(), context)?)),
                Val::List(list) => {
                    let mut ids = Vec::new();
                    for v in list {
                        let m = v
                            .as_map()
                            .cloned()
                            .ok_or_else(|| value_error(format!("create() expects dicts, got {v:?}")))?;
                        ids.push(create_with_context(world, model, m, context)?);
                    }
                    Ok(Val::ids(&ids))
                }
                other => Err(value_error(format!("create() expects a dict or a list of dicts, got {other:?}"))),
            }
        }
        "search" | "search_read" | "search_count" => {
            let domain = arg(args, "domain").cloned().unwrap_or(Val::List(vec![]));
            let offset = arg(args, "offset").and_then(Val::as_i64).unwrap_or(0) as usize;
            let limit = arg(args, "limit").and_then(Val::as_i64).map(|l| l as usize);
            let order = arg(args, "order").and_then(Val::as_str);
            let found = world.search(model, &domain, offset, limit, order.or(Some("id")))?;
            match method {
                "search" => Ok(Val::ids(&found)),
                "search_count" => Ok(Val::Int(found.len() as i64)),
                _ => Ok(Val::List(world.read(model, &found, &fields_arg(args))?)),
            }
        }
        "read" => Ok(Val::List(world.read(model, &ids, &fields_arg(args))?)),
        "write" => {
            world.check_ids(model, &ids)?;
            let vals = arg(args, "vals")
                .and_then(Val::as_map)
                .cloned()
                .ok_or_else(|| Exc::BadArguments("write() missing 1 required positional argument: 'vals'".into()))?;
            for &id in &ids {
                before_write(world, model, id, &vals)?;
                world.assign(model, id, &vals)?;
                after_write(world, model, id)?;
            }
            Ok(Val::Bool(true))
        }
        "unlink" => {
            world.check_ids(model, &ids)?;
            for &id in &ids {
                if model == "account.move" && world.value(model, id, "state").as_str() == Some("posted") {
                    return Err(Exc::UserError("You cannot delete an entry which has been posted once.".into()));
                }
                if model == "sale.order" && matches!(world.value(model, id, "state").as_str(), Some("sale" | "sent")) {
                    return Err(Exc::UserError(
                        "You can not delete a sent quotation or a confirmed sales order. You must first cancel it."
                            .into(),
                    ));
                }
                world.table_mut(model).rows.remove(&id);
                for (parent, lines, inverse) in
                    [("account.move", "account.move.line", "move_id"), ("sale.order", "sale.order.line", "order_id")]
                {
                    if model == parent {
                        for line in world.children(lines, inverse, id) {
                            world.table_mut(lines).rows.remove(&line);
                        }
                    }
                }
            }
            Ok(Val::Bool(true))
        }
        "action_post" => accounting::action_post(world, &ids),
        "button_draft" => accounting::set_state(world, &ids, "draft"),
        "button_cancel" => accounting::set_state(world, &ids, "cancel"),
        "refund_moves" => accounting::refund_moves(world, &ids),
        "action_create_payments" => accounting::create_payments(world, &ids),
        "message_post" => message_post(world, model, &ids, args),
        "context_get" => Ok(Val::map([("lang", Val::from("en_US")), ("tz", Val::from("UTC")), ("uid", Val::Int(2))])),
        _ => super::sales::dispatch(world, model, method, &ids, context).unwrap_or_else(|| {
            Err(Exc::Python {
                class: "AttributeError",
                message: format!("The method '{method}' does not exist on the model '{model}'"),
            })
        }),
    }
}

fn create_with_context(
    world: &mut World,
    model: &str,
    mut vals: BTreeMap<String, Val>,
    context: &Val,
) -> OrmResult<i64> {
    // Wizards read the records they act on from the context, as their default_get does.
    if matches!(model, "account.move.reversal" | "account.payment.register")
        && !vals.contains_key("move_ids")
        && let Some(ids) = active_ids(context, "account.move")
    {
        vals.insert("move_ids".into(), Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&ids)])]));
    }
    super::sales::defaults(world, model, &mut vals, context);
    create_one(world, model, vals)
}

/// The records a wizard acts on, as its `default_get` reads them from the context.
pub fn active_ids(context: &Val, model: &str) -> Option<Vec<i64>> {
    if context.get("active_model").and_then(Val::as_str) != Some(model) {
        return None;
    }
    let ids = context.get("active_ids").and_then(Val::as_list).unwrap_or_default();
    Some(ids.iter().filter_map(Val::as_i64).collect())
}

/// Creates one record with the model's defaults and rules.
pub fn create_one(world: &mut World, model: &str, mut vals: BTreeMap<String, Val>) -> OrmResult<i64> {
    let mut default = |k: &str, v: Val| {
        vals.entry(k.to_string()).or_insert(v);
    };
    match model {
        "res.partner" => {
            default("active", Val::Bool(true));
            default("type", Val::from("contact"));
        }
        "product.template" | "account.analytic.account" | "account.tax" | "res.currency" => {
            default("active", Val::Bool(true))
        }
        "account.move" => {
            default("move_type", Val::from("entry"));
            default("name", Val::from("/"));
            default("date", Val::Str(world.today.clone()));
        }
        "account.move.line" => {
            default("display_type", Val::from("product"));
        }
        _ => {}
    }
    if model == "product.product" && !vals.contains_key("product_tmpl_id") {
        let template: BTreeMap<String, Val> =
            ["name", "default_code", "categ_id", "taxes_id", "type", "is_storable", "invoice_policy"]
                .iter()
                .filter_map(|k| vals.get(*k).map(|v| (k.to_string(), v.clone())))
                .chain(vals.get("lst_price").map(|p| ("list_price".to_string(), p.clone())))
                .collect();
        let tmpl = create_one(world, "product.template", template)?;
        vals.insert("product_tmpl_id".into(), Val::Int(tmpl));
        vals.entry("active".into()).or_insert(Val::Bool(true));
    }
    if model == "ir.model.data" {
        let module = vals.get("module").and_then(Val::as_str).unwrap_or_default().to_string();
        let name = vals.get("name").and_then(Val::as_str).unwrap_or_default().to_string();
        let taken = world.table(model).rows.values().any(|r| {
            r.get("module").and_then(Val::as_str) == Some(module.as_str())
                && r.get("name").and_then(Val::as_str) == Some(name.as_str())
        });
        if taken {
            return Err(Exc::ValidationError(
                "The operation cannot be completed: You cannot have multiple records with the same external ID in the same module!".into(),
            ));
        }
        vals.insert("complete_name".into(), Val::Str(format!("{module}.{name}")));
    }
    super::sales::defaults(world, model, &mut vals, &Val::Nil);
    let move_type = vals.get("move_type").and_then(Val::as_str).map(String::from);
    if model == "account.move" {
        accounting::default_move_values(world, move_type.as_deref().unwrap_or("entry"), &mut vals)?;
    }
    // Computed fields the caller may not set, set here once the record exists.
    let id = world.insert(model, &vals)?;
    match model {
        "account.move" => {
            world.set(model, id, "state", Val::from("draft"));
            world.set(model, id, "payment_state", Val::from("not_paid"));
            accounting::recompute(world, id)?;
        }
        "account.move.line" => accounting::default_line_values(world, id)?,
        "product.category" => compute_category_name(world, id),
        "ir.model.data" => {
            let complete = vals.get("complete_name").cloned().unwrap_or(Val::Bool(false));
            world.set(model, id, "complete_name", complete);
        }
        "res.partner" => check_partner_state(world, id)?,
        "account.move.reversal" => accounting::check_reversible(world, id)?,
        "account.payment.register" => accounting::default_payment_amount(world, id)?,
        _ => super::sales::after_create(world, model, id)?,
    }
    Ok(id)
}

fn before_write(world: &World, model: &str, id: i64, vals: &BTreeMap<String, Val>) -> OrmResult<()> {
    if model == "account.move" && world.value(model, id, "state").as_str() == Some("posted") {
        let locked = [
            "invoice_line_ids",
            "line_ids",
            "partner_id",
            "currency_id",
            "journal_id",
            "move_type",
            "invoice_date",
            "date",
        ];
        if let Some(field) = vals.keys().find(|k| locked.contains(&k.as_str())) {
            return Err(Exc::UserError(format!(
                "You cannot modify a posted entry of this journal ({field}); reset it to draft first, or reverse it."
            )));
        }
    }
    if model == "ir.model.data" && (vals.contains_key("module") || vals.contains_key("name")) {
        return Err(Exc::UserError("Renaming external ids is not supported by the sandbox.".into()));
    }
    super::sales::before_write(world, model, id, vals)
}

fn after_write(world: &mut World, model: &str, id: i64) -> OrmResult<()> {
    match model {
        "account.move" => accounting::recompute(world, id),
        "product.category" => {
            compute_category_name(world, id);
            Ok(())
        }
        "res.partner" => check_partner_state(world, id),
        _ => super::sales::after_write(world, model, id),
    }
}

fn compute_category_name(world: &mut World, id: i64) {
    let mut parts = vec![];
    let mut cursor = Some(id);
    while let Some(c) = cursor.filter(|_| parts.len() < 20) {
        parts.push(world.value("product.category", c, "name").as_str().unwrap_or_default().to_string());
        cursor = world.m2o("product.category", c, "parent_id");
    }
    parts.reverse();
    world.set("product.category", id, "complete_name", Val::Str(parts.join(" / ")));
}

fn check_partner_state(world: &World, id: i64) -> OrmResult<()> {
    if let Some(state) = world.m2o("res.partner", id, "state_id") {
        let state_country = world.m2o("res.country.state", state, "country_id");
        if let Some(country) = world.m2o("res.partner", id, "country_id")
            && state_country != Some(country)
        {
            return Err(Exc::ValidationError(format!(
                "The state '{}' does not belong to the country '{}'.",
                world.display_name("res.country.state", state),
                world.display_name("res.country", country)
            )));
        }
    }
    Ok(())
}

/// Rounds half away from zero to the currency's decimals, as Odoo's `float_round` does.
pub fn round_money(amount: Decimal, decimals: u32) -> Decimal {
    amount.round_dp_with_strategy(decimals, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// `mail.thread.message_post` on one record: a plain-text body is HTML-escaped, as Odoo does
/// with a `str` (only `Markup` passes as HTML); answers the new message's id.
fn message_post(world: &mut World, model: &str, ids: &[i64], args: &BTreeMap<String, Val>) -> OrmResult<Val> {
    world.check_ids(model, ids)?;
    let [id] = ids else {
        return Err(value_error(format!("Expected singleton: {model}{ids:?}")));
    };
    let message_type = arg(args, "message_type").and_then(Val::as_str).unwrap_or("notification").to_string();
    if !matches!(message_type.as_str(), "comment" | "notification") {
        return Err(value_error(format!("Posting a message with type {message_type} is not allowed")));
    }
    let subtype = arg(args, "subtype_xmlid").and_then(Val::as_str).unwrap_or("mail.mt_note");
    let body = arg(args, "body").and_then(Val::as_str).unwrap_or_default();
    let escaped = body
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let vals = BTreeMap::from([
        ("model".to_string(), Val::from(model)),
        ("res_id".to_string(), Val::Int(*id)),
        ("body".to_string(), Val::Str(escaped)),
        ("subject".to_string(), arg(args, "subject").cloned().unwrap_or(Val::Bool(false))),
        ("message_type".to_string(), Val::Str(message_type)),
        ("is_internal".to_string(), Val::Bool(subtype == "mail.mt_note")),
    ]);
    Ok(Val::Int(create_one(world, "mail.message", vals)?))
}
