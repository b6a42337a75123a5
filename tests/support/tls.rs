//! A TLS front on a random loopback port for a plain-HTTP sandbox, with the certificate for
//! `localhost` signed by the test-only private CA in `tests/fixtures/tls` (never a public root).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name)
}

/// The private CA's certificate, PEM.
pub fn ca_pem() -> String {
    std::fs::read_to_string(fixture("ca.pem")).expect("tests/fixtures/tls/ca.pem")
}

pub struct TlsFront {
    /// `https://localhost:<port>`
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Terminates TLS and passes the bytes on to `backend`, one connection at a time each.
    pub async fn start(backend: SocketAddr) -> TlsFront {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("localhost.pem"))
            .expect("localhost.pem")
            .collect::<Result<_, _>>()
            .expect("a PEM certificate");
        let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).expect("localhost.key");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("the fixture certificate and key");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to pass on.
                    let Ok(mut tls) = acceptor.accept(socket).await else { return };
                    let Ok(mut plain) = TcpStream::connect(backend).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { url: format!("https://localhost:{port}"), task }
    }
}
