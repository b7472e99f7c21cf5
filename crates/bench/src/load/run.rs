//! Running a load: the generator thread and its runtime, the setup before the clock starts
//! (topic, fill, prebuilt batches, connections), one task per connection, and the coordinator
//! that measures the window; then every task is drained.
//!
//! # Invariants
//! - Everything a connection sends is built, and every connection is open, before the warm-up
//!   starts.
//! - The run returns only after every task has returned; the first task error fails the run.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::measure::{coordinate, Latency, LoadReport, Shared};
use super::payload::{stamp_epoch, Prebuilt, PREBUILT_BATCHES};
use super::tasks::{consume_task, e2e_consume_task, produce_task};
use super::topic_wait::{wait_until_visible, TOPIC_VISIBLE_WAIT_MS_MAX};
use super::{LoadConfig, LoadError, Mode, IN_FLIGHT_DEFAULT};
use ringlog_client::{api, ConnectOptions, Connection};
use ringlog_protocol::error::TOPIC_ALREADY_EXISTS;
use ringlog_protocol::messages::ProduceRequest;
use ringlog_protocol::ApiKey;
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::{JoinHandle, RuntimeConfig};

/// Run one load on a fresh generator thread; returns when the window has ended and every
/// connection has drained.
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let config = config.clone();
    std::thread::Builder::new()
        .name("bench-load".into())
        .spawn(move || {
            if let Some(cpu) = config.client_cpu {
                pin_to_cpu(cpu);
            }
            ringlog_runtime::block_on(&RuntimeConfig::single(config.client_io), run_async(config))?
        })?
        .join()
        .map_err(|_| LoadError("the load generator thread panicked".into()))?
}
async fn connect(config: &LoadConfig) -> Result<Connection, LoadError> {
    let tls = match &config.tls {
        None => None,
        Some((ca, name)) => Some((
            ringlog_client::tls_client_config(ca).map_err(LoadError)?,
            name.clone(),
        )),
    };
    let options = ConnectOptions {
        client_id: "ringlog-bench".into(),
        tls,
        ..ConnectOptions::default()
    };
    Ok(Connection::connect_with(config.broker, options).await?)
}

/// Create the topic (an existing one is kept), wait until every partition has a leader (Kafka
/// propagates a new topic asynchronously: see [`super::topic_wait`]), and return its partition
/// count.
async fn ensure_topic(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
) -> Result<i32, LoadError> {
    match conn.create_topics(&[(topic, partitions)]).await {
        Ok(()) => {}
        Err(e) if e.kafka_code() == Some(TOPIC_ALREADY_EXISTS) => {}
        Err(e) => return Err(e.into()),
    }
    let wait_max = Duration::from_millis(TOPIC_VISIBLE_WAIT_MS_MAX);
    wait_until_visible(conn, topic, wait_max).await
}

/// What the window needs, made before the clock starts.
struct Setup {
    /// Partitions of the topic.
    partitions: i32,
    /// The batches producers send.
    batch: Prebuilt,
    /// One connection per producer or page-cache consumer task.
    conns: Vec<Connection>,
    /// e2e consumers: (connection, partition, offset of the log end).
    consumers: Vec<(Connection, i32, i64)>,
    /// Consume: the first offset of each partition.
    starts: Vec<i64>,
}

/// Create the topic, build the batches, fill the topic (consume), open every connection, and
/// find where consumers start.
async fn prepare(config: &LoadConfig) -> Result<Setup, LoadError> {
    let mut admin = connect(config).await?;
    let partitions = ensure_topic(&mut admin, &config.topic, config.partitions).await?;
    let _ = stamp_epoch();

    // Everything the window sends is built here, before the clock starts.
    let batch = Prebuilt::new(config)?;
    if config.mode == Mode::Consume {
        fill(config, &mut admin, partitions, &batch).await?;
    }
    let mut conns = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        conns.push(connect(config).await?);
    }
    let all: Vec<i32> = (0..partitions).collect();
    // e2e consumers: one per partition, from the current end.
    let mut consumers = Vec::new();
    if config.mode == Mode::E2e {
        let ends = admin
            .list_offsets(&config.topic, &all, api::LATEST_TIMESTAMP)
            .await?;
        for (p, end) in ends.into_iter().enumerate() {
            consumers.push((connect(config).await?, p as i32, end));
        }
    }
    let starts = match config.mode {
        Mode::Consume => {
            admin
                .list_offsets(&config.topic, &all, api::EARLIEST_TIMESTAMP)
                .await?
        }
        _ => Vec::new(),
    };
    Ok(Setup {
        partitions,
        batch,
        conns,
        consumers,
        starts,
    })
}

async fn run_async(config: LoadConfig) -> Result<LoadReport, LoadError> {
    let setup = prepare(&config).await?;
    let shared = Rc::new(Shared::new());
    let start = Instant::now();
    let warm_end = start + config.warmup;
    let end = warm_end + config.duration;
    let config = Rc::new(config);
    let tasks = spawn_tasks(&config, setup, &shared, start);

    let window = coordinate(&config, &shared, warm_end, end).await;
    let mut first_error = None;
    for t in tasks {
        if let Err(e) = t.await {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let window = window?;
    let latency = Latency::of(&shared.hist.borrow());
    Ok(LoadReport {
        config: (*config).clone(),
        seconds: window.seconds,
        records: window.records,
        bytes: window.bytes,
        requests: window.requests,
        latency,
        client_cpu_s: window.client_cpu_s,
        broker_cpu_s: window.broker_cpu_s,
        broker_in_process: config.broker_pid == Some(std::process::id()),
    })
}

/// One task per connection (producers, or page-cache consumers), then the e2e consumers; paced
/// producers are staggered over one interval from `start`.
fn spawn_tasks(
    config: &Rc<LoadConfig>,
    setup: Setup,
    shared: &Rc<Shared>,
    start: Instant,
) -> Vec<JoinHandle<Result<(), LoadError>>> {
    let Setup {
        partitions,
        batch,
        conns,
        consumers,
        starts,
    } = setup;
    let batch = Rc::new(batch);
    let mut tasks = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let partition = (i as i32) % partitions;
        let (config, shared, batch) = (config.clone(), shared.clone(), batch.clone());
        tasks.push(match config.mode {
            Mode::Produce | Mode::E2e => ringlog_runtime::spawn(async move {
                let pace = config.batches_per_s_per_connection().map(|per_s| {
                    let interval = Duration::from_secs_f64(1.0 / per_s);
                    // Stagger the connections over one interval.
                    let offset = interval.mul_f64(i as f64 / config.connections as f64);
                    (start + offset, interval)
                });
                produce_task(conn, &config, partition, i, &batch, pace, &shared).await
            }),
            Mode::Consume => {
                let offset = starts[partition as usize];
                ringlog_runtime::spawn(async move {
                    consume_task(conn, &config, partition, offset, &shared).await
                })
            }
        });
    }
    for (conn, partition, offset) in consumers {
        let (config, shared) = (config.clone(), shared.clone());
        tasks.push(ringlog_runtime::spawn(async move {
            e2e_consume_task(conn, &config, partition, offset, &shared).await
        }));
    }
    tasks
}

/// Consume: make sure the topic holds `fill_bytes` (spread over its partitions) before the
/// measured run, producing the missing part as fast as it goes (not measured).
async fn fill(
    config: &LoadConfig,
    conn: &mut Connection,
    partitions: i32,
    batch: &Prebuilt,
) -> Result<(), LoadError> {
    let parts: Vec<i32> = (0..partitions).collect();
    let earliest = conn
        .list_offsets(&config.topic, &parts, api::EARLIEST_TIMESTAMP)
        .await?;
    let latest = conn
        .list_offsets(&config.topic, &parts, api::LATEST_TIMESTAMP)
        .await?;
    let have: i64 = earliest.iter().zip(&latest).map(|(a, b)| b - a).sum();
    let have_bytes = have.max(0) as u64 * config.record_bytes as u64;
    if have_bytes >= config.fill_bytes {
        return Ok(());
    }
    let batches = (config.fill_bytes - have_bytes).div_ceil(batch.value_bytes.max(1));
    let version = conn.version(ApiKey::Produce)?;
    let requests: Vec<Vec<ProduceRequest>> = parts
        .iter()
        .map(|&p| {
            batch
                .batches
                .iter()
                .map(|b| api::produce_request(&config.topic, p, b.clone(), 1))
                .collect()
        })
        .collect();
    let depth = IN_FLIGHT_DEFAULT as u64;
    let mut in_flight: VecDeque<i32> = VecDeque::new();
    for k in 0..batches + depth {
        if k < batches {
            let p = (k % partitions as u64) as usize;
            let r = &requests[p][(k / partitions as u64) as usize % PREBUILT_BATCHES];
            conn.send(r, version).await?;
            in_flight.push_back(p as i32);
        }
        if in_flight.len() as u64 >= depth || k >= batches {
            if let Some(p) = in_flight.pop_front() {
                let response = conn.recv::<ProduceRequest>().await?;
                api::produce_result(&response, &config.topic, p)?;
            }
        }
    }
    Ok(())
}
