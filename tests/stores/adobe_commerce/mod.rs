//! The Adobe Commerce connector, black-box, against the sandbox store in both deployment
//! models: PaaS (OAuth 1.0a) and the Cloud Service (Adobe IMS).

mod books;
mod setup;

blackbox::on_both_families! {
    books:
    paas_invoices_post_once_as_balanced_entries_and_a_memo_reverses_its_lines,
    saas_invoices_post_once_as_balanced_entries_and_a_memo_reverses_its_lines,
    an_expired_ims_token_is_refreshed_once_and_the_poll_goes_on,
    a_bad_signature_queues_nothing_and_never_blocks_the_store,
    invoice_mode_posts_customer_invoices_and_credit_notes_and_customers_once,
    paas_master_data_for_sales_rules_is_read,
    saas_master_data_for_sales_rules_is_read,
}
