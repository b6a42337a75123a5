//! Every store's connector, black-box against its sandbox: one test binary, one module per store
//! (each links the whole workspace, so a binary per store would triple the link time).

mod adobe_commerce;
mod bigcommerce;
mod sales;
mod woocommerce;
