//! The BigCommerce connector, black-box, against the sandbox store.

mod client;
mod e2e;

blackbox::on_both_families! {
    e2e:
    orders_by_webhook_and_by_poll_each_post_once_and_refunds_credit_their_lines,
    a_deactivated_hook_is_re_enabled_and_the_gap_backfilled,
}
