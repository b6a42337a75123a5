//! `mlc mappings catalogue`: the master data both sides hold, printed for writing sales-order
//! rules. Read live, kept beside the state for an hour (a catalogue read is dozens of calls).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use shared::catalogue::{self, MasterData};
use shared::ports::{Connection, SecretBundle};
use shared::stores::{Named, Stores};

use crate::output;

/// How long a catalogue read stays good.
const KEPT_FOR: chrono::Duration = chrono::Duration::hours(1);

fn cache_file(dir: &Path, connection: &Connection) -> PathBuf {
    dir.join("catalogue").join(format!("{}.json", connection.id))
}

/// The kept catalogue if it is fresh, else a live read (kept for the next hour).
async fn load(
    dir: &Path,
    stores: &Stores,
    connection: &Connection,
    secrets: &SecretBundle,
    refresh: bool,
) -> Result<(MasterData, bool)> {
    let file = cache_file(dir, connection);
    if !refresh
        && let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(kept) = serde_json::from_str::<MasterData>(&text)
        && chrono::Utc::now() - kept.read_at < KEPT_FOR
    {
        return Ok((kept, true));
    }
    let data = catalogue::read(stores, connection, secrets).await?;
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&file, serde_json::to_vec_pretty(&data)?).with_context(|| format!("writing {}", file.display()))?;
    Ok((data, false))
}

fn section(title: &str, rule: &str, items: &[Named]) {
    println!("\n{title} ({rule}):");
    if items.is_empty() {
        println!("  none");
        return;
    }
    if items.iter().all(|n| n.code == n.name) {
        // Odoo names its records by name only: one column.
        items.iter().for_each(|n| println!("  {}", n.name));
        return;
    }
    let rows: Vec<Vec<String>> = items.iter().map(|n| vec![format!("  {}", n.code), n.name.clone()]).collect();
    output::table(&["  CODE", "NAME"], &rows);
}

pub async fn show(
    dir: &Path,
    stores: &Stores,
    connection: &Connection,
    secrets: &SecretBundle,
    refresh: bool,
    json: bool,
) -> Result<()> {
    let (data, kept) = load(dir, stores, connection, secrets, refresh).await?;
    if json {
        return output::json(&data);
    }
    let when = data.read_at.format("%Y-%m-%d %H:%M UTC");
    let how = if kept { "kept from a read at" } else { "read live at" };
    println!("Catalogue of {} ({how} {when}; --refresh reads again)", connection.id);
    let s = &data.store;
    println!("\n== the store ({}) ==", connection.store_url);
    let scopes: Vec<Vec<String>> =
        s.scopes.iter().map(|(kind, n)| vec![format!("  {kind}"), n.code.clone(), n.name.clone()]).collect();
    println!("\nscopes (rules: when.store, when.website):");
    if scopes.is_empty() {
        println!("  none");
    } else {
        output::table(&["  KIND", "CODE", "NAME"], &scopes);
    }
    section("customer groups", "rules: when.customer_group", &s.customer_groups);
    section("payment methods", "sales.payment_methods[].store_method", &s.payment_methods);
    section("shipping methods", "sales.shipping_methods[].store_method", &s.shipping_methods);
    if !s.attribute_sets.is_empty() {
        section("attribute sets", "products", &s.attribute_sets);
    }
    for note in &s.notes {
        println!("\nnote: {note}");
    }
    let o = &data.odoo;
    println!("\n== Odoo ==");
    let journals: Vec<Vec<String>> =
        o.journals.iter().map(|(n, kind)| vec![format!("  {}", n.code), n.name.clone(), kind.clone()]).collect();
    println!("\njournals (sales.payment_methods[].journal, posting.journal):");
    output::table(&["  CODE", "NAME", "TYPE"], &journals);
    section("carriers", "sales.shipping_methods[].carrier", &o.carriers);
    section("payment terms", "posting.payment_term", &o.payment_terms);
    section("pricelists", "sales.pricelist", &o.pricelists);
    section("fiscal positions", "sales.fiscal_position", &o.fiscal_positions);
    for app in &o.missing {
        println!("\nnote: this Odoo database lacks {app}");
    }
    Ok(())
}
