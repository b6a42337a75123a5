//! The WooCommerce connector, black-box.

mod client;
mod e2e;
mod vectors;

blackbox::on_both_families! {
    e2e:
    webhooks_and_the_poller_post_each_order_once,
    bad_deliveries_get_their_status_and_enqueue_nothing,
}
