//! The BigCommerce connector, black-box, against the sandbox store.

mod client;
mod e2e;
mod lifecycle;

pub(crate) use e2e::{Setup, order_total, rules as e2e_rules};

blackbox::on_both_families! {
    e2e:
    orders_by_webhook_and_by_poll_each_post_once_and_refunds_credit_their_lines,
    a_deactivated_hook_is_re_enabled_and_the_gap_backfilled;
    lifecycle:
    shipments_and_status_changes_are_noted_in_odoo_and_book_nothing,
    a_refund_can_also_register_the_payment_going_out,
    a_guest_takes_a_customers_partner_only_when_allowed,
    hooks_made_with_a_custom_header_secret_need_it,
    the_tokens_scopes_and_the_catalogue_are_read,
    a_customers_addresses_become_child_contacts_once,
}
