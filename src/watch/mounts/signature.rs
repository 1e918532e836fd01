//! Filesystem signatures: which filesystem a path is on ([`signature_of`]), and whether that
//! is the one a [`FsSpec`] asks for ([`spec_matches`]).
//!
//! The mount is found by mount id (see [`MountTable::mount_of`]); its identity comes from
//! `findmnt --json` (udev's database or libblkid), and where `findmnt` is missing, fails or
//! answers about another mount, from `blkid -c /dev/null -o export DEVICE`, which probes the
//! device itself and so works without udev (`/dev/disk/by-*` may be missing). Both run with
//! a timeout, so a dead device cannot hang the caller forever. This module knows nothing
//! about jobs or vaults.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::mountinfo::{show, MountEntry, MountTable};
use super::MountError;
use crate::config::FsSpec;

/// How long `findmnt` or `blkid` may take before it is killed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity of the filesystem a path is on. Fields are `None` where unknown (a tmpfs
/// has no UUID; an unpartitioned disk has no PARTUUID).
///
/// `Display` prints the spec text of the strongest identity in the seed's order: `uuid=…`,
/// else `partuuid=…`, else `label=…`, else `partlabel=…`, else `dev=…`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsSignature {
    /// Filesystem UUID (`blkid` `UUID`).
    pub uuid: Option<String>,
    /// Partition UUID from the partition table (`PARTUUID`).
    pub partuuid: Option<String>,
    /// Filesystem label (`LABEL`).
    pub label: Option<String>,
    /// Partition label from a GPT partition table (`PARTLABEL`).
    pub partlabel: Option<String>,
    /// The mount source: a device node (`/dev/sdb1`) or filesystem-specific text (`tmpfs`).
    pub device: Option<PathBuf>,
    /// Filesystem type (`ext4`).
    pub fstype: Option<String>,
    /// Where the mount holding the path is mounted.
    pub mountpoint: Option<PathBuf>,
    /// The mount id of that mount (see `MountEntry::mount_id`).
    pub mount_id: Option<u64>,
}

impl FsSignature {
    /// The strongest identity as a spec (what `auto` records), `None` when not even the
    /// device is known.
    pub fn to_spec(&self) -> Option<FsSpec> {
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        some(&self.uuid)
            .map(FsSpec::Uuid)
            .or_else(|| some(&self.partuuid).map(FsSpec::PartUuid))
            .or_else(|| some(&self.label).map(FsSpec::Label))
            .or_else(|| some(&self.partlabel).map(FsSpec::PartLabel))
            .or_else(|| self.device.clone().map(FsSpec::Dev))
    }

    /// A longer description for messages, every identity known:
    /// `uuid=… label=… (ext4 on /dev/sdb1 at /mnt/x)`.
    pub fn describe(&self) -> String {
        let ids = [
            ("uuid", &self.uuid),
            ("partuuid", &self.partuuid),
            ("label", &self.label),
            ("partlabel", &self.partlabel),
        ];
        let mut out: Vec<String> = ids
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={v}")))
            .collect();
        if out.is_empty() {
            out.push(self.to_string());
        }
        let show = |p: &Option<PathBuf>| p.as_deref().map(|d| d.display().to_string());
        format!(
            "{} ({} on {} at {})",
            out.join(" "),
            self.fstype.as_deref().unwrap_or("?"),
            show(&self.device).as_deref().unwrap_or("?"),
            show(&self.mountpoint).as_deref().unwrap_or("?"),
        )
    }
}

impl fmt::Display for FsSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_spec() {
            Some(spec) => write!(f, "{spec}"),
            None => write!(f, "an unidentified filesystem"),
        }
    }
}

/// The signature of the filesystem `path` is on, read now.
///
/// Errors: the mount table cannot be read, or no mount holds `path` (it does not exist).
/// A failing `findmnt`/`blkid` is not an error: the signature then carries only what the
/// mount table knows (device, type, mount point, mount id).
pub fn signature_of(path: &Path) -> Result<FsSignature, MountError> {
    let table = MountTable::read().map_err(|source| MountError::Mountinfo { source })?;
    let entry = table.mount_of(path).ok_or_else(|| MountError::NoMount {
        path: path.to_owned(),
    })?;
    Ok(probe(path, entry))
}

/// Identify the filesystem of `entry`, the mount `path` is on: `findmnt` when it answers
/// about that very mount (same id) with some identity, else `blkid` on the mount source.
pub(crate) fn probe(path: &Path, entry: &MountEntry) -> FsSignature {
    match findmnt(path) {
        // The mount table stays the authority for where and what is mounted.
        Ok(Some(sig)) if sig.mount_id == Some(entry.mount_id) && has_identity(&sig) => {
            return fill_from_entry(sig, entry);
        }
        Ok(_) => tracing::debug!(path = %path.display(), "findmnt gave no identity for the mount"),
        Err(e) => tracing::debug!(path = %path.display(), "findmnt: {e}"),
    }
    let mut sig = fill_from_entry(FsSignature::default(), entry);
    if entry.source.to_string_lossy().starts_with("/dev/") {
        match blkid(Path::new(&entry.source)) {
            Ok(ids) => merge_ids(&mut sig, ids),
            Err(e) => tracing::debug!(device = %show(&entry.source), "blkid: {e}"),
        }
    }
    sig
}

fn has_identity(sig: &FsSignature) -> bool {
    [&sig.uuid, &sig.partuuid, &sig.label, &sig.partlabel]
        .iter()
        .any(|v| v.is_some())
}

/// `sig` with what the mount table knows of `entry`: device, type, mount point, mount id.
fn fill_from_entry(sig: FsSignature, entry: &MountEntry) -> FsSignature {
    FsSignature {
        device: Some(PathBuf::from(&entry.source)),
        fstype: Some(entry.fstype.clone()),
        mountpoint: Some(entry.mount_point.clone()),
        mount_id: Some(entry.mount_id),
        ..sig
    }
}

fn merge_ids(sig: &mut FsSignature, ids: FsSignature) {
    sig.uuid = ids.uuid;
    sig.partuuid = ids.partuuid;
    sig.label = ids.label;
    sig.partlabel = ids.partlabel;
}

/// True when `sig` is the filesystem `spec` asks for. UUIDs compare case-insensitively,
/// labels exactly; `dev=` matches the same path, the same canonical path (a
/// `/dev/disk/by-*` link) or a block device node with the same device number.
/// [`FsSpec::Auto`] matches nothing by itself: the guard replaces it by the recorded spec.
pub fn spec_matches(spec: &FsSpec, sig: &FsSignature) -> bool {
    let same_ci = |have: &Option<String>, want: &str| {
        have.as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(want))
    };
    match spec {
        FsSpec::Auto => false,
        FsSpec::Uuid(u) => same_ci(&sig.uuid, u),
        FsSpec::PartUuid(u) => same_ci(&sig.partuuid, u),
        FsSpec::Label(l) => sig.label.as_deref() == Some(l.as_str()),
        FsSpec::PartLabel(l) => sig.partlabel.as_deref() == Some(l.as_str()),
        FsSpec::Dev(d) => sig
            .device
            .as_deref()
            .is_some_and(|have| same_device(d, have)),
    }
}

fn same_device(want: &Path, have: &Path) -> bool {
    if want == have {
        return true;
    }
    if let (Ok(a), Ok(b)) = (want.canonicalize(), have.canonicalize()) {
        if a == b {
            return true;
        }
    }
    let rdev = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.file_type().is_block_device())
            .map(|m| m.rdev())
    };
    rdev(want).is_some_and(|r| Some(r) == rdev(have))
}

/// `findmnt --json --output … --target PATH`. The columns are named instead of
/// `--output-all` so that findmnt does not `statfs` the mount (SIZE, AVAIL, USED), which
/// hangs on a dead network filesystem.
fn findmnt(path: &Path) -> Result<Option<FsSignature>, String> {
    let mut cmd = command("findmnt");
    cmd.args(["--json", "--nofsroot", "--output"])
        .arg("ID,SOURCE,TARGET,FSTYPE,UUID,PARTUUID,LABEL,PARTLABEL")
        .arg("--target")
        .arg(path);
    Ok(parse_findmnt(&run_probe(cmd)?))
}

/// `blkid -c /dev/null -o export DEVICE` (`-c /dev/null`: probe the device, no stale cache).
fn blkid(device: &Path) -> Result<FsSignature, String> {
    let mut cmd = command("blkid");
    cmd.args(["-c", "/dev/null", "-o", "export"]).arg(device);
    Ok(parse_blkid_export(&run_probe(cmd)?))
}

/// Parse `findmnt --json` output: the first filesystem listed. Numbers may be JSON numbers
/// or strings (older util-linux), missing values `null`.
pub fn parse_findmnt(json: &str) -> Option<FsSignature> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let fs = v.get("filesystems")?.as_array()?.first()?;
    let text = |key: &str| match fs.get(key)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(FsSignature {
        uuid: text("uuid"),
        partuuid: text("partuuid"),
        label: text("label"),
        partlabel: text("partlabel"),
        device: text("source").map(|s| PathBuf::from(strip_fsroot(&s))),
        fstype: text("fstype"),
        mountpoint: text("target").map(PathBuf::from),
        mount_id: text("id").and_then(|s| s.parse().ok()),
    })
}

/// `/dev/sdb1[/subvol]` → `/dev/sdb1`.
fn strip_fsroot(source: &str) -> &str {
    match source.find('[') {
        Some(i) if source.ends_with(']') => &source[..i],
        _ => source,
    }
}

/// Parse `blkid -o export` lines (`UUID=…`); values have `\` before shell-special bytes.
pub fn parse_blkid_export(text: &str) -> FsSignature {
    let mut sig = FsSignature::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unbackslash(value);
        let slot = match key {
            "UUID" => &mut sig.uuid,
            "PARTUUID" => &mut sig.partuuid,
            "LABEL" => &mut sig.label,
            "PARTLABEL" => &mut sig.partlabel,
            "TYPE" => &mut sig.fstype,
            "DEVNAME" => {
                sig.device = Some(PathBuf::from(value));
                continue;
            }
            _ => continue,
        };
        *slot = Some(value).filter(|v| !v.is_empty());
    }
    sig
}

fn unbackslash(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A command for a util-linux tool: found on `PATH`, else in `/usr/sbin`, `/sbin`,
/// `/usr/bin`, `/bin` (a daemon's `PATH` may lack the sbin directories).
fn command(name: &str) -> Command {
    let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    let in_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    match found {
        Some(p) if !in_path => Command::new(p),
        _ => Command::new(name),
    }
}

/// Run `cmd` with a timeout; its stdout on success.
fn run_probe(mut cmd: Command) -> Result<String, String> {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let status =
        wait_with_timeout(&mut child, PROBE_TIMEOUT).map_err(|e| format!("{program}: {e}"))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut out)
            .map_err(|e| format!("{program}: {e}"))?;
    }
    if !status.success() {
        return Err(format!("{program} exited with {status}"));
    }
    Ok(out)
}

fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(500);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            // Our own child, not yet reaped: its pid cannot have been reused.
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
