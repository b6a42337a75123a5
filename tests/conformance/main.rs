//! One conformance suite per port, run against both adapter families: what the logic may rely on,
//! whichever family it runs on. The AWS family talks to moto server (started by `scripts/test`).

mod audit;
mod connections;
mod failed;
mod queue;
mod secrets;
mod state;

blackbox::on_both_families! {
    queue:
    delivers_what_was_sent_and_forgets_what_was_deleted,
    keeps_order_within_a_group_and_one_in_flight_per_group,
    drops_duplicates_by_deduplication_id,
    redelivers_after_the_visibility_timeout,
    dead_letters_after_max_receives,
    extended_visibility_keeps_a_slow_batch_from_being_delivered_twice;
    connections:
    stores_lists_and_deletes_connections,
    versions_rules_with_optimistic_concurrency,
    concurrent_rule_savers_do_not_both_win;
    state:
    watermarks_only_move_forward,
    claims_complete_and_replay_the_outcome,
    exactly_one_of_many_concurrent_claimers_wins,
    an_expired_claim_can_be_taken_over,
    a_released_claim_can_be_claimed_again,
    completed_claims_expire_when_asked,
    links_go_both_ways_and_never_fork;
    audit:
    trails_by_source_and_by_odoo_record,
    retention_hides_expired_entries,
    counts_activity_per_hour_and_stage;
    failed:
    parks_lists_replaces_and_removes;
    secrets:
    stores_replaces_and_deletes_bundles,
    the_cache_serves_within_its_ttl,
}
