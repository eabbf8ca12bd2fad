//! Load shapes: a fixed number of simulated browsers each doing one thing after another
//! (closed loop), or new sign-ins arriving at a fixed rate whatever the answers' speed
//! (open loop). Every run is bounded by a count and a deadline, and stops launching work
//! at the first error: any error fails the run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::flows::{self, Target};
use crate::http::Conn;

#[derive(Clone, Copy, Debug)]
pub enum Load {
    Concurrency(usize),
    /// Arrivals per second.
    Rate(f64),
}

/// Errors seen in a run: how many, and the first few for the report.
#[derive(Default)]
struct Errors {
    inner: Mutex<(usize, Vec<String>)>,
}

impl Errors {
    fn push(&self, e: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        if g.1.len() < 5 {
            g.1.push(e);
        }
    }
    fn take(&self) -> (usize, Vec<String>) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (g.0, g.1.clone())
    }
}

pub struct SignInRun {
    pub completed: usize,
    pub elapsed: Duration,
    pub callback: Vec<Duration>,
    pub total: Vec<Duration>,
    pub sessions: Vec<(usize, String)>,
    pub errors: (usize, Vec<String>),
    pub timed_out: bool,
}

/// Signs in every (workspace, user) of `plan` under `load`, until done or `deadline`.
pub async fn sign_ins(
    t: Target,
    plan: Vec<(usize, u64)>,
    load: Load,
    deadline: Instant,
) -> SignInRun {
    let plan = Arc::new(plan);
    let errors = Arc::new(Errors::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut set = JoinSet::new();
    let one = {
        let (errors, stop) = (errors.clone(), stop.clone());
        move |ws: usize, j: u64| {
            let (errors, stop) = (errors.clone(), stop.clone());
            async move {
                match flows::sign_in(t, ws, j).await {
                    Ok(s) => Some((ws, s)),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        errors.push(format!("sign-in of {}: {e:#}", crate::naming::upn(ws, j)));
                        None
                    }
                }
            }
        }
    };
    let mut results = Vec::with_capacity(plan.len());
    let mut timed_out = false;
    match load {
        Load::Concurrency(c) => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..c.max(1) {
                let (plan, next, stop, one) =
                    (plan.clone(), next.clone(), stop.clone(), one.clone());
                set.spawn(async move {
                    let mut out = Vec::new();
                    let mut late = false;
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= plan.len() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if Instant::now() > deadline {
                            late = true;
                            break;
                        }
                        let (ws, j) = plan[k];
                        if let Some(r) = one(ws, j).await {
                            out.push(r);
                        }
                    }
                    (out, late)
                });
            }
            while let Some(r) = set.join_next().await {
                let (out, late) = r.expect("worker panicked");
                results.extend(out);
                timed_out |= late;
            }
        }
        Load::Rate(per_sec) => {
            let interval = Duration::from_secs_f64(1.0 / per_sec.max(0.001));
            let mut flights = JoinSet::new();
            for (k, &(ws, j)) in plan.iter().enumerate() {
                let at = started + interval.mul_f64(k as f64);
                tokio::time::sleep_until(at.into()).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if Instant::now() > deadline {
                    timed_out = true;
                    break;
                }
                flights.spawn(one(ws, j));
            }
            while let Some(r) = flights.join_next().await {
                if let Some(x) = r.expect("flow panicked") {
                    results.push(x);
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let mut run = SignInRun {
        completed: results.len(),
        elapsed,
        callback: Vec::with_capacity(results.len()),
        total: Vec::with_capacity(results.len()),
        sessions: Vec::with_capacity(results.len()),
        errors: errors.take(),
        timed_out,
    };
    for (ws, s) in results {
        run.callback.push(s.callback);
        run.total.push(s.total);
        run.sessions.push((ws, s.session_cookie));
    }
    run
}

pub struct RequestRun {
    pub completed: usize,
    pub elapsed: Duration,
    pub latency: Vec<Duration>,
    pub errors: (usize, Vec<String>),
    pub timed_out: bool,
}

pub enum Requests {
    /// `GET /my/dashboard`, cycling over these (workspace, session cookie) pairs.
    Dashboard(Arc<Vec<(usize, String)>>),
    /// `GET /healthz`.
    Hello,
    /// `GET path` on workspace `ws` with one session, cycling over the paths.
    Pages {
        ws: usize,
        cookie: String,
        paths: Vec<String>,
    },
}

/// `total` requests over `connections` kept-alive connections.
pub async fn requests(
    t: Target,
    what: Requests,
    total: usize,
    connections: usize,
    deadline: Instant,
) -> RequestRun {
    let what = Arc::new(what);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Errors::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (what, next, errors, stop) = (what.clone(), next.clone(), errors.clone(), stop.clone());
        set.spawn(async move {
            let mut conn = Conn::new(t.server);
            let mut lat = Vec::new();
            let mut late = false;
            let bare = t.bare_host();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total || stop.load(Ordering::Relaxed) {
                    break;
                }
                if Instant::now() > deadline {
                    late = true;
                    break;
                }
                let t0 = Instant::now();
                let r = match &*what {
                    Requests::Dashboard(sessions) => {
                        let (ws, cookie) = &sessions[k % sessions.len()];
                        flows::dashboard(&mut conn, &t.workspace_host(*ws), cookie).await
                    }
                    Requests::Hello => flows::hello(&mut conn, &bare).await,
                    Requests::Pages { ws, cookie, paths } => {
                        let path = &paths[k % paths.len()];
                        flows::page(&mut conn, &t.workspace_host(*ws), path, cookie).await
                    }
                };
                match r {
                    Ok(()) => lat.push(t0.elapsed()),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        errors.push(format!("{e:#}"));
                    }
                }
            }
            (lat, late)
        });
    }
    let mut latency = Vec::with_capacity(total);
    let mut timed_out = false;
    while let Some(r) = set.join_next().await {
        let (lat, late) = r.expect("worker panicked");
        latency.extend(lat);
        timed_out |= late;
    }
    RequestRun {
        completed: latency.len(),
        elapsed: started.elapsed(),
        latency,
        errors: errors.take(),
        timed_out,
    }
}

/// p-th percentile (0–100) of unsorted samples.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * p / 100.0).round() as usize;
    samples[idx.min(samples.len() - 1)]
}
