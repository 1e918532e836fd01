//! JobMachine driven from data: each script is a list of (time in ms, input, expected
//! actions, expected state) with injected time; settle = 300 ms, max_settle = 1000 ms.

use super::*;

#[derive(Debug, Clone, Copy)]
enum In {
    Start,
    /// A change to this many distinct paths.
    Fs(usize),
    Tick,
    Committed,
    Unchanged,
    Failed,
    Overflow,
    /// `reverberator snapshot` asked.
    Request,
    WatchLimit,
    Unmount,
    Remount,
}
use In::*;

/// (ms since t0, input, actions rendered as text, state name after).
type Step = (u64, In, &'static [&'static str], &'static str);

struct Script {
    name: &'static str,
    rescan_ms: Option<u64>,
    steps: &'static [Step],
}

const STARTED: [Step; 2] = [
    (0, Start, &["rescan:Start"], "starting"),
    (5, Unchanged, &[], "watching"),
];

const SCRIPTS: &[Script] = &[
    Script {
        name: "settle restarts on each change",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (200, Fs(1), &["deadline@500"], "settling"),
            (310, Tick, &["deadline@500"], "settling"),
            (500, Tick, &["snapshot:2"], "snapshotting"),
            (600, Committed, &[], "watching"),
        ],
    },
    Script {
        name: "max_settle forces a snapshot during continuous change",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (100, Fs(1), &["deadline@400"], "settling"),
            (350, Fs(1), &["deadline@650"], "settling"),
            (600, Fs(1), &["deadline@900"], "settling"),
            (850, Fs(1), &["deadline@1100"], "settling"),
            (1050, Fs(1), &["deadline@1100"], "settling"),
            (1100, Tick, &["snapshot:5"], "snapshotting"),
        ],
    },
    Script {
        name: "changes during a snapshot start the next ChangeSet",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(2), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:2"], "snapshotting"),
            (400, Fs(3), &[], "snapshotting"),
            (450, Tick, &[], "snapshotting"),
            (500, Committed, &["deadline@700"], "settling"),
            (700, Tick, &["snapshot:3"], "snapshotting"),
            (720, Committed, &[], "watching"),
        ],
    },
    Script {
        name: "a late snapshot is taken right after the worker finishes",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:1"], "snapshotting"),
            (320, Fs(1), &[], "snapshotting"),
            (2000, Committed, &["snapshot:1"], "snapshotting"),
        ],
    },
    Script {
        name: "changes during the start scan settle after it",
        rescan_ms: None,
        steps: &[
            (0, Start, &["rescan:Start"], "starting"),
            (50, Fs(1), &[], "starting"),
            (60, Tick, &[], "starting"),
            (100, Committed, &["deadline@350"], "settling"),
        ],
    },
    Script {
        name: "overflow: a delta scan replaces the pending changes",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(4), &["deadline@310"], "settling"),
            (
                20,
                Overflow,
                &["journal:overflow", "rescan:Overflow"],
                "snapshotting",
            ),
            (30, Fs(1), &[], "snapshotting"),
            (90, Committed, &["deadline@330"], "settling"),
        ],
    },
    Script {
        name: "overflow during a snapshot scans after it",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:1"], "snapshotting"),
            (320, Overflow, &["journal:overflow"], "snapshotting"),
            (400, Committed, &["rescan:Overflow"], "snapshotting"),
            (500, Unchanged, &[], "watching"),
        ],
    },
    Script {
        name: "a failure is journaled and retried by a scan",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:1"], "snapshotting"),
            (
                400,
                Failed,
                &["journal:error", "deadline@30400"],
                "watching",
            ),
            (1000, Tick, &["deadline@30400"], "watching"),
            (30400, Tick, &["rescan:Retry"], "snapshotting"),
            (30500, Committed, &[], "watching"),
        ],
    },
    Script {
        name: "rescan_interval runs a scan when due",
        rescan_ms: Some(5000),
        steps: &[
            (0, Start, &["rescan:Start"], "starting"),
            (5, Unchanged, &["deadline@5000"], "watching"),
            (5000, Tick, &["rescan:Interval"], "snapshotting"),
            (5100, Unchanged, &["deadline@10000"], "watching"),
            (6000, Fs(1), &["deadline@6300"], "settling"),
        ],
    },
    Script {
        name: "the watch limit falls back to periodic scans",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, WatchLimit, &["deadline@60010"], "watching"),
            (60010, Tick, &["rescan:WatchLimit"], "snapshotting"),
            (60100, Unchanged, &["deadline@120010"], "watching"),
        ],
    },
    Script {
        name: "halt discards pending changes and ignores events",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(3), &["deadline@310"], "settling"),
            (20, Unmount, &["halt:source"], "halted-unmounted"),
            (30, Fs(1), &[], "halted-unmounted"),
            (400, Tick, &[], "halted-unmounted"),
            (500, Unmount, &[], "halted-unmounted"),
            (600, Remount, &["resume", "rescan:Resume"], "starting"),
            (700, Committed, &[], "watching"),
        ],
    },
    Script {
        name: "halt during a snapshot: the worker finishes, nothing follows",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:1"], "snapshotting"),
            (320, Unmount, &["halt:source"], "halted-unmounted"),
            (330, Committed, &[], "halted-unmounted"),
            (340, Remount, &["resume", "rescan:Resume"], "starting"),
        ],
    },
    Script {
        name: "a resume waits for a worker that outlived the halt",
        rescan_ms: None,
        steps: &[
            STARTED[0],
            STARTED[1],
            (10, Fs(1), &["deadline@310"], "settling"),
            (310, Tick, &["snapshot:1"], "snapshotting"),
            (320, Unmount, &["halt:source"], "halted-unmounted"),
            (340, Remount, &["resume"], "starting"),
            (350, Tick, &[], "starting"),
            (360, Committed, &["rescan:Resume"], "snapshotting"),
            (400, Unchanged, &[], "watching"),
        ],
    },
    Script {
        name: "a job halted before it started scans when the filesystem returns",
        rescan_ms: None,
        steps: &[
            (0, Unmount, &["halt:source"], "halted-unmounted"),
            (100, Remount, &["resume", "rescan:Resume"], "starting"),
            (200, Committed, &[], "watching"),
        ],
    },
    Script {
        name: "nothing starts or is journaled before the start: the start scan covers it",
        rescan_ms: None,
        steps: &[
            (0, Request, &[], "starting"),
            (10, Overflow, &[], "starting"),
            (15, Fs(2), &[], "starting"),
            (20, Tick, &[], "starting"),
            (30, Start, &["rescan:Start"], "starting"),
            (90, Unchanged, &[], "watching"),
        ],
    },
    Script {
        name: "a coalesced-away burst commits nothing",
        rescan_ms: None,
        steps: &[STARTED[0], STARTED[1], (10, Fs(0), &[], "watching")],
    },
];

/// The actions, then when the machine wants its next tick, if it does (the loop polls
/// [`JobMachine::deadline`]).
fn render(actions: &[Action], deadline: Option<Instant>, t0: Instant) -> Vec<String> {
    let deadline = deadline.map(|t| format!("deadline@{}", (t - t0).as_millis()));
    actions
        .iter()
        .map(|a| match a {
            Action::Snapshot(set) => format!("snapshot:{}", set.len()),
            Action::Rescan(r) => format!("rescan:{r:?}"),
            Action::Halt { side, .. } => format!("halt:{}", side.as_str()),
            Action::Resume(_) => "resume".to_owned(),
            Action::Journal(Note::Overflow) => "journal:overflow".to_owned(),
            Action::Journal(Note::Error(_)) => "journal:error".to_owned(),
        })
        .chain(deadline)
        .collect()
}

fn feed(m: &mut JobMachine, input: In, now: Instant, counter: &mut usize) -> Vec<Action> {
    match input {
        Start => m.start(now),
        Fs(n) => {
            let changes = (0..n)
                .map(|_| {
                    *counter += 1;
                    (format!("f{counter}").into(), Change::Modified)
                })
                .collect();
            m.on_fs(changes, now)
        }
        Tick => m.on_tick(now),
        Committed => m.on_done(Done::Committed(format!("V{counter}")), now),
        Unchanged => m.on_done(Done::Unchanged(None), now),
        Failed => m.on_done(Done::Failed("disk full".into()), now),
        Overflow => m.on_overflow(now),
        Request => m.on_request(now),
        WatchLimit => m.on_watch_limit(now),
        Unmount => m.on_mount(halted(), now, wall(0)),
        Remount => m.on_mount(MountState::Ready, now, wall(0)),
    }
}

/// The wall time `s` seconds into a fixed day.
fn wall(s: i64) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00+01:00").unwrap()
        + chrono::Duration::seconds(s)
}

fn halted() -> MountState {
    MountState::Halted {
        side: Side::Source,
        awaiting: "uuid=1234".into(),
        reason: "source unmounted".into(),
    }
}

/// A machine with settle = 300 ms, max_settle = 1000 ms.
fn machine(rescan_interval: Option<Duration>) -> JobMachine {
    JobMachine::new(Timing {
        settle: Duration::from_millis(300),
        max_settle: Duration::from_millis(1000),
        rescan_interval,
    })
}

fn run(script: &Script) -> Result<(), String> {
    let t0 = Instant::now();
    let mut m = machine(script.rescan_ms.map(Duration::from_millis));
    let mut counter = 0;
    for (i, (ms, input, want, state)) in script.steps.iter().enumerate() {
        let now = t0 + Duration::from_millis(*ms);
        let actions = feed(&mut m, *input, now, &mut counter);
        let got = render(&actions, m.deadline(), t0);
        if got != *want || m.state().name() != *state {
            return Err(format!(
                "{}: step {i} ({input:?} at {ms}ms): got {got:?} in {}, want {want:?} in {state}",
                script.name,
                m.state().name()
            ));
        }
    }
    Ok(())
}

#[test]
fn scripts() {
    let failures: Vec<String> = SCRIPTS.iter().filter_map(|s| run(s).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn status_view_follows_the_machine() {
    let t0 = Instant::now();
    let mut m = machine(None);
    m.start(t0);
    assert!(m.is_busy());
    assert_eq!(m.deadline(), None);
    m.on_done(Done::Committed("V0--x".into()), t0);
    assert_eq!(m.newest(), Some("V0--x"));
    m.on_fs(vec![("a".into(), Change::Created)], t0);
    assert_eq!(m.pending_len(), 1);
    assert_eq!(m.deadline(), Some(t0 + Duration::from_millis(300)));
    assert_eq!(m.snapshot_deadline(), Some(t0 + Duration::from_millis(300)));
    assert_eq!(m.scan_deadline(), None);
    m.on_done(Done::Unchanged(None), t0);
    assert_eq!(m.newest(), Some("V0--x"));
}

fn started(t0: Instant) -> JobMachine {
    let mut m = machine(None);
    m.start(t0);
    m.on_done(Done::Committed("V0--x".into()), t0);
    m
}

/// A file written and then removed within the burst: its other names (if it had any) have
/// no record, so the settled burst is committed from a delta scan, not from its ChangeSet.
/// A file created in the burst and removed is not such a case.
#[test]
fn a_written_file_removed_in_the_burst_makes_the_version_a_scan() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut m = started(t0);
    m.on_fs(vec![("new".into(), Change::Created)], ms(10));
    m.on_fs(vec![("new".into(), Change::Deleted)], ms(20));
    m.on_fs(vec![("d/f".into(), Change::Modified)], ms(30));
    assert_eq!(
        m.on_tick(ms(330)),
        vec![Action::Snapshot({
            let mut c = ChangeSet::new();
            c.record("d/f", Change::Modified);
            c
        })]
    );
    m.on_done(Done::Committed("V1--x".into()), ms(340));
    m.on_fs(vec![("d/f".into(), Change::Modified)], ms(400));
    m.on_fs(vec![("d".into(), Change::Deleted)], ms(410));
    assert!(m.on_tick(ms(600)).is_empty());
    assert_eq!(m.deadline(), Some(ms(710)));
    assert_eq!(
        m.on_tick(ms(710)),
        vec![Action::Rescan(ScanReason::RemovedAfterWrite)]
    );
    m.on_done(Done::Unchanged(None), ms(720));
    // The scan covered it: the next burst is a snapshot again.
    m.on_fs(vec![("g".into(), Change::Modified)], ms(800));
    assert!(matches!(m.on_tick(ms(1100))[..], [Action::Snapshot(_)]));
}

/// The watcher lost track of a folder: no scan of a half-done burst, the settled burst is
/// a scan.
#[test]
fn lost_track_waits_for_settle_then_scans() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut m = started(t0);
    m.on_fs(vec![("a".into(), Change::Created)], ms(10));
    assert!(m.on_lost_track(ms(20)).is_empty());
    assert_eq!(m.deadline(), Some(ms(310)));
    m.on_fs(vec![("b".into(), Change::Created)], ms(100));
    assert!(m.on_tick(ms(310)).is_empty());
    assert_eq!(m.deadline(), Some(ms(400)));
    assert_eq!(
        m.on_tick(ms(400)),
        vec![Action::Rescan(ScanReason::LostTrack)]
    );
    // Nothing pending either: it still settles, then scans.
    m.on_done(Done::Unchanged(None), ms(410));
    assert!(m.on_lost_track(ms(500)).is_empty());
    assert_eq!(m.deadline(), Some(ms(800)));
    assert_eq!(
        m.on_tick(ms(800)),
        vec![Action::Rescan(ScanReason::LostTrack)]
    );
}

/// A halt is journaled on resume as it began: the first verdict's time, side and reason,
/// also when a later verdict names the other side.
#[test]
fn resume_carries_the_halt_as_it_began() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut m = started(t0);
    assert!(matches!(
        m.on_mount(halted(), ms(10), wall(10))[..],
        [Action::Halt { .. }]
    ));
    assert!(
        m.on_mount(halted(), ms(20), wall(20)).is_empty(),
        "the same verdict again"
    );
    let vault_gone = MountState::Halted {
        side: Side::Vault,
        awaiting: "label=B".into(),
        reason: "vault unmounted".into(),
    };
    assert!(matches!(
        m.on_mount(vault_gone, ms(30), wall(30))[..],
        [Action::Halt {
            side: Side::Vault,
            ..
        }]
    ));
    let first = HaltRecord {
        at: wall(10),
        side: Side::Source,
        reason: "source unmounted".into(),
    };
    assert_eq!(
        m.on_mount(MountState::Ready, ms(40), wall(40)),
        vec![Action::Resume(first), Action::Rescan(ScanReason::Resume)]
    );
    assert!(
        m.on_mount(MountState::Ready, ms(50), wall(50)).is_empty(),
        "already resumed"
    );
}
