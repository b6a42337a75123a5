//! One conformance suite per port, run against both adapter families: what the logic may rely on,
//! whichever family it runs on. The AWS family talks to moto server (started by `scripts/test`).

mod audit;
mod connections;
mod failed;
mod queue;
mod secrets;
mod state;

/// Expands each listed suite test into one test per family: `embedded::x` and `aws::x`.
macro_rules! conformance {
    ($($suite:ident :: $test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::$suite::$test(blackbox::Family::embedded().await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::$suite::$test(blackbox::Family::aws().await).await
                }
            )*
        }
    };
}

conformance! {
    queue::delivers_what_was_sent_and_forgets_what_was_deleted,
    queue::keeps_order_within_a_group_and_one_in_flight_per_group,
    queue::drops_duplicates_by_deduplication_id,
    queue::redelivers_after_the_visibility_timeout,
    queue::dead_letters_after_max_receives,
    connections::stores_lists_and_deletes_connections,
    connections::versions_rules_with_optimistic_concurrency,
    connections::concurrent_rule_savers_do_not_both_win,
    state::watermarks_only_move_forward,
    state::claims_complete_and_replay_the_outcome,
    state::exactly_one_of_many_concurrent_claimers_wins,
    state::an_expired_claim_can_be_taken_over,
    state::a_released_claim_can_be_claimed_again,
    state::completed_claims_expire_when_asked,
    state::links_go_both_ways_and_never_fork,
    audit::trails_by_source_and_by_odoo_record,
    audit::retention_hides_expired_entries,
    failed::parks_lists_replaces_and_removes,
    secrets::stores_replaces_and_deletes_bundles,
    secrets::the_cache_serves_within_its_ttl,
}
