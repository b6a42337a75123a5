//! The poster end to end against the Odoo sandbox, on both adapter families.

mod orders;

blackbox::on_both_families! {
    orders:
    an_order_posts_on_the_accounts_its_rules_choose,
    duplicates_races_and_crashes_still_give_one_move,
    a_partial_refund_credits_exactly_its_lines,
    an_unmapped_sku_fails_explains_and_replays_once,
    statuses_customers_and_cancellations,
    journal_entries_balance_to_the_store_total,
    versions_drafts_fifo_and_redrive,
}
