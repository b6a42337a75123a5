//! The poster end to end against the Odoo sandbox, on both adapter families.

mod alerts;
mod orders;
mod sales;
mod totals;

blackbox::on_both_families! {
    alerts:
    a_revoked_odoo_key_raises_one_alert_per_threshold_crossing,
    missed_polls_raise_one_alert_until_a_poll_succeeds_again;
    orders:
    an_order_posts_on_the_accounts_its_rules_choose,
    duplicates_races_and_crashes_still_give_one_move,
    a_partial_refund_credits_exactly_its_lines,
    an_unmapped_sku_fails_explains_and_replays_once,
    statuses_customers_and_cancellations,
    journal_entries_balance_to_the_store_total,
    versions_drafts_fifo_and_redrive,
    an_older_version_delivered_late_is_stale_and_changes_nothing,
    a_credit_note_carrying_an_orders_marker_is_never_adopted_as_its_invoice,
    a_connection_s_own_status_words_decide_posting,
    a_refund_credits_the_invoice_posted_for_its_order_and_shipping_by_amount;
    sales:
    an_online_order_becomes_a_confirmed_sale_order_invoiced_and_paid_in_its_journal,
    an_offline_order_is_confirmed_without_an_invoice_and_a_quotation_stays_one,
    a_cancellation_before_delivery_cancels_once_and_after_delivery_is_refused,
    unmapped_products_and_methods_fail_with_their_reason_and_replay;
    totals:
    an_adopted_draft_whose_odoo_total_differs_is_never_posted,
    a_draft_odoo_will_not_remove_is_reported_left_in_odoo_and_a_replay_never_posts_it,
    a_draft_odoo_refuses_to_post_is_removed_and_kept_as_failed,
    an_amount_beyond_a_store_s_range_is_kept_as_failed_not_a_panic,
    an_order_with_no_lines_and_a_minus_zero_total_is_skipped_not_left_as_an_empty_draft,
    a_record_still_failing_on_its_last_delivery_is_kept_as_failed_and_traced,
    a_batch_that_panics_is_reported_and_queued_again_at_once_never_lost,
}
