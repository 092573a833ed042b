//! Binding and running the HTTP server: its own small tokio runtime beside the processor's
//! threads, HTTP or HTTPS (rustls), graceful shutdown.
//!
//! An address that is not loopback is refused when no credentials are configured: an open
//! server may only be reachable from this machine.

use super::{AppState, router};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without credentials: anyone who can reach it would be an admin; \
         configure [serve.auth] (tokens, users or a JWT secret) or bind 127.0.0.1"
    )]
    OpenOnNetwork(SocketAddr),
    #[error("listening on {addr}: {source}; choose another --port or stop what uses it")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TLS with serve.tls_cert {cert} and serve.tls_key {key}: {source}")]
    Tls { cert: String, key: String, source: std::io::Error },
    #[error("the HTTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the HTTP server thread panicked")]
    Panicked,
}

/// A server running on its own threads.
pub struct Running {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:8080` or `https://...`.
    pub url: String,
    handle: axum_server::Handle,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish for up to `grace` (live streams are cut
    /// then), and waits for the server thread.
    pub fn stop(mut self, grace: Duration) -> Result<(), ServeError> {
        self.handle.graceful_shutdown(Some(grace));
        self.join()
    }

    fn join(&mut self) -> Result<(), ServeError> {
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.shutdown();
            let _ = self.join();
        }
    }
}

/// Binds `serve.bind:serve.port` (port 0 picks a free one) and serves [`router`] on it.
pub fn start(state: AppState) -> Result<Running, ServeError> {
    let addr = SocketAddr::new(state.config.bind, state.config.port);
    if !addr.ip().is_loopback() && state.auth.is_open() {
        return Err(ServeError::OpenOnNetwork(addr));
    }
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("http").enable_all().build()?;
    let tls =
        (!state.config.tls_cert.is_empty()).then(|| (state.config.tls_cert.clone(), state.config.tls_key.clone()));
    let tls_config = match &tls {
        None => None,
        Some((cert, key)) => {
            // Both of rustls's providers are in the tree: name ours (a second call is a no-op).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = runtime
                .block_on(axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key))
                .map_err(|source| ServeError::Tls { cert: cert.clone(), key: key.clone(), source })?;
            Some(config)
        }
    };
    let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    let handle = axum_server::Handle::new();
    // The state outlives the serving future: it may own the lake's runtime, which must not be
    // dropped inside an async context.
    let keep = state.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server_handle = handle.clone();
    let thread = std::thread::Builder::new().name("http-server".into()).spawn(move || {
        let served = runtime.block_on(async move {
            match tls_config {
                Some(config) => axum_server::from_tcp_rustls(listener, config).handle(server_handle).serve(app).await,
                None => axum_server::from_tcp(listener).handle(server_handle).serve(app).await,
            }
        });
        // Whatever is still running (a live stream past the grace period) is dropped here.
        runtime.shutdown_timeout(Duration::from_secs(1));
        drop(keep);
        Ok(served?)
    })?;
    tracing::info!(%url, "HTTP server listening");
    Ok(Running { addr, url, handle, thread: Some(thread) })
}
