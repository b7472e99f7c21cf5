//! Reporting the runtime benchmark: the comparison table (median and min..max per driver, the
//! uring/epoll ratio), the ring setup, every round, as text and as JSON.

use std::fmt;

use super::measure::{NopSample, RuntimeBenchReport};
use super::{CLIENT_CPU, SERVER_CPU};
use crate::{human, json_array, JsonObject, Summary};

impl RuntimeBenchReport {
    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let machine = self.machine.to_json();
        let config = self.config_json();
        let ring = self.ring_json();
        let metrics = self.metrics_json();
        let rounds = self.rounds_json();
        JsonObject::new()
            .str("benchmark", "runtime")
            .str(
                "question",
                "io_uring vs epoll server driver: loopback ping-pong throughput and CPU per \
                 request; ring NOP cost",
            )
            .raw("machine", &machine)
            .raw("config", &config)
            .raw("ring_setup", &ring)
            .num("fallbacks", self.fallbacks() as f64)
            .raw("metrics", &metrics)
            .raw("rounds", &rounds)
            .finish()
    }

    fn config_json(&self) -> String {
        let c = &self.config;
        let config = JsonObject::new()
            .num("rounds", c.rounds as f64)
            .num("warmup_s", c.warmup.as_secs_f64())
            .num("measure_s", c.measure.as_secs_f64())
            .num("connections", c.connections as f64)
            .num("message_bytes", c.message_bytes as f64)
            .num("nops", c.nops as f64)
            .num("nop_tasks", c.nop_tasks as f64)
            .num("server_cpu", SERVER_CPU as f64)
            .num("client_cpu", CLIENT_CPU as f64)
            .str("client_driver", "epoll")
            .finish();
        config
    }

    fn ring_json(&self) -> String {
        let ring = match self.ring_setup() {
            Some(r) => JsonObject::new()
                .num("entries", r.entries as f64)
                .bool("defer_taskrun", r.defer_taskrun)
                .bool("coop_taskrun", r.coop_taskrun)
                .bool("sqpoll", r.sqpoll)
                .bool("registered_ring", r.registered_ring)
                .finish(),
            None => "null".to_string(),
        };
        ring
    }

    fn metrics_json(&self) -> String {
        let summary = |s: &Summary| {
            JsonObject::new()
                .num("median", s.median)
                .num("min", s.min)
                .num("max", s.max)
                .finish()
        };
        let metrics = json_array(self.metrics().iter().map(|m| {
            JsonObject::new()
                .str("name", &m.name)
                .str("unit", m.unit)
                .bool("higher_is_better", m.higher_is_better)
                .raw("uring", &summary(&m.uring))
                .raw("epoll", &summary(&m.epoll))
                .num("ratio_uring_over_epoll", m.ratio())
                .finish()
        }));
        metrics
    }

    fn rounds_json(&self) -> String {
        let nop = |n: &Option<NopSample>| match n {
            Some(n) => JsonObject::new()
                .str("driver", &n.driver.to_string())
                .num("tasks", n.tasks as f64)
                .num("ops", n.ops as f64)
                .num("seconds", n.seconds)
                .num("ns_per_op", n.ns_per_op())
                .finish(),
            None => "null".to_string(),
        };
        let rounds = json_array(self.rounds.iter().enumerate().flat_map(|(i, pair)| {
            pair.iter()
                .map(|d| {
                    let p = &d.ping_pong;
                    JsonObject::new()
                        .num("round", (i + 1) as f64)
                        .str("requested", &d.requested.to_string())
                        .str("driver", &p.driver.to_string())
                        .num("requests", p.requests as f64)
                        .num("seconds", p.seconds)
                        .num("requests_per_s", p.requests_per_second())
                        .num("server_cpu_s", p.server_cpu.seconds)
                        .num("server_sys_share", p.server_cpu.sys_share)
                        .num("server_cpu_us_per_request", p.server_cpu_us_per_request())
                        .num("client_cpu_s", p.client_cpu.seconds)
                        .num("client_cpu_us_per_request", p.client_cpu_us_per_request())
                        .raw("nop_sequential", &nop(&d.nop_sequential))
                        .raw("nop_batched", &nop(&d.nop_batched))
                        .finish()
                })
                .collect::<Vec<_>>()
        }));
        rounds
    }

    /// What ran where: machine, ring setup, fallbacks, the shape of the runs.
    fn write_setup(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "ringlog bench runtime: ring NOP and loopback ping-pong, server on io_uring vs epoll"
        )?;
        writeln!(
            f,
            "machine: {}, {} CPUs, kernel {}",
            self.machine.cpu_model, self.machine.cpus, self.machine.kernel
        )?;
        match self.ring_setup() {
            Some(r) => writeln!(
                f,
                "io_uring server ring: {} entries, SINGLE_ISSUER|DEFER_TASKRUN {}, COOP_TASKRUN {}, \
                 SQPOLL {}, registered ring fd {}",
                r.entries,
                yes(r.defer_taskrun),
                yes(r.coop_taskrun),
                yes(r.sqpoll),
                yes(r.registered_ring)
            )?,
            None => writeln!(f, "io_uring server ring: none (io_uring never ran)")?,
        }
        if self.fallbacks() > 0 {
            writeln!(
                f,
                "WARNING: io_uring could not be set up in {} run(s) and fell back to epoll: the \
                 uring column is not io_uring",
                self.fallbacks()
            )?;
        }
        writeln!(
            f,
            "rounds: {} (uring, epoll alternately); ping-pong: {} connections x {} B, {:.1} s \
             warm-up + {:.1} s measured; server shard on CPU {SERVER_CPU}, client shard (epoll) on \
             CPU {CLIENT_CPU}",
            c.rounds,
            c.connections,
            c.message_bytes,
            c.warmup.as_secs_f64(),
            c.measure.as_secs_f64()
        )?;
        if c.nops > 0 {
            writeln!(
                f,
                "NOP: {} runtime::nop() per run, from 1 task and from {} tasks, on CPU {SERVER_CPU}",
                c.nops, c.nop_tasks
            )?;
        }
        Ok(())
    }

    /// The comparison table and its notes.
    fn write_metrics(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metrics = self.metrics();
        writeln!(
            f,
            "{:<28} {:>6}  {:>32}  {:>32}  {:>11}",
            "metric", "unit", "uring median (min..max)", "epoll median (min..max)", "uring/epoll"
        )?;
        for m in &metrics {
            writeln!(
                f,
                "{:<28} {:>6}  {:>32}  {:>32}  {:>11.3}",
                m.name,
                m.unit,
                summary_cell(&m.uring),
                summary_cell(&m.epoll),
                m.ratio()
            )?;
        }
        let mut notes: Vec<&str> = metrics.iter().filter_map(|m| m.note).collect();
        notes.dedup();
        for n in notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }

    /// Every round, every driver.
    fn write_rounds(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "per round:")?;
        for (i, pair) in self.rounds.iter().enumerate() {
            for d in pair {
                let p = &d.ping_pong;
                write!(
                    f,
                    "  {:>2} {:<5} {:>9} req/s  server {:>5.2} us/req {:>3.0}% busy  client {:>5.2} \
                     us/req",
                    i + 1,
                    p.driver.to_string(),
                    human(p.requests_per_second()),
                    p.server_cpu_us_per_request(),
                    p.server_busy() * 100.0,
                    p.client_cpu_us_per_request(),
                )?;
                if let (Some(s), Some(b)) = (&d.nop_sequential, &d.nop_batched) {
                    write!(
                        f,
                        "  nop {:>6.1} ns (1 task) {:>6.1} ns ({} tasks)",
                        s.ns_per_op(),
                        b.ns_per_op(),
                        b.tasks
                    )?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

fn summary_cell(s: &Summary) -> String {
    format!("{} ({}..{})", human(s.median), human(s.min), human(s.max))
}

impl fmt::Display for RuntimeBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_setup(f)?;
        writeln!(f)?;
        self.write_metrics(f)?;
        writeln!(f)?;
        self.write_rounds(f)
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
