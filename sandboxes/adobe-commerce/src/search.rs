//! `searchCriteria` as Magento runs it (`api-facts.md` §3.2): filters inside a group are OR,
//! groups are AND; the condition types; `sortOrders`; `pageSize` (all matches without it) and
//! `currentPage`, where a page past the end answers the last page again.

use std::cmp::Ordering;

use serde_json::{Value, json};

/// One parsed criterion set.
#[derive(Debug, Default)]
pub struct Criteria {
    groups: Vec<Vec<(String, String, String)>>,
    sorts: Vec<(String, bool)>,
    page_size: Option<usize>,
    current_page: usize,
}

fn index(part: &str) -> Option<usize> {
    part.trim_end_matches(']').parse().ok()
}

impl Criteria {
    /// From decoded query pairs (`searchCriteria[filter_groups][0][filters][1][field]`, …).
    pub fn parse(pairs: &[(String, String)]) -> Criteria {
        use std::collections::BTreeMap;
        let mut filters: BTreeMap<(usize, usize), (String, String, String)> = BTreeMap::new();
        let mut sorts: BTreeMap<usize, (String, bool)> = BTreeMap::new();
        let mut c = Criteria { current_page: 1, ..Default::default() };
        for (k, v) in pairs {
            let Some(rest) = k.strip_prefix("searchCriteria[") else { continue };
            let parts: Vec<&str> = rest.split('[').map(|p| p.trim_end_matches(']')).collect();
            match parts.as_slice() {
                ["filter_groups", g, "filters", f, what] => {
                    let (Some(g), Some(f)) = (index(g), index(f)) else { continue };
                    let entry = filters.entry((g, f)).or_insert_with(|| (String::new(), String::new(), "eq".into()));
                    match *what {
                        "field" => entry.0 = v.clone(),
                        "value" => entry.1 = v.clone(),
                        "condition_type" => entry.2 = v.clone(),
                        _ => {}
                    }
                }
                ["sortOrders", k, what] => {
                    let Some(k) = index(k) else { continue };
                    let entry = sorts.entry(k).or_insert_with(|| (String::new(), true));
                    match *what {
                        "field" => entry.0 = v.clone(),
                        "direction" => entry.1 = !v.eq_ignore_ascii_case("DESC"),
                        _ => {}
                    }
                }
                ["pageSize"] => c.page_size = v.parse().ok().filter(|&s: &usize| s > 0),
                ["currentPage"] => c.current_page = v.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        let mut groups: BTreeMap<usize, Vec<(String, String, String)>> = BTreeMap::new();
        for ((g, _), f) in filters {
            groups.entry(g).or_default().push(f);
        }
        c.groups = groups.into_values().collect();
        c.sorts = sorts.into_values().collect();
        c
    }

    /// The search's answer over `items`: `{items, search_criteria, total_count}`.
    pub fn run(&self, items: &[Value]) -> Value {
        let mut matched: Vec<&Value> =
            items.iter().filter(|item| self.groups.iter().all(|g| g.iter().any(|f| matches(item, f)))).collect();
        matched.sort_by(|a, b| {
            self.sorts
                .iter()
                .map(|(field, asc)| {
                    let o = compare(&a[field.as_str()], &b[field.as_str()]);
                    if *asc { o } else { o.reverse() }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        let total = matched.len();
        let page: Vec<&Value> = match self.page_size {
            None => matched,
            Some(size) => {
                let pages = total.div_ceil(size).max(1);
                let page = self.current_page.min(pages); // past the end: the last page again
                matched.into_iter().skip((page - 1) * size).take(size).collect()
            }
        };
        json!({ "items": page, "search_criteria": {}, "total_count": total })
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (text(a), text(b)) {
        (Some(x), Some(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
            _ => x.cmp(&y),
        },
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn like(pattern: &str, text: &str) -> bool {
    let lowered = pattern.to_lowercase();
    let parts: Vec<&str> = lowered.split('%').collect();
    let text = text.to_lowercase();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match text[at..].find(part) {
            Some(pos) if i > 0 || pos == 0 => at += pos + part.len(),
            _ => return false,
        }
    }
    parts.last().is_some_and(|l| l.is_empty()) || at == text.len()
}

fn matches(item: &Value, (field, value, condition): &(String, String, String)) -> bool {
    let have = &item[field.as_str()];
    let given = Value::String(value.clone());
    let list = || value.split(',').map(str::trim).collect::<Vec<_>>();
    match condition.as_str() {
        "eq" => compare(have, &given) == Ordering::Equal,
        "neq" => compare(have, &given) != Ordering::Equal,
        "gt" => !have.is_null() && compare(have, &given) == Ordering::Greater,
        "gteq" | "from" | "moreq" => !have.is_null() && compare(have, &given) != Ordering::Less,
        "lt" => !have.is_null() && compare(have, &given) == Ordering::Less,
        "lteq" | "to" => !have.is_null() && compare(have, &given) != Ordering::Greater,
        "like" => text(have).is_some_and(|t| like(value, &t)),
        "nlike" => !text(have).is_some_and(|t| like(value, &t)),
        "in" => text(have).is_some_and(|t| list().contains(&t.as_str())),
        "nin" => !text(have).is_some_and(|t| list().contains(&t.as_str())),
        "finset" => text(have).is_some_and(|t| t.split(',').any(|p| p == value)),
        "nfinset" => !text(have).is_some_and(|t| t.split(',').any(|p| p == value)),
        "null" => have.is_null(),
        "notnull" => !have.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Criteria {
        Criteria::parse(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn groups_are_and_filters_are_or_and_a_page_past_the_end_is_the_last_again() {
        let items: Vec<Value> = (1..=5)
            .map(|i| json!({ "entity_id": i, "state": if i % 2 == 0 { "a" } else { "b" }, "sku": format!("MS-{i}") }))
            .collect();
        let either = q(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "entity_id"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "1"),
            ("searchCriteria[filter_groups][0][filters][1][field]", "entity_id"),
            ("searchCriteria[filter_groups][0][filters][1][value]", "4"),
        ]);
        assert_eq!(either.run(&items)["total_count"], 2);
        let both = q(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "entity_id"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "2"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "gteq"),
            ("searchCriteria[filter_groups][1][filters][0][field]", "state"),
            ("searchCriteria[filter_groups][1][filters][0][value]", "b"),
            ("searchCriteria[sortOrders][0][field]", "entity_id"),
            ("searchCriteria[sortOrders][0][direction]", "DESC"),
            ("searchCriteria[pageSize]", "1"),
            ("searchCriteria[currentPage]", "9"),
        ]);
        let out = both.run(&items);
        assert_eq!(out["total_count"], 2, "3 and 5");
        assert_eq!(out["items"][0]["entity_id"], 3, "page 9 of 2 is page 2 again");
        let liked = q(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "ms-%"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "like"),
        ]);
        assert_eq!(liked.run(&items)["total_count"], 5);
        let within = q(&[
            ("searchCriteria[filter_groups][0][filters][0][field]", "entity_id"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "2,3"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "in"),
        ]);
        assert_eq!(within.run(&items)["total_count"], 2);
    }
}
