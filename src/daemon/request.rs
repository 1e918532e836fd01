//! Requests on the status socket: the status report, and `snapshot` (one writer per job,
//! even with the CLI). A snapshot request asks each named job's machine for a delta scan
//! ([`super::job::JobMachine::on_request`]); the client is answered once, for every job,
//! a scan submitted after the request has come back from its worker (a scan that was
//! already running when the request came may predate the user's last change, so it does
//! not count). A halted or unknown job is answered at once.

use std::os::unix::net::UnixStream;
use std::time::Instant;

use super::job::Done;
use super::status::{self, JobCommit, Request, SnapshotReply};
use super::Daemon;

/// Where one job of a waiting request stands.
#[derive(Debug)]
enum Wait {
    /// No scan submitted since the request.
    Asked,
    /// Its scan runs.
    Submitted,
    /// Answered.
    Done(JobCommit),
}

/// A client waiting for its snapshot request.
#[derive(Debug)]
struct Waiter {
    stream: UnixStream,
    /// (job name, job instance, where it stands), in the order asked.
    jobs: Vec<(String, u64, Wait)>,
}

/// The snapshot requests waiting for their workers.
#[derive(Debug, Default)]
pub struct Requests {
    waiting: Vec<Waiter>,
}

impl Requests {
    /// A scan of `job` (`instance`) was just submitted.
    pub fn submitted(&mut self, job: &str, instance: u64) {
        for w in &mut self.waiting {
            for (name, i, wait) in &mut w.jobs {
                if name == job && *i == instance && matches!(wait, Wait::Asked) {
                    *wait = Wait::Submitted;
                }
            }
        }
    }

    /// The worker of `job` (`instance`) finished with `done`: answer the requests that
    /// have everything now.
    pub fn finished(&mut self, job: &str, instance: u64, done: &Done, pid: u32) {
        for w in &mut self.waiting {
            for (name, i, wait) in &mut w.jobs {
                if name == job && *i == instance && matches!(wait, Wait::Submitted) {
                    *wait = Wait::Done(commit_of(job, done));
                }
            }
        }
        self.reply_complete(pid);
    }

    /// Answer `job`'s waiters that cannot be served any more (halted, removed, restarted
    /// by a reload) with `why`, also when their scan was submitted: a halt or a restart
    /// drops the job's queued tasks, so its result may never come.
    pub fn give_up(&mut self, job: &str, instance: u64, outcome: &str, why: &str, pid: u32) {
        for w in &mut self.waiting {
            for (name, i, wait) in &mut w.jobs {
                if name == job && *i == instance && !matches!(wait, Wait::Done(_)) {
                    *wait = Wait::Done(JobCommit {
                        name: job.to_owned(),
                        outcome: outcome.to_owned(),
                        version: None,
                        message: Some(why.to_owned()),
                    });
                }
            }
        }
        self.reply_complete(pid);
    }

    /// The (job, instance) pairs still waiting for a scan to be submitted.
    fn asked(&self) -> Vec<(String, u64)> {
        self.waiting_for(|wait| matches!(wait, Wait::Asked))
    }

    /// The (job, instance) pairs not answered yet.
    fn unanswered(&self) -> Vec<(String, u64)> {
        self.waiting_for(|wait| !matches!(wait, Wait::Done(_)))
    }

    fn waiting_for(&self, which: impl Fn(&Wait) -> bool) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .waiting
            .iter()
            .flat_map(|w| &w.jobs)
            .filter(|(_, _, wait)| which(wait))
            .map(|(n, i, _)| (n.clone(), *i))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn reply_complete(&mut self, pid: u32) {
        let (done, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.jobs.iter().all(|(_, _, s)| matches!(s, Wait::Done(_))));
        self.waiting = waiting;
        for w in done {
            let jobs = w
                .jobs
                .into_iter()
                .filter_map(|(_, _, s)| match s {
                    Wait::Done(c) => Some(c),
                    _ => None,
                })
                .collect();
            status::send(w.stream, &SnapshotReply { pid, jobs }, "the snapshot reply");
        }
    }
}

fn commit_of(job: &str, done: &Done) -> JobCommit {
    let (outcome, version, message) = match done {
        Done::Committed(v) => ("committed", Some(v.clone()), None),
        Done::Unchanged(v) => ("unchanged", v.clone(), None),
        Done::Failed(m) => ("failed", None, Some(m.clone())),
    };
    JobCommit {
        name: job.to_owned(),
        outcome: outcome.to_owned(),
        version,
        message,
    }
}

impl Daemon {
    /// Serve one client of the status socket, whose request line was read (`clients.rs`).
    pub(super) fn handle_client(
        &mut self,
        stream: UnixStream,
        request: Result<Request, String>,
        now: Instant,
    ) {
        match request {
            Ok(Request::Status) => status::send(stream, &self.report(now), "the status"),
            Ok(Request::Snapshot { jobs }) => self.request_snapshot(stream, jobs, now),
            Err(why) => {
                tracing::warn!("status socket: {why}");
                let reply = serde_json::json!({ "error": why });
                status::send(stream, &reply, "the error");
            }
        }
    }

    fn request_snapshot(&mut self, stream: UnixStream, names: Vec<String>, now: Instant) {
        let names = if names.is_empty() {
            self.slots.iter().map(|s| s.job.name.clone()).collect()
        } else {
            names
        };
        let mut jobs = Vec::new();
        for name in names {
            let Some(slot) = self.slots.iter().find(|s| s.job.name == name) else {
                let unknown = JobCommit {
                    name,
                    outcome: "unknown".into(),
                    version: None,
                    message: Some("the daemon runs no such job".into()),
                };
                jobs.push((unknown.name.clone(), 0, Wait::Done(unknown)));
                continue;
            };
            jobs.push((name, slot.instance, Wait::Asked));
        }
        tracing::info!("snapshot requested for {} job(s)", jobs.len());
        self.requests.waiting.push(Waiter { stream, jobs });
        for (name, instance) in self.requests.asked() {
            self.ask_job(&name, instance, now);
        }
        self.requests.reply_complete(std::process::id());
    }

    /// Ask job `name` for a scan now (or answer its waiters when it cannot run one).
    fn ask_job(&mut self, name: &str, instance: u64, now: Instant) {
        let pid = std::process::id();
        let Some(i) = self.slot_of(name, instance) else {
            return self.requests.give_up(
                name,
                instance,
                "unknown",
                "the job was removed or restarted by a reload",
                pid,
            );
        };
        if self.slots[i].is_halted() {
            let why = match self.slots[i].status(now).halted_side {
                Some(side) => format!("halted: its {side} filesystem is not there"),
                None => "halted".to_owned(),
            };
            return self.requests.give_up(name, instance, "halted", &why, pid);
        }
        let actions = self.slots[i].machine.on_request(now);
        self.apply(i, actions);
    }

    /// After a reload or a halt: answer the waiters whose job instance is gone or halted
    /// (whether or not their scan was submitted).
    pub(super) fn sweep_requests(&mut self, now: Instant) {
        for (name, instance) in self.requests.unanswered() {
            match self.slot_of(&name, instance) {
                Some(i) if !self.slots[i].is_halted() => {}
                _ => self.ask_job(&name, instance, now),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn reply(mut client: UnixStream) -> SnapshotReply {
        let mut text = Vec::new();
        client.read_to_end(&mut text).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// Only a scan submitted after the request answers it; every job must be answered.
    #[test]
    fn a_request_waits_for_a_scan_submitted_after_it() {
        let (server, client) = UnixStream::pair().unwrap();
        let mut r = Requests::default();
        r.waiting.push(Waiter {
            stream: server,
            jobs: vec![("a".into(), 1, Wait::Asked), ("b".into(), 2, Wait::Asked)],
        });
        // A result of a task that ran before the request: not the answer.
        r.finished("a", 1, &Done::Committed("V1--x".into()), 7);
        assert_eq!(r.waiting.len(), 1);
        r.submitted("a", 1);
        r.submitted("b", 9); // another instance of b: not this request's
        r.finished("a", 1, &Done::Committed("V2--x".into()), 7);
        assert_eq!(r.waiting.len(), 1, "b is still asked");
        assert_eq!(r.asked(), vec![("b".to_owned(), 2)]);
        r.give_up(
            "b",
            2,
            "halted",
            "halted: its vault filesystem is not there",
            7,
        );
        assert!(r.waiting.is_empty());
        let got = reply(client);
        assert_eq!(got.pid, 7);
        assert_eq!(got.jobs.len(), 2);
        assert_eq!(
            (got.jobs[0].outcome.as_str(), got.jobs[0].version.as_deref()),
            ("committed", Some("V2--x"))
        );
        assert_eq!(got.jobs[1].outcome, "halted");
    }

    /// A reload that restarts a job drops its queued scan: the waiter is answered, not
    /// left waiting for a result that never comes.
    #[test]
    fn a_submitted_scan_of_a_restarted_job_is_given_up() {
        let (server, client) = UnixStream::pair().unwrap();
        let mut r = Requests::default();
        r.waiting.push(Waiter {
            stream: server,
            jobs: vec![("a".into(), 1, Wait::Asked)],
        });
        r.submitted("a", 1);
        assert!(r.asked().is_empty());
        assert_eq!(r.unanswered(), vec![("a".to_owned(), 1)]);
        r.give_up("a", 1, "unknown", "the job was restarted", 7);
        assert!(r.waiting.is_empty());
        assert_eq!(reply(client).jobs[0].outcome, "unknown");
    }
}
