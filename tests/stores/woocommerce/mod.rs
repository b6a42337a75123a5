//! The WooCommerce connector, black-box.

mod client;
mod e2e;
mod lifecycle;
mod vectors;

blackbox::on_both_families! {
    e2e:
    webhooks_and_the_poller_post_each_order_once,
    bad_deliveries_get_their_status_and_enqueue_nothing,
    unauthenticated_requests_cannot_fill_the_audit_trail,
    a_long_delivery_id_is_deduplicated_by_its_hash_and_never_panics,
    amounts_near_decimal_limits_are_refused_with_a_reason_not_a_panic,
    a_webhook_makes_no_store_call_and_the_fetch_stage_reads_once,
    a_poll_of_unchanged_customers_costs_one_page_and_queues_nothing,
    a_revoked_key_on_one_connection_does_not_stop_the_next_connections_poll;
    lifecycle:
    a_status_change_with_the_same_amounts_adds_no_document,
    a_refund_merged_with_a_repost_credits_the_live_invoice,
    a_refund_of_an_order_never_posted_is_skipped_not_retried,
    no_delivery_contact_repeats_the_customer,
}
