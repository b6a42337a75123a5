//! The values Odoo's APIs carry, with their two wire forms: XML-RPC (`<value>` trees, read with
//! quick-xml) and JSON (JSON-2 bodies).
//!
//! Money never passes through binary floating point on the way out: a [`Val::Num`] holds a `Decimal` and is written
//! as its decimal text in both forms. On the way in, XML-RPC `<double>` text is parsed straight to
//! `Decimal`; JSON numbers are read through serde_json's shortest round-trip representation, which
//! is exactly the text Python's `json` (Odoo's encoder, `repr(float)`) wrote.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use quick_xml::events::Event;
use rust_decimal::Decimal;

/// An Odoo value. `Nil` exists only because JSON-2 can return `null`; XML-RPC cannot carry it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Num(Decimal),
    Str(String),
    List(Vec<Val>),
    Map(BTreeMap<String, Val>),
}

impl Val {
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Val)>) -> Val {
        Val::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn list(items: impl IntoIterator<Item = impl Into<Val>>) -> Val {
        Val::List(items.into_iter().map(Into::into).collect())
    }

    pub fn ids(ids: &[i64]) -> Val {
        Val::List(ids.iter().map(|&i| Val::Int(i)).collect())
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Val::Num(d) => Some(*d),
            Val::Int(i) => Some(Decimal::from(*i)),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Val]> {
        match self {
            Val::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Val>> {
        match self {
            Val::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Odoo's "empty": `False`, `None`, `""`, `[]`.
    pub fn is_falsy(&self) -> bool {
        matches!(self, Val::Nil | Val::Bool(false))
            || matches!(self, Val::Str(s) if s.is_empty())
            || matches!(self, Val::List(l) if l.is_empty())
    }

    /// A many2one as Odoo reads it (`[id, "name"]` or `False`): the id.
    pub fn many2one_id(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::List(l) => l.first().and_then(Val::as_i64),
            _ => None,
        }
    }

    // -- JSON ------------------------------------------------------------------------------

    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Val::Nil => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => write!(out, "{i}").expect("writing to a string"),
            Val::Num(d) => out.push_str(&float_text(d)),
            Val::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string serializes")),
            Val::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Val::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("a string serializes"));
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    pub fn from_json_str(text: &str) -> Result<Val, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Ok(Self::from_json(&v))
    }

    pub fn from_json(v: &serde_json::Value) -> Val {
        match v {
            serde_json::Value::Null => Val::Nil,
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => {
                    let text = n.to_string();
                    Val::Num(Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).unwrap_or_default())
                }
            },
            serde_json::Value::String(s) => Val::Str(s.clone()),
            serde_json::Value::Array(a) => Val::List(a.iter().map(Self::from_json).collect()),
            serde_json::Value::Object(o) => Val::Map(o.iter().map(|(k, v)| (k.clone(), Self::from_json(v))).collect()),
        }
    }

    // -- XML-RPC ---------------------------------------------------------------------------

    /// Writes `<value>…</value>`. Fails on `Nil`: Odoo's marshaller runs with `allow_none=False`.
    pub fn write_xml(&self, out: &mut String) -> Result<(), String> {
        out.push_str("<value>");
        match self {
            Val::Nil => return Err("XML-RPC cannot marshal None (Odoo uses allow_none=False)".into()),
            Val::Bool(b) => out.push_str(if *b { "<boolean>1</boolean>" } else { "<boolean>0</boolean>" }),
            Val::Int(i) if i32::try_from(*i).is_ok() => write!(out, "<int>{i}</int>").expect("string"),
            Val::Int(i) => write!(out, "<i8>{i}</i8>").expect("string"),
            Val::Num(d) => write!(out, "<double>{}</double>", float_text(d)).expect("string"),
            Val::Str(s) => write!(out, "<string>{}</string>", quick_xml::escape::escape(s.as_str())).expect("string"),
            Val::List(items) => {
                out.push_str("<array><data>");
                for v in items {
                    v.write_xml(out)?;
                }
                out.push_str("</data></array>");
            }
            Val::Map(m) => {
                out.push_str("<struct>");
                for (k, v) in m {
                    write!(out, "<member><name>{}</name>", quick_xml::escape::escape(k.as_str())).expect("string");
                    v.write_xml(out)?;
                    out.push_str("</member>");
                }
                out.push_str("</struct>");
            }
        }
        out.push_str("</value>");
        Ok(())
    }

    fn from_xml_node(node: &XmlNode) -> Result<Val, String> {
        if node.name != "value" {
            return Err(format!("expected <value>, found <{}>", node.name));
        }
        let Some(typed) = node.children.first() else {
            return Ok(Val::Str(node.text.clone())); // untyped <value>text</value> is a string
        };
        let text = typed.text.trim();
        Ok(match typed.name.as_str() {
            "int" | "i4" | "i8" => Val::Int(text.parse().map_err(|_| format!("bad integer {text:?}"))?),
            "boolean" => match text {
                "1" => Val::Bool(true),
                "0" => Val::Bool(false),
                _ => return Err(format!("bad boolean {text:?}")),
            },
            "double" => Val::Num(
                Decimal::from_str(text)
                    .or_else(|_| Decimal::from_scientific(text))
                    .map_err(|_| format!("bad double {text:?}"))?,
            ),
            "string" => Val::Str(typed.text.clone()),
            "dateTime.iso8601" | "base64" => Val::Str(text.to_string()),
            "nil" => Val::Nil,
            "array" => {
                let data = typed.children.first().ok_or("array without <data>")?;
                Val::List(data.children.iter().map(Self::from_xml_node).collect::<Result<_, _>>()?)
            }
            "struct" => {
                let mut map = BTreeMap::new();
                for member in &typed.children {
                    let name = member.child("name").ok_or("struct member without <name>")?.text.clone();
                    let value = member.child("value").ok_or("struct member without <value>")?;
                    map.insert(name, Self::from_xml_node(value)?);
                }
                Val::Map(map)
            }
            other => return Err(format!("unknown XML-RPC type <{other}>")),
        })
    }
}

/// A decimal as Python prints a float: always with a point (`100.0`, `19.99`), so every reader
/// sees a float, as Odoo's float fields are.
fn float_text(d: &Decimal) -> String {
    let text = d.normalize().to_string();
    if text.contains('.') { text } else { format!("{text}.0") }
}

impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Bool(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::Int(v.into())
    }
}
impl From<Decimal> for Val {
    fn from(v: Decimal) -> Val {
        Val::Num(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Str(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Str(v)
    }
}
impl From<Vec<Val>> for Val {
    fn from(v: Vec<Val>) -> Val {
        Val::List(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    /// `None` becomes `False`, as Odoo writes an empty field.
    fn from(v: Option<T>) -> Val {
        v.map(Into::into).unwrap_or(Val::Bool(false))
    }
}

/// A minimal element tree built from quick-xml events.
#[derive(Debug, Default)]
struct XmlNode {
    name: String,
    text: String,
    children: Vec<XmlNode>,
}

impl XmlNode {
    fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn parse_xml(body: &str) -> Result<XmlNode, String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<XmlNode> = vec![XmlNode::default()];
    loop {
        match reader.read_event().map_err(|e| format!("bad XML: {e}"))? {
            Event::Start(e) => stack
                .push(XmlNode { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), ..Default::default() }),
            Event::Empty(e) => {
                let node =
                    XmlNode { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), ..Default::default() };
                stack.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced XML")?;
                stack.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| format!("bad XML text: {e}"))?;
                let text = quick_xml::escape::unescape(&text).map_err(|e| format!("bad XML escape: {e}"))?;
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&text);
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                let text = match r.resolve_char_ref().map_err(|e| format!("bad character reference: {e}"))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::unescape(&format!("&{name};"))
                        .map_err(|e| format!("bad entity: {e}"))?
                        .into_owned(),
                };
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().filter(|_| stack.is_empty()).ok_or("unbalanced XML")?;
    root.children.pop().ok_or_else(|| "empty XML document".to_string())
}

/// `<methodCall>`: the method name and its parameters.
pub fn encode_call(method: &str, params: &[Val]) -> Result<String, String> {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&quick_xml::escape::escape(method));
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        p.write_xml(&mut out)?;
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>");
    Ok(out)
}

// Server side: only this module's round-trip tests use it (the Odoo sandbox has its own).
#[cfg(test)]
pub(crate) fn decode_call(body: &str) -> Result<(String, Vec<Val>), String> {
    let root = parse_xml(body)?;
    if root.name != "methodCall" {
        return Err(format!("expected <methodCall>, found <{}>", root.name));
    }
    let method = root.child("methodName").ok_or("no <methodName>")?.text.trim().to_string();
    let params = match root.child("params") {
        Some(p) => p
            .children
            .iter()
            .map(|param| Val::from_xml_node(param.child("value").ok_or("<param> without <value>")?))
            .collect::<Result<_, _>>()?,
        None => vec![],
    };
    Ok((method, params))
}

/// What a `<methodResponse>` held.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlRpcResponse {
    Value(Val),
    Fault { code: Val, message: String },
}

// Server side: only this module's round-trip tests use it (the Odoo sandbox has its own).
#[cfg(test)]
pub(crate) fn encode_response(value: &Val) -> Result<String, String> {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><params><param>");
    value.write_xml(&mut out)?;
    out.push_str("</param></params></methodResponse>");
    Ok(out)
}

// Server side: only this module's round-trip tests use it (the Odoo sandbox has its own).
#[cfg(test)]
pub(crate) fn encode_fault(code: Val, message: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><fault>");
    Val::map([("faultCode", code), ("faultString", Val::Str(message.to_string()))])
        .write_xml(&mut out)
        .expect("a fault has no None");
    out.push_str("</fault></methodResponse>");
    out
}

pub fn decode_response(body: &str) -> Result<XmlRpcResponse, String> {
    let root = parse_xml(body)?;
    if root.name != "methodResponse" {
        return Err(format!("expected <methodResponse>, found <{}>", root.name));
    }
    if let Some(fault) = root.child("fault") {
        let v = Val::from_xml_node(fault.child("value").ok_or("<fault> without <value>")?)?;
        let code = v.get("faultCode").cloned().unwrap_or(Val::Int(0));
        let message = v.get("faultString").and_then(Val::as_str).unwrap_or_default().to_string();
        return Ok(XmlRpcResponse::Fault { code, message });
    }
    let param = root.child("params").and_then(|p| p.child("param")).ok_or("response without <params><param>")?;
    Ok(XmlRpcResponse::Value(Val::from_xml_node(param.child("value").ok_or("<param> without <value>")?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn sample() -> Val {
        Val::map([
            ("name", Val::from("Ada & <Co> \"quoted\" é")),
            ("qty", Val::Int(3)),
            ("big", Val::Int(5_000_000_000)),
            ("price", Val::Num(dec!(19.99))),
            ("neg", Val::Num(dec!(-0.01))),
            ("flag", Val::Bool(false)),
            ("tags", Val::list([Val::Int(1), Val::Int(2)])),
            ("empty", Val::List(vec![])),
            ("nested", Val::map([("x", Val::map::<&str>([]))])),
        ])
    }

    #[test]
    fn xml_round_trips_and_money_stays_decimal() {
        let body = encode_call("execute_kw", &[Val::from("db"), sample()]).unwrap();
        assert!(body.contains("<double>19.99</double>"), "{body}");
        assert!(body.contains("<i8>5000000000</i8>"));
        assert!(body.contains("&amp; &lt;Co&gt;"));
        let (method, params) = decode_call(&body).unwrap();
        assert_eq!(method, "execute_kw");
        assert_eq!(params, vec![Val::from("db"), sample()]);
    }

    #[test]
    fn json_round_trips_and_money_is_written_as_decimal_text() {
        let text = sample().to_json();
        assert!(text.contains("\"price\":19.99"), "{text}");
        assert!(text.contains("\"neg\":-0.01"));
        assert_eq!(Val::from_json_str(&text).unwrap(), sample());
        // A float Odoo computed comes back with the digits Python printed.
        assert_eq!(Val::from_json_str("49.06").unwrap(), Val::Num(dec!(49.06)));
        assert_eq!(Val::from_json_str("0.30000000000000004").unwrap(), Val::Num(dec!(0.30000000000000004)));
    }

    #[test]
    fn none_cannot_travel_over_xml_rpc() {
        let err = encode_response(&Val::Nil).unwrap_err();
        assert!(err.contains("allow_none"), "{err}");
    }

    #[test]
    fn faults_and_untyped_strings_decode() {
        let fault = encode_fault(Val::Int(2), "Warning <bad>");
        assert_eq!(
            decode_response(&fault).unwrap(),
            XmlRpcResponse::Fault { code: Val::Int(2), message: "Warning <bad>".into() }
        );
        let python = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>plain &#233;</value>\n</param>\n</params>\n</methodResponse>\n";
        assert_eq!(decode_response(python).unwrap(), XmlRpcResponse::Value(Val::from("plain é")));
        assert!(decode_response("<methodResponse><params>").is_err());
        assert!(decode_response("not xml at all <").is_err());
    }
}
