//! Sales-order mode from the store sandboxes (every store's orders, through its own webhook and
//! fetch path, into sale orders), and the daily reconciliation.

mod flows;
mod reconcile;

blackbox::on_both_families! {
    flows:
    woocommerce_orders_become_sale_orders_by_webhook_and_poll,
    bigcommerce_orders_become_sale_orders_and_shipments_validate_their_delivery;
    reconcile:
    yesterday_is_reconciled_once_and_a_deleted_invoice_posted_again,
}
