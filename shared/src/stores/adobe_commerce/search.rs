//! `searchCriteria` (`api-facts.md` §3.2): filters within a group are OR, groups are AND;
//! `sortOrders`, `pageSize`, `currentPage`. Every index stays below 10: past it Magento's
//! parameter order departs from RFC 5849's and signed requests fail.

use chrono::{DateTime, Utc};

/// Magento's time format for filters, always UTC.
pub fn magento_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub value: String,
    pub condition: &'static str,
}

impl Filter {
    pub fn new(field: &str, condition: &'static str, value: impl Into<String>) -> Filter {
        Filter { field: field.into(), value: value.into(), condition }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchCriteria {
    /// AND of groups, each an OR of its filters.
    pub groups: Vec<Vec<Filter>>,
    /// `(field, "ASC" | "DESC")`.
    pub sort: Vec<(String, &'static str)>,
    pub page_size: Option<u32>,
    pub current_page: Option<u32>,
}

/// Past index 9 a signed request no longer verifies: refused before it is sent.
const MAX_INDEX: usize = 10;

impl SearchCriteria {
    /// Records changed in `[from, to)`, oldest first, ties by id: the poller's window.
    pub fn updated_between(from: DateTime<Utc>, to: DateTime<Utc>, id_field: &str) -> SearchCriteria {
        SearchCriteria {
            groups: vec![
                vec![Filter::new("updated_at", "gteq", magento_time(from))],
                vec![Filter::new("updated_at", "lt", magento_time(to))],
            ],
            sort: vec![("updated_at".into(), "ASC"), (id_field.into(), "ASC")],
            page_size: None,
            current_page: None,
        }
    }

    /// `field` is one of `values` (one `in` filter, comma-separated).
    pub fn field_in(field: &str, values: &[String]) -> SearchCriteria {
        SearchCriteria { groups: vec![vec![Filter::new(field, "in", values.join(","))]], ..Default::default() }
    }

    pub fn page(mut self, size: u32, page: u32) -> SearchCriteria {
        self.page_size = Some(size);
        self.current_page = Some(page);
        self
    }

    /// The query pairs, unencoded (the client encodes every key and value).
    pub fn query(&self) -> crate::Result<Vec<(String, String)>> {
        let too_many = self.groups.len() > MAX_INDEX
            || self.groups.iter().any(|g| g.len() > MAX_INDEX)
            || self.sort.len() > MAX_INDEX;
        if too_many {
            return Err(crate::Error::bad_input(
                "a search with more than 10 filter groups, filters or sort orders cannot be signed",
            ));
        }
        let mut q = Vec::new();
        for (i, group) in self.groups.iter().enumerate() {
            for (j, f) in group.iter().enumerate() {
                let key = |part: &str| format!("searchCriteria[filter_groups][{i}][filters][{j}][{part}]");
                q.push((key("field"), f.field.clone()));
                q.push((key("value"), f.value.clone()));
                q.push((key("condition_type"), f.condition.to_string()));
            }
        }
        for (k, (field, direction)) in self.sort.iter().enumerate() {
            q.push((format!("searchCriteria[sortOrders][{k}][field]"), field.clone()));
            q.push((format!("searchCriteria[sortOrders][{k}][direction]"), direction.to_string()));
        }
        if let Some(size) = self.page_size {
            q.push(("searchCriteria[pageSize]".into(), size.to_string()));
        }
        if let Some(page) = self.current_page {
            q.push(("searchCriteria[currentPage]".into(), page.to_string()));
        }
        // Without any criterion Magento wants the parameter itself.
        if q.is_empty() {
            q.push(("searchCriteria".into(), String::new()));
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_window_is_two_and_groups_sorted_by_time_then_id() {
        let from = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap();
        let q = SearchCriteria::updated_between(from, to, "entity_id").page(100, 2).query().unwrap();
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("searchCriteria[filter_groups][0][filters][0][value]"), Some("2026-11-30 08:00:00"));
        assert_eq!(get("searchCriteria[filter_groups][1][filters][0][condition_type]"), Some("lt"));
        assert_eq!(get("searchCriteria[sortOrders][1][field]"), Some("entity_id"));
        assert_eq!(get("searchCriteria[currentPage]"), Some("2"));
        let wide = SearchCriteria { groups: vec![vec![]; 11], ..Default::default() };
        assert!(wide.query().is_err());
        assert_eq!(SearchCriteria::default().query().unwrap(), vec![("searchCriteria".to_string(), String::new())]);
    }
}
