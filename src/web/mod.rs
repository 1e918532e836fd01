//! `reverberator serve`: a read-only HTTP view of every job's vault (axum on a
//! current-thread tokio runtime, pages rendered on the server with maud, no JavaScript).
//!
//! This module owns the server: binding `[web] listen`, the token check (when
//! `[web] token_file` is set every request needs `Authorization: Bearer TOKEN` or the login
//! form's cookie, compared in constant time), the security headers every response carries
//! (a Content-Security-Policy that allows nothing but the own stylesheet, `nosniff`,
//! `no-referrer`, `frame-ancestors 'none'`), and the dispatch of [`route::Route`]s to the
//! pages. Every page reads the vault on tokio's blocking pool through the vault read side
//! ([`crate::vault::read`]) and the fd-based resolver: paths come only from
//! [`route::parse`] (plain components), source symlinks are shown, never followed, and
//! downloads are `attachment`s with a non-HTML type. Nothing here writes anything.
//!
//! Submodules: `route` (URL scheme), `pages` (jobs, job, login), `browse` (version tree,
//! downloads, history, diff), `chart` (the SVG), `metrics` (Prometheus text), `body`
//! (streaming a blocking writer).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::Config;

mod body;
mod browse;
mod chart;
mod metrics;
mod pages;
pub mod route;

use route::{Route, RouteError};

/// The cookie the login form sets.
pub const COOKIE: &str = "reverberator_token";

/// The Content-Security-Policy of every response.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The loaded config.
    pub config: Config,
    /// The token requests need, if `[web] token_file` is set.
    pub token: Option<String>,
}

/// Read the token file: its first line, trimmed, at least 16 characters.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the web token file", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.chars().count() < 16 {
        anyhow::bail!(
            "{}: the token must be at least 16 characters on the first line",
            path.display()
        );
    }
    Ok(token)
}

/// Serve `config`'s jobs on `listen` until the process is stopped.
pub fn serve(config: Config, listen: SocketAddr) -> anyhow::Result<()> {
    let token = match &config.web.token_file {
        Some(path) => Some(read_token(path)?),
        None => None,
    };
    if token.is_none() && !listen.ip().is_loopback() {
        anyhow::bail!("{listen} is not a loopback address: set [web] token_file first");
    }
    let state = Arc::new(AppState { config, token });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .max_blocking_threads(8)
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr()?;
        // Tests and scripts read this line to learn the port of `listen = "…:0"`.
        println!("serving on http://{bound}/");
        let app = Router::new().fallback(handle).with_state(state);
        axum::serve(listener, app)
            .await
            .context("the server failed")
    })
}

/// Every request: check the token, dispatch, add the security headers.
async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let mut response = dispatch(state, req).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn dispatch(state: Arc<AppState>, req: Request) -> Response {
    let route = match route::parse(req.uri().path()) {
        Ok(r) => r,
        Err(e @ RouteError::BadSegment(_)) => return error(StatusCode::BAD_REQUEST, &e),
        Err(e) => return error(StatusCode::NOT_FOUND, &e),
    };
    let open = matches!(route, Route::Login | Route::Style);
    if !open && !authorized(state.token.as_deref(), req.headers()) {
        return unauthorized(req.headers());
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    match (req.method().clone(), route) {
        (Method::GET, Route::Style) => pages::style(),
        (Method::GET, Route::Login) => pages::login_form(false),
        (Method::POST, Route::Login) => login(&state, req).await,
        (Method::GET, route) => blocking(move || page(&state, route, &query)).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, &"only GET is served"),
    }
}

/// Render a vault page on the blocking pool.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e))
}

fn page(state: &AppState, route: Route, query: &str) -> Response {
    let page_no = query_number(query, "page").unwrap_or(0);
    let page = match route {
        Route::Jobs => Ok(pages::jobs(state)),
        Route::Job(job) => Ok(pages::job(state, &job)),
        Route::Browse(t) => browse::browse(state, &t, page_no as usize),
        Route::File(t) => browse::download(state, &t),
        Route::Tar(t) => browse::tar(state, &t),
        Route::Log { job, path } => browse::history(state, &job, &path),
        Route::Diff { job, a, b, path } => Ok(browse::diff(state, &job, a, b, &path)),
        Route::Metrics => Ok(metrics::metrics(state)),
        Route::Login | Route::Style => Ok(error(StatusCode::NOT_FOUND, &"no such page")),
    };
    page.unwrap_or_else(|error_page| *error_page)
}

/// `key=N` in a query string.
fn query_number(query: &str, key: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// An error page with `status`.
pub(crate) fn error(status: StatusCode, what: &dyn std::fmt::Display) -> Response {
    (status, pages::error_page(status, &what.to_string())).into_response()
}

/// Equal in constant time for equal lengths (the length of the token is not a secret
/// worth hiding; its bytes are).
pub fn same_token(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The request carries the token (or none is needed).
fn authorized(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='));
    [bearer, cookie]
        .into_iter()
        .flatten()
        .any(|given| same_token(given.trim().as_bytes(), token.as_bytes()))
}

/// 401; a browser asking for a page is sent to the login form instead.
fn unauthorized(headers: &HeaderMap) -> Response {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if html {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    }
    let mut r = error(StatusCode::UNAUTHORIZED, &"a token is required");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"reverberator\""),
    );
    r
}

/// `POST /login` with `token=…`: set the cookie when it is right.
async fn login(state: &AppState, req: Request) -> Response {
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 4096).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, &"form too large");
    };
    let given = String::from_utf8_lossy(&bytes)
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(form_value)
        .unwrap_or_default();
    let Some(token) = &state.token else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    if !same_token(given.trim().as_bytes(), token.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, pages::login_form(true)).into_response();
    }
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(header::SET_COOKIE, cookie)
        .body(Body::empty())
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e))
}

/// An `application/x-www-form-urlencoded` value.
fn form_value(v: &str) -> String {
    let spaced = v.replace('+', " ");
    route::decode(&spaced)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!same_token(b"abcdefghijklmnoq", b"abcdefghijklmnop"));
        assert!(!same_token(b"abcdefghijklmno", b"abcdefghijklmnop"));
        assert!(!same_token(b"", b"abcdefghijklmnop"));
    }

    #[test]
    fn bearer_and_cookie_both_work() {
        let t = Some("0123456789abcdef");
        let mut h = HeaderMap::new();
        assert!(!authorized(t, &h));
        assert!(authorized(None, &h));
        h.insert(
            header::COOKIE,
            "a=b; reverberator_token=0123456789abcdef".parse().unwrap(),
        );
        assert!(authorized(t, &h));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdeX".parse().unwrap(),
        );
        assert!(!authorized(t, &h));
        h.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef".parse().unwrap(),
        );
        assert!(authorized(t, &h));
    }

    #[test]
    fn query_numbers() {
        assert_eq!(query_number("page=3", "page"), Some(3));
        assert_eq!(query_number("x=1&page=12", "page"), Some(12));
        assert_eq!(query_number("pages=1", "page"), None);
    }
}
