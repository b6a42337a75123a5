//! The WooCommerce connector, black-box.

mod client;
mod e2e;
mod vectors;

macro_rules! on_both_families {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::e2e::$test(blackbox::Family::embedded().await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::e2e::$test(blackbox::Family::aws().await).await
                }
            )*
        }
    };
}

on_both_families! {
    webhooks_and_the_poller_post_each_order_once,
    bad_deliveries_get_their_status_and_enqueue_nothing,
}
