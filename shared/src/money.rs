//! Checked arithmetic on amounts a store sent. `Decimal`'s operators panic on overflow, and with
//! `panic = "abort"` a panic is the death of the server, so amounts from outside are bounded
//! when parsed ([`store_amount`]) and combined only through these functions, which turn an
//! overflow into bad input with a reason instead.

use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// The largest amount (or quantity) a store can really send: a trillion in any currency.
/// Anything beyond is refused as bad input; within it, sums of a million lines still fit.
pub const MAX_STORE_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

fn overflow(what: &str) -> Error {
    Error::bad_input(format!("amounts overflow while computing {what}"))
}

/// `value`, if it is within ±[`MAX_STORE_AMOUNT`].
pub fn store_amount(value: Decimal) -> Result<Decimal> {
    if value.abs() > MAX_STORE_AMOUNT {
        return Err(Error::bad_input(format!(
            "amount {value} is beyond ±{MAX_STORE_AMOUNT}, more than a store can charge"
        )));
    }
    Ok(value)
}

pub fn add(a: Decimal, b: Decimal, what: &str) -> Result<Decimal> {
    a.checked_add(b).ok_or_else(|| overflow(what))
}

pub fn sub(a: Decimal, b: Decimal, what: &str) -> Result<Decimal> {
    a.checked_sub(b).ok_or_else(|| overflow(what))
}

pub fn mul(a: Decimal, b: Decimal, what: &str) -> Result<Decimal> {
    a.checked_mul(b).ok_or_else(|| overflow(what))
}

/// `a / b`; dividing by zero is bad input too.
pub fn div(a: Decimal, b: Decimal, what: &str) -> Result<Decimal> {
    a.checked_div(b).ok_or_else(|| overflow(what))
}

/// A money field of a store's JSON: a string or a number, bounded; missing, null or empty is
/// zero. Numbers are read from their JSON text, never through a float.
pub fn json_field(v: &serde_json::Value, field: &str) -> Result<Decimal> {
    let text = match &v[field] {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Null => return Ok(Decimal::ZERO),
        other => return Err(Error::bad_input(format!("{field}: expected an amount, found {other}"))),
    };
    if text.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let d = text
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| Error::bad_input(format!("{field}: {text:?} is not an amount")))?;
    store_amount(d)
}

/// The sum of `items`, or bad input naming `what` when it overflows.
pub fn sum(items: impl IntoIterator<Item = Decimal>, what: &str) -> Result<Decimal> {
    items.into_iter().try_fold(Decimal::ZERO, |acc, x| add(acc, x, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_a_trillion_and_overflow_is_bad_input_not_a_panic() {
        assert_eq!(MAX_STORE_AMOUNT, Decimal::from(1_000_000_000_000i64));
        assert!(store_amount(Decimal::from(1_000_000_000_000i64)).is_ok());
        assert!(store_amount(Decimal::from(-1_000_000_000_001i64)).is_err());
        let err = sum([Decimal::MAX, Decimal::ONE], "the order's gross").unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::BadInput);
        assert!(err.to_string().contains("the order's gross"), "{err}");
        assert!(mul(Decimal::MAX, Decimal::TWO, "x").is_err());
        assert!(div(Decimal::ONE, Decimal::ZERO, "x").is_err());
        assert!(div(Decimal::MAX, Decimal::new(1, 28), "x").is_err());
        assert_eq!(sum([Decimal::ONE, Decimal::TWO], "x").unwrap(), Decimal::from(3));
    }
}
