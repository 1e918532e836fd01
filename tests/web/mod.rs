//! `reverberator serve`, the real binary on a free loopback port over vaults built here:
//! pages loaded in headless Chromium (skipped with the reason when it is missing), hostile
//! requests over a plain `TcpStream`, the token, `/metrics` against `promtool` and
//! `list --json`, a tar download against the version's tree, and a 100k-entry folder.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, assert_same_state, tree_state, version_state, Env};

/// A running `serve`, stopped (by its pid) on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(env: &Env) -> Server {
        let mut child = util::bin()
            .arg("--config")
            .arg(env.config())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("REVERBERATOR_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start serve");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("read");
        let addr = line
            .trim()
            .strip_prefix("serving on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A raw GET (path sent exactly as given): status, headers (lower-cased), body.
    fn get(&self, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = head[9..12].parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, head, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// A job with three versions: `docs/a.txt` changes in V1, `b.txt` in V2, and a symlink
/// `secret -> /etc/shadow` throughout.
fn three_versions(extra: &str) -> Env {
    let env = Env::with_extra("demo", extra);
    env.src
        .file("docs/a.txt", "hello\n")
        .file("b.txt", "one\n")
        .symlink("secret", "/etc/shadow");
    let snap = |env: &Env| assert!(env.run(&["snapshot"]).status.success());
    snap(&env);
    env.src.append("docs/a.txt", "world\n");
    snap(&env);
    env.src.file("b.txt", "two\n");
    snap(&env);
    env
}

fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/chromium");
    if p.exists() {
        Some(p)
    } else {
        util::skipped("no /usr/bin/chromium (apt-get install chromium)");
        None
    }
}

fn chromium_cmd(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The DOM Chromium builds for `url`.
fn dump_dom(bin: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_cmd(bin, profile.path())
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot of `url` into `docs/NAME` when `REVERBERATOR_SCREENSHOTS` is set (the
/// checked-in pictures), else into a temporary file; the PNG must exist.
fn screenshot(bin: &Path, url: &str, name: &str) {
    let profile = tempfile::tempdir().unwrap();
    let dest = match std::env::var_os("REVERBERATOR_SCREENSHOTS") {
        Some(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name),
        None => profile.path().join(name),
    };
    let out = chromium_cmd(bin, profile.path())
        .arg(format!("--screenshot={}", dest.display()))
        .arg(url)
        .output()
        .expect("chromium");
    let png = std::fs::read(&dest).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot: {}",
        util::stderr(&out)
    );
}

#[test]
fn pages_render_in_chromium() {
    let Some(chrome) = chromium() else { return };
    let env = three_versions("");
    let server = Server::start(&env);
    let jobs = dump_dom(&chrome, &server.url("/"));
    assert!(jobs.contains("<svg") && jobs.contains("polyline"), "{jobs}");
    assert!(jobs.contains("no-daemon"), "{jobs}");
    let version = dump_dom(&chrome, &server.url("/jobs/demo/v/2/"));
    for name in ["b.txt", "docs/", "secret → /etc/shadow"] {
        assert!(version.contains(name), "{name}: {version}");
    }
    let history = dump_dom(&chrome, &server.url("/jobs/demo/log/docs/a.txt"));
    assert!(history.contains("/jobs/demo/v/0/docs/a.txt"), "{history}");
    assert!(history.contains("/jobs/demo/v/1/docs/a.txt"), "{history}");
    assert!(
        !history.contains("/jobs/demo/v/2/docs/a.txt"),
        "V2 did not change it"
    );
    let diff = dump_dom(&chrome, &server.url("/jobs/demo/diff/0/1/docs/a.txt"));
    assert!(diff.contains("class=\"add\">world"), "{diff}");
    screenshot(&chrome, &server.url("/"), "serve-jobs.png");
    screenshot(&chrome, &server.url("/jobs/demo"), "serve-job.png");
    screenshot(&chrome, &server.url("/jobs/demo/v/2/"), "serve-version.png");
    screenshot(
        &chrome,
        &server.url("/jobs/demo/log/docs/a.txt"),
        "serve-history.png",
    );
    screenshot(
        &chrome,
        &server.url("/jobs/demo/diff/0/1/docs/a.txt"),
        "serve-diff.png",
    );
}

#[test]
fn a_tar_download_unpacks_to_the_version() {
    let env = three_versions("");
    let server = Server::start(&env);
    let (status, head, body) = server.get("/jobs/demo/tar/1/", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-disposition: attachment"), "{head}");
    assert!(head.contains("content-type: application/x-tar"), "{head}");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("v1.tar");
    std::fs::write(&file, &body).unwrap();
    let to = tmp.path().join("out");
    std::fs::create_dir(&to).unwrap();
    let out = Command::new("tar")
        .args(["-x", "-p", "--numeric-owner", "-f"])
        .arg(&file)
        .arg("-C")
        .arg(&to)
        .output();
    let Ok(out) = out else {
        crate::skip_test!("no GNU tar to unpack with");
    };
    assert!(out.status.success(), "{}", util::stderr(&out));
    let name = util::versions(&env.job_dir())[1].clone();
    assert_same_state(
        "tar of V1",
        &tree_state(&to),
        &version_state(&env.job_dir(), &name),
    );
}

#[test]
fn hostile_paths_are_refused_and_links_never_followed() {
    let env = three_versions("");
    let server = Server::start(&env);
    for bad in [
        "/jobs/demo/v/2/../../../../etc/passwd",
        "/jobs/demo/v/2/%2e%2e/%2e%2e/etc",
        "/jobs/demo/file/2/docs/%2e%2e%2f%2e%2e%2fjournal.tsv",
        "/jobs/demo/file/2/%2E%2E/journal.tsv",
    ] {
        let (status, head, _) = server.get(bad, &[]);
        assert_eq!(status, 400, "{bad}: {head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
    }
    let (status, _, body) = server.get("/jobs/demo/file/2/secret", &[]);
    assert_eq!(status, 403);
    assert!(!String::from_utf8_lossy(&body).contains("root:"));
    let (status, _, _) = server.get("/jobs/demo/v/2/secret/x", &[]);
    assert_eq!(status, 404, "nothing below a source symlink");
    let (status, head, body) = server.get("/jobs/demo/file/2/docs/a.txt", &[]);
    assert_eq!(status, 200);
    assert_eq!(body, b"hello\nworld\n");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert!(
        head.contains("content-disposition: attachment; filename=\"a.txt\""),
        "{head}"
    );
    for h in [
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "frame-ancestors 'none'",
    ] {
        assert!(head.contains(h), "{h}: {head}");
    }
    let (status, _, _) = server.get("/jobs/nope", &[]);
    assert_eq!(status, 404);
}

#[test]
fn a_folder_of_100k_entries_pages() {
    let env = Env::new("big");
    env.src.dir("many");
    for i in 0..100_000 {
        std::fs::write(env.src.path().join(format!("many/f{i:06}")), b"").unwrap();
    }
    assert!(env.run(&["snapshot"]).status.success());
    let server = Server::start(&env);
    let start = Instant::now();
    let (status, _, body) = server.get("/jobs/big/v/0/many/?page=3", &[]);
    let took = start.elapsed();
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("100000 entries") && body.contains("page 4 of 200"),
        "{body:.400}"
    );
    assert!(
        body.contains("f001500") && !body.contains("f002000"),
        "the fourth page only"
    );
    eprintln!("100k-entry folder page: {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn the_token_is_required_when_set() {
    let outer = tempfile::tempdir().unwrap();
    let token = outer.path().join("web.token");
    std::fs::write(&token, "0123456789abcdef-secret\n").unwrap();
    let extra = format!("\n[web]\ntoken_file = {token:?}\n");
    let env = three_versions(&extra);
    let server = Server::start(&env);
    let (status, head, _) = server.get("/jobs/demo", &[]);
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("www-authenticate: bearer"));
    let (status, head, _) = server.get("/", &["Accept: text/html"]);
    assert_eq!(
        (status, head.contains("location: /login")),
        (303, true),
        "{head}"
    );
    let (status, _, _) = server.get(
        "/metrics",
        &["Authorization: Bearer 0123456789abcdef-wrong"],
    );
    assert_eq!(status, 401);
    let (status, _, _) = server.get(
        "/metrics",
        &["Authorization: Bearer 0123456789abcdef-secret"],
    );
    assert_eq!(status, 200);
    let (status, _, _) = server.get("/", &["Cookie: reverberator_token=0123456789abcdef-secret"]);
    assert_eq!(status, 200);
    let (status, _, body) = server.get("/login", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("name=\"token\""));
}

#[test]
fn check_config_refuses_a_public_listen_without_token() {
    let env = Env::with_extra("demo", "\n[web]\nlisten = \"0.0.0.0:8470\"\n");
    let out = env.run(&["check-config"]);
    assert!(!out.status.success());
    let err = util::stderr(&out) + &util::stdout(&out);
    let config = env.config().display().to_string();
    assert!(err.contains(&format!("{config}:6:10: error:")), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    let out = util::bin()
        .arg("--config")
        .arg(env.config())
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve refuses it too");
}

#[test]
fn metrics_pass_promtool_and_equal_list_json() {
    let env = three_versions("");
    let server = Server::start(&env);
    let (status, head, body) = server.get("/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = String::from_utf8(body).unwrap();
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{job=\"demo\"}}")))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
    };
    let list: serde_json::Value =
        serde_json::from_str(&util::stdout(&env.run(&["list", "demo", "--json"]))).unwrap();
    let rows = list.as_array().unwrap();
    let sum = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(value("reverberator_job_versions"), rows.len() as u64);
    assert_eq!(value("reverberator_job_vault_bytes"), sum("size"));
    assert_eq!(value("reverberator_job_vault_inodes"), sum("inodes"));
    let newest = chrono::DateTime::parse_from_rfc3339(rows[2]["time"].as_str().unwrap()).unwrap();
    assert_eq!(
        value("reverberator_job_last_commit_timestamp_seconds"),
        newest.timestamp() as u64
    );
    assert!(
        text.contains("reverberator_job_state{job=\"demo\",state=\"no-daemon\"} 1"),
        "{text}"
    );
    // The last snapshot's duration is what the newest version's journal line says.
    let journal = std::fs::read_to_string(env.job_dir().join("journal.tsv")).unwrap();
    let newest_line = journal
        .lines()
        .rfind(|l| l.split('\t').nth(1) == Some("snapshot"))
        .unwrap();
    let fields: Vec<&str> = newest_line.split('\t').collect();
    assert_eq!(fields[2], rows[2]["name"].as_str().unwrap(), "{journal}");
    let took = fields[3]
        .parse::<f64>()
        .expect("seconds in the snapshot line");
    let metric = "reverberator_job_last_snapshot_duration_seconds{job=\"demo\"}";
    let line = text.lines().find(|l| l.starts_with(metric)).expect(metric);
    let shown: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (shown - took).abs() < 1e-9 && took >= 0.0,
        "{line} vs {newest_line}"
    );
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut promtool) = promtool else {
        crate::skip_test!("no promtool (apt-get install prometheus)");
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        util::stdout(&out),
        util::stderr(&out)
    );
}

/// The job page names the rules keeping each version (issue 11's reasons).
#[test]
fn the_job_page_says_which_rules_keep_each_version() {
    let env = three_versions("keep_versions = 2\n[jobs.demo.keep]\nhourly = 1");
    let server = Server::start(&env);
    let (status, _, body) = server.get("/jobs/demo", &[]);
    let page = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("kept because"), "{page}");
    // Two versions are left: the newest is kept by `last` and `hourly`, the other by `last`.
    assert!(page.contains("<td>last, hourly</td>"), "{page}");
    assert!(page.contains("<td>last</td>"), "{page}");
}
