//! The sandbox's tiny ORM: models with typed fields, records as value maps, Odoo's write commands,
//! domains, and the errors Odoo raises for bad names and values.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use shared::odoo::value::Val;

/// An exception as Odoo raises it; the server turns it into an XML-RPC fault or a JSON-2 error.
#[derive(Debug, Clone, PartialEq)]
pub enum Exc {
    UserError(String),
    ValidationError(String),
    AccessError(String),
    AccessDenied,
    MissingError(String),
    /// A Python exception outside Odoo's hierarchy (`ValueError`, `TypeError`, `AttributeError`, ...).
    Python {
        class: &'static str,
        message: String,
    },
    /// No such route (JSON-2 answers 404).
    NotFound(String),
    /// Arguments that do not bind to the method's signature (JSON-2 answers 422).
    BadArguments(String),
    Serialization,
}

pub type OrmResult<T> = Result<T, Exc>;

pub fn value_error(message: impl Into<String>) -> Exc {
    Exc::Python { class: "ValueError", message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Char,
    Int,
    Float,
    Bool,
    Date,
    Json,
    Selection(&'static [&'static str]),
    Many2one(&'static str),
    One2many(&'static str, &'static str),
    Many2many(&'static str),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Computed by the sandbox; values written to it are ignored, as Odoo recomputes them.
    pub computed: bool,
}

pub(crate) const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: false, computed: false }
}

pub(crate) const fn req(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: true, computed: false }
}

pub(crate) const fn comp(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: false, computed: true }
}

use Kind::*;

pub const MOVE_TYPES: &[&str] =
    &["entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt"];

/// The models the sandbox holds, with the fields a connector uses.
pub fn schema() -> BTreeMap<&'static str, Vec<Field>> {
    let mut models = accounting_schema();
    models.extend(super::sales::schema());
    // Every model's magic fields: set by the ORM, in UTC, `YYYY-MM-DD HH:MM:SS` (which sorts as it reads).
    for fields in models.values_mut() {
        fields.push(f("create_date", Char));
        fields.push(f("write_date", Char));
    }
    models
}

fn accounting_schema() -> BTreeMap<&'static str, Vec<Field>> {
    BTreeMap::from([
        ("res.users", vec![req("name", Char), req("login", Char), f("partner_id", Many2one("res.partner"))]),
        (
            "res.partner",
            vec![
                req("name", Char),
                f("ref", Char),
                f("email", Char),
                f("phone", Char),
                f("vat", Char),
                f("is_company", Bool),
                f("parent_id", Many2one("res.partner")),
                f("type", Selection(&["contact", "invoice", "delivery", "other"])),
                f("street", Char),
                f("street2", Char),
                f("zip", Char),
                f("city", Char),
                f("state_id", Many2one("res.country.state")),
                f("country_id", Many2one("res.country")),
                f("customer_rank", Int),
                f("comment", Char),
                f("active", Bool),
            ],
        ),
        ("res.country", vec![req("name", Char), req("code", Char)]),
        ("res.country.state", vec![req("name", Char), req("code", Char), req("country_id", Many2one("res.country"))]),
        (
            "res.currency",
            vec![
                req("name", Char),
                f("symbol", Char),
                f("rounding", Float),
                f("decimal_places", Int),
                f("active", Bool),
            ],
        ),
        (
            "product.category",
            vec![
                req("name", Char),
                f("parent_id", Many2one("product.category")),
                comp("complete_name", Char),
                f("property_account_income_categ_id", Many2one("account.account")),
            ],
        ),
        (
            "product.template",
            vec![
                req("name", Char),
                f("default_code", Char),
                f("categ_id", Many2one("product.category")),
                f("list_price", Float),
                f("type", Selection(&["consu", "service", "combo"])),
                f("is_storable", Bool),
                f("invoice_policy", Selection(&["order", "delivery"])),
                f("taxes_id", Many2many("account.tax")),
                f("active", Bool),
            ],
        ),
        (
            "product.product",
            vec![
                f("name", Char),
                f("product_tmpl_id", Many2one("product.template")),
                f("default_code", Char),
                f("barcode", Char),
                f("categ_id", Many2one("product.category")),
                f("lst_price", Float),
                f("taxes_id", Many2many("account.tax")),
                // Delegated to the template in Odoo (`_inherits`); kept on both here.
                f("type", Selection(&["consu", "service", "combo"])),
                f("is_storable", Bool),
                f("invoice_policy", Selection(&["order", "delivery"])),
                f("active", Bool),
            ],
        ),
        (
            "account.account",
            vec![
                req("code", Char),
                req("name", Char),
                f(
                    "account_type",
                    Selection(&[
                        "asset_receivable",
                        "asset_current",
                        "liability_current",
                        "income",
                        "income_other",
                        "expense",
                    ]),
                ),
                f("reconcile", Bool),
            ],
        ),
        ("account.analytic.account", vec![req("name", Char), f("code", Char), f("active", Bool)]),
        ("account.payment.term", vec![req("name", Char), f("active", Bool)]),
        (
            "account.journal",
            vec![
                req("name", Char),
                req("code", Char),
                req("type", Selection(&["sale", "purchase", "general", "bank", "cash"])),
                f("default_account_id", Many2one("account.account")),
            ],
        ),
        (
            "account.tax",
            vec![
                req("name", Char),
                req("amount", Float),
                f("amount_type", Selection(&["percent", "fixed"])),
                f("type_tax_use", Selection(&["sale", "purchase", "none"])),
                f("price_include", Bool),
                f("active", Bool),
            ],
        ),
        (
            "account.move",
            vec![
                f("name", Char),
                f("move_type", Selection(MOVE_TYPES)),
                comp("state", Selection(&["draft", "posted", "cancel"])),
                f("partner_id", Many2one("res.partner")),
                f("invoice_date", Date),
                f("date", Date),
                f("ref", Char),
                f("invoice_origin", Char),
                f("payment_reference", Char),
                f("narration", Char),
                f("currency_id", Many2one("res.currency")),
                f("journal_id", Many2one("account.journal")),
                f("invoice_payment_term_id", Many2one("account.payment.term")),
                f("fiscal_position_id", Many2one("account.fiscal.position")),
                f("reversed_entry_id", Many2one("account.move")),
                f("invoice_line_ids", One2many("account.move.line", "move_id")),
                f("line_ids", One2many("account.move.line", "move_id")),
                comp("amount_untaxed", Float),
                comp("amount_tax", Float),
                comp("amount_total", Float),
                comp("amount_residual", Float),
                comp("payment_state", Selection(&["not_paid", "in_payment", "paid", "partial", "reversed"])),
            ],
        ),
        (
            "account.move.line",
            vec![
                req("move_id", Many2one("account.move")),
                f("name", Char),
                f("product_id", Many2one("product.product")),
                f("quantity", Float),
                f("price_unit", Float),
                f("discount", Float),
                f("tax_ids", Many2many("account.tax")),
                f("account_id", Many2one("account.account")),
                f("analytic_distribution", Json),
                f("display_type", Selection(&["product", "tax", "payment_term", "line_section", "line_note"])),
                f("partner_id", Many2one("res.partner")),
                f("debit", Float),
                f("credit", Float),
                comp("balance", Float),
                comp("price_subtotal", Float),
                comp("price_total", Float),
                comp("tax_line_id", Many2one("account.tax")),
                f("sale_line_ids", Many2many("sale.order.line")),
            ],
        ),
        (
            "account.move.reversal",
            vec![
                f("move_ids", Many2many("account.move")),
                f("reason", Char),
                f("date", Date),
                f("journal_id", Many2one("account.journal")),
                comp("new_move_ids", Many2many("account.move")),
            ],
        ),
        (
            "account.payment.register",
            vec![
                f("move_ids", Many2many("account.move")),
                f("amount", Float),
                f("payment_date", Date),
                f("journal_id", Many2one("account.journal")),
                f("communication", Char),
            ],
        ),
        (
            "account.payment",
            vec![
                f("amount", Float),
                f("payment_type", Selection(&["inbound", "outbound"])),
                f("partner_id", Many2one("res.partner")),
                f("date", Date),
                f("memo", Char),
                f("journal_id", Many2one("account.journal")),
                f("state", Selection(&["draft", "in_process", "paid"])),
                f("reconciled_invoice_ids", Many2many("account.move")),
            ],
        ),
        (
            // What `message_post` leaves on a document's chatter (mail.thread).
            "mail.message",
            vec![
                f("model", Char),
                f("res_id", Int),
                f("body", Char),
                f("subject", Char),
                f("message_type", Selection(&["email", "comment", "notification", "user_notification"])),
                f("is_internal", Bool),
            ],
        ),
        (
            "ir.model.data",
            vec![
                req("module", Char),
                req("name", Char),
                req("model", Char),
                req("res_id", Int),
                f("noupdate", Bool),
                comp("complete_name", Char),
            ],
        ),
    ])
}

pub type Rec = BTreeMap<String, Val>;

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub next_id: i64,
    pub rows: BTreeMap<i64, Rec>,
}

/// All the sandbox's data. Cloned before each writing call so a failed call leaves no trace,
/// as Odoo's transaction-per-call does.
#[derive(Debug, Clone)]
pub struct World {
    pub schema: std::sync::Arc<BTreeMap<&'static str, Vec<Field>>>,
    pub tables: BTreeMap<String, Table>,
    /// Which account each tax posts to (Odoo keeps this on repartition lines).
    pub tax_accounts: BTreeMap<i64, i64>,
    pub receivable_account: i64,
    pub today: String,
    /// The company's `tax_calculation_rounding_method` is `round_globally`: taxes are summed
    /// unrounded over the lines and rounded once per tax (Odoo's default is `round_per_line`).
    pub round_globally: bool,
    /// The current transaction's start, as Odoo's `cr.now()`: every record a call creates or
    /// writes gets it as `write_date`, to the second.
    pub now: String,
}

impl World {
    pub fn new(today: String) -> Self {
        let schema = schema();
        let tables = schema.keys().map(|m| (m.to_string(), Table { next_id: 1, rows: BTreeMap::new() })).collect();
        World {
            schema: std::sync::Arc::new(schema),
            tables,
            tax_accounts: BTreeMap::new(),
            receivable_account: 0,
            today,
            round_globally: false,
            now: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    pub fn has_model(&self, model: &str) -> bool {
        self.schema.contains_key(model)
    }

    pub fn field(&self, model: &str, name: &str) -> OrmResult<Field> {
        self.schema
            .get(model)
            .and_then(|fields| fields.iter().find(|f| f.name == name))
            .cloned()
            .ok_or_else(|| value_error(format!("Invalid field '{name}' on model '{model}'")))
    }

    pub fn fields(&self, model: &str) -> Vec<Field> {
        self.schema.get(model).cloned().unwrap_or_default()
    }

    pub fn table(&self, model: &str) -> &Table {
        self.tables.get(model).expect("known model")
    }

    pub fn table_mut(&mut self, model: &str) -> &mut Table {
        self.tables.get_mut(model).expect("known model")
    }

    pub fn get(&self, model: &str, id: i64) -> Option<&Rec> {
        self.table(model).rows.get(&id)
    }

    pub fn exists(&self, model: &str, id: i64) -> bool {
        self.get(model, id).is_some()
    }

    pub fn missing(model: &str, ids: &[i64]) -> Exc {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        Exc::MissingError(format!(
            "Record does not exist or has been deleted.\n(Record: {model}({},), User: 2)",
            ids.join(", ")
        ))
    }

    pub fn check_ids(&self, model: &str, ids: &[i64]) -> OrmResult<()> {
        let missing: Vec<i64> = ids.iter().copied().filter(|&id| !self.exists(model, id)).collect();
        if missing.is_empty() { Ok(()) } else { Err(Self::missing(model, &missing)) }
    }

    /// Stored value of a field, with Odoo's empty value for unset fields.
    pub fn value(&self, model: &str, id: i64, field: &str) -> Val {
        self.get(model, id).and_then(|r| r.get(field)).cloned().unwrap_or(Val::Bool(false))
    }

    pub fn decimal(&self, model: &str, id: i64, field: &str) -> Decimal {
        self.value(model, id, field).as_decimal().unwrap_or_default()
    }

    pub fn m2o(&self, model: &str, id: i64, field: &str) -> Option<i64> {
        self.value(model, id, field).as_i64()
    }

    pub fn x2many(&self, model: &str, id: i64, field: &str) -> Vec<i64> {
        match self.value(model, id, field) {
            Val::List(l) => l.iter().filter_map(Val::as_i64).collect(),
            _ => vec![],
        }
    }

    /// Stores one field; any stored write bumps the record's `write_date` to the transaction's.
    pub fn set(&mut self, model: &str, id: i64, field: &str, value: Val) {
        let now = Val::Str(self.now.clone());
        if let Some(rec) = self.table_mut(model).rows.get_mut(&id) {
            rec.insert(field.to_string(), value);
            rec.insert("write_date".into(), now.clone());
            rec.entry("create_date".into()).or_insert(now);
        }
    }

    pub fn display_name(&self, model: &str, id: i64) -> String {
        let s = |f: &str| self.value(model, id, f).as_str().map(String::from);
        match model {
            "account.account" => format!("{} {}", s("code").unwrap_or_default(), s("name").unwrap_or_default()),
            "product.product" => match s("default_code") {
                Some(code) => format!("[{code}] {}", s("name").unwrap_or_default()),
                None => s("name").unwrap_or_default(),
            },
            "product.category" => s("complete_name").unwrap_or_default(),
            "ir.model.data" => s("complete_name").unwrap_or_default(),
            _ => s("name").unwrap_or_else(|| format!("{model},{id}")),
        }
    }

    fn new_id(&mut self, model: &str) -> i64 {
        let table = self.table_mut(model);
        let id = table.next_id;
        table.next_id += 1;
        id
    }

    /// Creates one record from `vals`, applying x2many commands. Defaults and model rules are the
    /// caller's (see `super::models`); this checks names and types.
    pub fn insert(&mut self, model: &str, vals: &BTreeMap<String, Val>) -> OrmResult<i64> {
        let id = self.new_id(model);
        self.table_mut(model).rows.insert(id, Rec::from([("id".to_string(), Val::Int(id))]));
        if let Err(e) = self.assign(model, id, vals) {
            self.table_mut(model).rows.remove(&id);
            return Err(e);
        }
        for field in self.fields(model) {
            if field.required
                && self.value(model, id, field.name).is_falsy()
                && !matches!(field.kind, Bool | Int | Float)
            {
                return Err(Exc::ValidationError(format!(
                    "The operation cannot be completed: Missing required value for the field '{}' on model '{model}'",
                    field.name
                )));
            }
        }
        Ok(id)
    }

    /// Writes `vals` onto an existing record.
    pub fn assign(&mut self, model: &str, id: i64, vals: &BTreeMap<String, Val>) -> OrmResult<()> {
        for (name, value) in vals {
            let field = self.field(model, name)?;
            if field.computed {
                continue;
            }
            match field.kind {
                One2many(comodel, inverse) => self.apply_o2m(comodel, inverse, id, value)?,
                Many2many(comodel) => {
                    let current = self.x2many(model, id, name);
                    let ids = self.apply_m2m(comodel, current, value)?;
                    self.set(model, id, name, Val::ids(&ids));
                }
                kind => {
                    let v = self.coerce(model, name, kind, value)?;
                    self.set(model, id, name, v);
                }
            }
        }
        Ok(())
    }

    fn coerce(&self, model: &str, name: &str, kind: Kind, value: &Val) -> OrmResult<Val> {
        let wrong = || value_error(format!("Wrong value for {model}.{name}: {value:?}"));
        if matches!(value, Val::Bool(false) | Val::Nil) && !matches!(kind, Bool) {
            return Ok(Val::Bool(false));
        }
        Ok(match kind {
            Char => match value {
                Val::Str(_) => value.clone(),
                Val::Int(i) => Val::Str(i.to_string()),
                _ => return Err(wrong()),
            },
            Int => Val::Int(value.as_i64().ok_or_else(wrong)?),
            Float => Val::Num(value.as_decimal().ok_or_else(wrong)?),
            Bool => Val::Bool(!value.is_falsy()),
            Date => {
                let s = value.as_str().ok_or_else(wrong)?;
                chrono::NaiveDate::parse_from_str(&s[..s.len().min(10)], "%Y-%m-%d")
                    .map_err(|_| value_error(format!("time data '{s}' does not match format '%Y-%m-%d'")))?;
                Val::Str(s[..10].to_string())
            }
            Json => match value {
                Val::Map(_) => value.clone(),
                _ => return Err(wrong()),
            },
            Selection(allowed) => {
                let s = value.as_str().ok_or_else(wrong)?;
                if !allowed.contains(&s) {
                    return Err(value_error(format!("Wrong value for {model}.{name}: '{s}'")));
                }
                value.clone()
            }
            Many2one(comodel) => {
                let target = value.many2one_id().ok_or_else(wrong)?;
                if !self.exists(comodel, target) {
                    return Err(Self::missing(comodel, &[target]));
                }
                Val::Int(target)
            }
            One2many(..) | Many2many(_) => unreachable!("x2many handled by assign"),
        })
    }

    /// Odoo's x2many commands: `[0,0,vals]` create, `[1,id,vals]` update, `[2,id,0]` delete,
    /// `[3,id,0]` unlink, `[4,id,0]` link, `[5,0,0]` clear, `[6,0,ids]` replace.
    fn commands(value: &Val) -> OrmResult<Vec<(i64, i64, Val)>> {
        let list = value
            .as_list()
            .ok_or_else(|| value_error(format!("x2many value must be a list of commands, not {value:?}")))?;
        list.iter()
            .map(|c| match c {
                Val::Int(id) => Ok((4, *id, Val::Bool(false))), // a bare id links it
                Val::List(parts) if parts.len() >= 2 => {
                    let op = parts[0].as_i64().ok_or_else(|| value_error(format!("bad command {c:?}")))?;
                    let id = parts[1].as_i64().unwrap_or(0);
                    Ok((op, id, parts.get(2).cloned().unwrap_or(Val::Bool(false))))
                }
                _ => Err(value_error(format!("bad command {c:?}"))),
            })
            .collect()
    }

    fn apply_m2m(&self, comodel: &str, mut current: Vec<i64>, value: &Val) -> OrmResult<Vec<i64>> {
        for (op, id, arg) in Self::commands(value)? {
            match op {
                3 => current.retain(|&x| x != id),
                4 => {
                    self.check_ids(comodel, &[id])?;
                    if !current.contains(&id) {
                        current.push(id);
                    }
                }
                5 => current.clear(),
                6 => {
                    let ids: Vec<i64> = arg.as_list().unwrap_or_default().iter().filter_map(Val::as_i64).collect();
                    self.check_ids(comodel, &ids)?;
                    current = ids;
                }
                _ => return Err(value_error(format!("command {op} is not supported on a many2many"))),
            }
        }
        Ok(current)
    }

    fn apply_o2m(&mut self, comodel: &str, inverse: &str, parent: i64, value: &Val) -> OrmResult<()> {
        for (op, id, arg) in Self::commands(value)? {
            match op {
                0 => {
                    let mut vals = arg.as_map().cloned().ok_or_else(|| value_error("command 0 needs a values dict"))?;
                    vals.insert(inverse.to_string(), Val::Int(parent));
                    super::models::create_one(self, comodel, vals)?;
                }
                1 => {
                    self.check_ids(comodel, &[id])?;
                    let vals = arg.as_map().cloned().ok_or_else(|| value_error("command 1 needs a values dict"))?;
                    self.assign(comodel, id, &vals)?;
                }
                2 | 3 => {
                    self.table_mut(comodel).rows.remove(&id);
                }
                5 => {
                    let children: Vec<i64> = self.children(comodel, inverse, parent);
                    for c in children {
                        self.table_mut(comodel).rows.remove(&c);
                    }
                }
                _ => return Err(value_error(format!("command {op} is not supported on a one2many"))),
            }
        }
        Ok(())
    }

    pub fn children(&self, comodel: &str, inverse: &str, parent: i64) -> Vec<i64> {
        self.table(comodel)
            .rows
            .iter()
            .filter(|(_, r)| r.get(inverse).and_then(Val::as_i64) == Some(parent))
            .map(|(id, _)| *id)
            .collect()
    }

    /// A field's value as `read` returns it: many2one as `[id, name]`, x2many as ids, empty as `False`.
    pub fn read_value(&self, model: &str, id: i64, field: &Field) -> Val {
        match field.kind {
            One2many(comodel, inverse) => {
                let mut ids = self.children(comodel, inverse, id);
                if model == "account.move" && field.name == "invoice_line_ids" {
                    ids.retain(|&l| {
                        matches!(
                            self.value(comodel, l, "display_type").as_str(),
                            Some("product" | "line_section" | "line_note")
                        )
                    });
                }
                Val::ids(&ids)
            }
            Many2many(_) => Val::ids(&self.x2many(model, id, field.name)),
            Many2one(comodel) => match self.m2o(model, id, field.name) {
                Some(target) => Val::list([Val::Int(target), Val::Str(self.display_name(comodel, target))]),
                None => Val::Bool(false),
            },
            Bool => Val::Bool(!self.value(model, id, field.name).is_falsy()),
            Int => self.m2o(model, id, field.name).map(Val::Int).unwrap_or(Val::Int(0)),
            Float => Val::Num(self.decimal(model, id, field.name)),
            _ => self.value(model, id, field.name),
        }
    }

    pub fn read(&self, model: &str, ids: &[i64], fields: &[String]) -> OrmResult<Vec<Val>> {
        self.check_ids(model, ids)?;
        let chosen: Vec<Field> = if fields.is_empty() {
            self.fields(model)
        } else {
            fields
                .iter()
                .filter(|f| !matches!(f.as_str(), "id" | "display_name"))
                .map(|f| self.field(model, f))
                .collect::<OrmResult<_>>()?
        };
        Ok(ids
            .iter()
            .map(|&id| {
                let mut row = BTreeMap::from([("id".to_string(), Val::Int(id))]);
                if fields.iter().any(|f| f == "display_name") || fields.is_empty() {
                    row.insert("display_name".into(), Val::Str(self.display_name(model, id)));
                }
                for field in &chosen {
                    row.insert(field.name.to_string(), self.read_value(model, id, field));
                }
                Val::Map(row)
            })
            .collect())
    }

    // -- Domains ---------------------------------------------------------------------------

    pub fn search(
        &self,
        model: &str,
        domain: &Val,
        offset: usize,
        limit: Option<usize>,
        order: Option<&str>,
    ) -> OrmResult<Vec<i64>> {
        let domain = domain.as_list().map(<[Val]>::to_vec).unwrap_or_default();
        let mut ids = Vec::new();
        for &id in self.table(model).rows.keys() {
            if self.matches(model, id, &domain)? {
                ids.push(id);
            }
        }
        if let Some(order) = order {
            // `write_date asc, id asc`: keys in turn, each ascending unless `desc`.
            let mut keys = Vec::new();
            for part in order.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let mut words = part.split_whitespace();
                let field = words.next().unwrap_or("id").to_string();
                let desc = words.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                if field != "id" {
                    self.field(model, &field)?;
                }
                keys.push((field, desc));
            }
            ids.sort_by(|a, b| {
                let key =
                    |id: i64, field: &str| if field == "id" { Val::Int(id) } else { self.value(model, id, field) };
                keys.iter()
                    .map(|(field, desc)| {
                        let ord = compare(&key(*a, field), &key(*b, field)).unwrap_or(std::cmp::Ordering::Equal);
                        if *desc { ord.reverse() } else { ord }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(b))
            });
        }
        Ok(ids.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect())
    }

    fn matches(&self, model: &str, id: i64, domain: &[Val]) -> OrmResult<bool> {
        // Polish notation: '&' and '|' take two terms, '!' one; adjacent terms are and-ed.
        fn eval(world: &World, model: &str, id: i64, terms: &[Val], pos: &mut usize) -> OrmResult<bool> {
            let term = terms.get(*pos).ok_or_else(|| value_error("Invalid domain: missing term"))?;
            *pos += 1;
            match term {
                Val::Str(op) if op == "&" => {
                    Ok(eval(world, model, id, terms, pos)? & eval(world, model, id, terms, pos)?)
                }
                Val::Str(op) if op == "|" => {
                    Ok(eval(world, model, id, terms, pos)? | eval(world, model, id, terms, pos)?)
                }
                Val::Str(op) if op == "!" => Ok(!eval(world, model, id, terms, pos)?),
                Val::List(triple) if triple.len() == 3 => world.leaf(model, id, triple),
                other => Err(value_error(format!("Invalid domain term {other:?}"))),
            }
        }
        let mut pos = 0;
        while pos < domain.len() {
            if !eval(self, model, id, domain, &mut pos)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn leaf(&self, model: &str, id: i64, triple: &[Val]) -> OrmResult<bool> {
        let name = triple[0].as_str().ok_or_else(|| value_error("Invalid leaf"))?;
        let op = triple[1].as_str().ok_or_else(|| value_error("Invalid leaf"))?;
        let rhs = &triple[2];
        let actual = if name == "id" {
            Val::Int(id)
        } else {
            let field = self.field(model, name)?;
            match field.kind {
                One2many(..) | Many2many(_) => self.read_value(model, id, &field),
                _ => self.value(model, id, name),
            }
        };
        let eq = |a: &Val, b: &Val| match (a, b) {
            (Val::List(ids), Val::Int(x)) => ids.contains(&Val::Int(*x)),
            (a, b) if a.is_falsy() && b.is_falsy() => true,
            _ => compare(a, b) == Some(std::cmp::Ordering::Equal),
        };
        Ok(match op {
            "=" => eq(&actual, rhs),
            "!=" => !eq(&actual, rhs),
            "in" => rhs.as_list().unwrap_or_default().iter().any(|v| eq(&actual, v)),
            "not in" => !rhs.as_list().unwrap_or_default().iter().any(|v| eq(&actual, v)),
            "ilike" | "like" | "=ilike" | "=like" => {
                let (a, b) = (actual.as_str().unwrap_or_default(), rhs.as_str().unwrap_or_default());
                let (a, b) = if op.contains('i') {
                    (a.to_lowercase(), b.to_lowercase())
                } else {
                    (a.to_string(), b.to_string())
                };
                // `like`/`ilike` wrap the value in `%…%`; the `=` forms take it as the SQL pattern.
                if op.starts_with('=') { sql_like(&a, &b) } else { a.contains(&b) }
            }
            ">" | ">=" | "<" | "<=" => {
                let Some(ord) = compare(&actual, rhs) else { return Ok(false) };
                match op {
                    ">" => ord.is_gt(),
                    ">=" => ord.is_ge(),
                    "<" => ord.is_lt(),
                    _ => ord.is_le(),
                }
            }
            other => return Err(value_error(format!("Invalid domain operator {other:?}"))),
        })
    }
}

/// SQL `LIKE`: `%` any run, `_` any one character, `\` escapes the next.
fn sql_like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some(('\\', rest)) if !rest.is_empty() => t.first() == Some(&rest[0]) && go(&t[1..], &rest[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    go(&t, &p)
}

fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => Some(a.as_decimal()?.cmp(&b.as_decimal()?)),
    }
}
