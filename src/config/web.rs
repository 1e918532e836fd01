//! The `[web]` section: where `reverberator serve` listens and which token file guards it.
//!
//! ```toml
//! [web]
//! listen = "127.0.0.1:8470"               # default; a non-loopback address needs token_file
//! token_file = "/etc/reverberator/web.token"
//! ```
//!
//! Resolution checks what can be checked without the filesystem: `listen` is an
//! `IP:PORT` socket address, `token_file` a path (made absolute against the config's
//! folder), and a listen address that is not loopback without a token file is an error at
//! `web.listen` (the vaults are root's; only a token opens them to the network). Reading the
//! token itself is `serve`'s job ([`crate::web`]). This module knows nothing about HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diag::Part;
use super::paths::parse_path;
use super::resolve::{Ctx, Problem};

/// The default `[web] listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// `[web]` as written: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Web")]
pub struct RawWeb {
    /// Where `reverberator serve` listens: "IP:PORT" ("127.0.0.1:8470", "[::1]:8470",
    /// "0.0.0.0:8470"). Default "127.0.0.1:8470". An address that is not loopback needs
    /// `token_file`.
    pub listen: Option<String>,
    /// A file holding the access token (its first line, trimmed; at least 16 characters).
    /// When set, every request needs it (`Authorization: Bearer TOKEN` or the login form's
    /// cookie). Relative paths are resolved against the folder of the config file.
    pub token_file: Option<String>,
}

/// `[web]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// The socket address `serve` binds.
    pub listen: SocketAddr,
    /// The token file (absolute), if requests need a token.
    pub token_file: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8470)),
            token_file: None,
        }
    }
}

/// Resolve `[web]` (absent: the defaults); relative paths against `base`.
pub fn resolve_web(raw: Option<&RawWeb>, base: &Path, ctx: &mut Ctx) -> WebConfig {
    let mut web = WebConfig::default();
    let Some(raw) = raw else {
        return web;
    };
    let section = ["web"];
    if let Some(addr) = ctx.field(&section, "listen", raw.listen.as_ref(), |t| parse_listen(t)) {
        web.listen = addr;
    }
    web.token_file = ctx.field(&section, "token_file", raw.token_file.as_ref(), |t| {
        parse_path(t, base)
    });
    let token_given = raw.token_file.is_some();
    if raw.listen.is_some() && !web.listen.ip().is_loopback() && !token_given {
        let message = format!(
            "`listen` = \"{}\" is not a loopback address, and no `token_file` is set: the \
             vaults would be readable by anyone who can reach it",
            web.listen
        );
        let hint = "set token_file = \"/etc/reverberator/web.token\" (a secret of >= 16 \
                    characters), or listen on 127.0.0.1";
        ctx.error(
            &["web", "listen"],
            Part::Value,
            Problem::new(message, Some(hint)),
        );
    }
    web
}

/// `IP:PORT`.
fn parse_listen(text: &str) -> Result<SocketAddr, Problem> {
    text.trim().parse().map_err(|_| {
        Problem::new(
            format!("bad listen address `{text}`: expected IP:PORT"),
            Some("e.g. \"127.0.0.1:8470\" or \"[::1]:8470\" (host names are not resolved)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_parses_ip_and_port() {
        assert_eq!(
            parse_listen(" 127.0.0.1:80 ").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 80))
        );
        assert!(parse_listen("[::1]:8470").unwrap().ip().is_loopback());
        for bad in ["localhost:80", "127.0.0.1", ":80", ""] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_is_loopback_on_8470() {
        assert_eq!(WebConfig::default().listen.to_string(), DEFAULT_LISTEN);
    }
}
