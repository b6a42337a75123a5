//! The WooCommerce connector, black-box.

mod vectors;
