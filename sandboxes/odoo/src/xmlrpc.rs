//! The sandbox's own XML-RPC codec, written from the XML-RPC specification and Python's
//! `xmlrpc.client` behaviour (as Odoo serves it), never from the product's: a second
//! implementation, so a wrong encoding in the product's client fails the tests. Python's own
//! `xmlrpc.client` checks this codec in `tests/odoo/fidelity.py`.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use rust_decimal::Decimal;
use shared::odoo::value::Val;

/// A parsed element: its name, its children, and the text directly inside it.
#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn first(&self, name: &str) -> Result<&Element, String> {
        self.children.iter().find(|c| c.name == name).ok_or_else(|| format!("<{}> has no <{name}>", self.name))
    }
}

/// Reads a whole document into elements with a stack, keeping text only where it stands.
fn parse(body: &str) -> Result<Element, String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                stack.push(Element { name, ..Element::default() });
            }
            Event::Empty(empty) => {
                let name = String::from_utf8_lossy(empty.name().as_ref()).into_owned();
                let top = stack.last_mut().ok_or("unbalanced XML")?;
                top.children.push(Element { name, ..Element::default() });
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced XML")?;
                stack.last_mut().ok_or("unbalanced XML")?.children.push(done);
            }
            Event::Text(text) => {
                let text = text.decode().map_err(|e| format!("bad XML text: {e}"))?;
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&text);
            }
            // `&amp;`, `&#233;`: quick-xml hands each reference over on its own.
            Event::GeneralRef(reference) => {
                let name = reference.decode().map_err(|e| format!("bad XML reference: {e}"))?;
                let resolved = entity(&name).ok_or_else(|| format!("unknown XML entity &{name};"))?;
                stack.last_mut().ok_or("unbalanced XML")?.text.push(resolved);
            }
            Event::CData(data) => {
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&String::from_utf8_lossy(&data));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().filter(|_| stack.is_empty()).ok_or("unclosed XML element")?;
    match root.children.len() {
        1 => Ok(root.children.remove(0)),
        _ => Err("an XML-RPC document has one root element".into()),
    }
}

/// XML's five predefined entities and numeric character references.
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

fn value(element: &Element) -> Result<Val, String> {
    if element.name != "value" {
        return Err(format!("expected <value>, found <{}>", element.name));
    }
    // A <value> with no type element is a string, as the specification says.
    let Some(typed) = element.children.first() else { return Ok(Val::Str(element.text.clone())) };
    let text = typed.text.trim();
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => Val::Int(text.parse().map_err(|_| format!("{text:?} is not an integer"))?),
        "boolean" => Val::Bool(match text {
            "1" => true,
            "0" => false,
            other => return Err(format!("{other:?} is not a boolean")),
        }),
        "double" => Val::Num(
            text.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| format!("{text:?} is not a double"))?,
        ),
        "string" => Val::Str(typed.text.clone()),
        "nil" => Val::Nil,
        "dateTime.iso8601" | "base64" => Val::Str(text.to_string()),
        "array" => Val::List(typed.first("data")?.children.iter().map(value).collect::<Result<_, _>>()?),
        "struct" => {
            let mut members = BTreeMap::new();
            for member in typed.children.iter().filter(|m| m.name == "member") {
                members.insert(member.first("name")?.text.clone(), value(member.first("value")?)?);
            }
            Val::Map(members)
        }
        other => return Err(format!("unknown XML-RPC type <{other}>")),
    })
}

/// `<methodCall>`: the method's name and its parameters.
pub fn decode_call(body: &str) -> Result<(String, Vec<Val>), String> {
    let call = parse(body)?;
    if call.name != "methodCall" {
        return Err(format!("expected <methodCall>, found <{}>", call.name));
    }
    let method = call.first("methodName")?.text.trim().to_string();
    let params = match call.first("params") {
        Ok(params) => params
            .children
            .iter()
            .filter(|p| p.name == "param")
            .map(|p| value(p.first("value")?))
            .collect::<Result<_, _>>()?,
        Err(_) => Vec::new(),
    };
    Ok((method, params))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn write(v: &Val, out: &mut String) -> Result<(), String> {
    out.push_str("<value>");
    match v {
        // Odoo marshals with allow_none=False.
        Val::Nil => return Err("cannot marshal None unless allow_none is enabled".into()),
        Val::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        // Python writes <int> within 32 bits and refuses beyond; Odoo's marshaller writes <i8>.
        Val::Int(i) if i32::try_from(*i).is_ok() => out.push_str(&format!("<int>{i}</int>")),
        Val::Int(i) => out.push_str(&format!("<i8>{i}</i8>")),
        Val::Num(d) => out.push_str(&format!("<double>{}</double>", d.normalize())),
        Val::Str(s) => out.push_str(&format!("<string>{}</string>", escape(s))),
        Val::List(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                write(item, out)?;
                out.push('\n');
            }
            out.push_str("</data></array>");
        }
        Val::Map(members) => {
            out.push_str("<struct>\n");
            for (name, item) in members {
                out.push_str(&format!("<member>\n<name>{}</name>\n", escape(name)));
                write(item, out)?;
                out.push_str("\n</member>\n");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
    Ok(())
}

/// `<methodResponse>` carrying one value; fails on `Nil`, as Odoo's marshaller does.
pub fn encode_response(v: &Val) -> Result<String, String> {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    write(v, &mut out)?;
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    Ok(out)
}

/// `<methodResponse><fault>` with `faultCode` and `faultString`.
pub fn encode_fault(code: Val, message: &str) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    let fault = Val::Map(BTreeMap::from([
        ("faultCode".to_string(), code),
        ("faultString".to_string(), Val::Str(message.to_string())),
    ]));
    write(&fault, &mut out).expect("a fault has no None");
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_python_sends_and_encodes_what_python_reads() {
        // As Python's xmlrpc.client.dumps((…), "execute_kw") writes it.
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>execute_kw</methodName>\n<params>\n\
            <param>\n<value><string>db</string></value>\n</param>\n<param>\n<value><int>2</int></value>\n</param>\n\
            <param>\n<value><array><data>\n<value><struct>\n<member>\n<name>name</name>\n<value><string>Ada &amp; &lt;Co&gt; &#233;</string></value>\n</member>\n\
            <member>\n<name>price</name>\n<value><double>19.99</double></value>\n</member>\n</struct></value>\n</data></array></value>\n</param>\n\
            <param>\n<value>bare text</value>\n</param>\n<param>\n<value><boolean>0</boolean></value>\n</param>\n</params>\n</methodCall>\n";
        let (method, params) = decode_call(body).unwrap();
        assert_eq!(method, "execute_kw");
        assert_eq!(params[0], Val::Str("db".into()));
        assert_eq!(params[1], Val::Int(2));
        let record = &params[2].as_list().unwrap()[0];
        assert_eq!(record.get("name"), Some(&Val::Str("Ada & <Co> é".into())));
        assert_eq!(record.get("price").and_then(Val::as_decimal), Some(Decimal::new(1999, 2)));
        assert_eq!(params[3], Val::Str("bare text".into()));
        assert_eq!(params[4], Val::Bool(false));
        let out = encode_response(&Val::Int(5_000_000_000)).unwrap();
        assert!(out.contains("<i8>5000000000</i8>"), "{out}");
        assert!(encode_response(&Val::Nil).is_err());
        assert!(encode_fault(Val::Int(3), "Access <denied>").contains("<string>Access &lt;denied&gt;</string>"));
        assert!(decode_call("<methodCall><methodName>x</methodName>").is_err(), "unclosed");
    }
}
