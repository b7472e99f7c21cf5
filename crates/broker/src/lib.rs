//! The broker: topic partitions sharded across cores, speaking the Kafka protocol.
//!
//! ```text
//!             SO_REUSEPORT: the kernel spreads connections over the shards' listeners
//!   shard 0 ─ listener ─ connections ─┐        ┌─ engine (partitions owner()==0) + controller
//!   shard 1 ─ listener ─ connections ─┼─ mesh ─┼─ engine (partitions owner()==1)
//!   ...                               ┘        └─ ...
//! ```
//! A connection lives on the shard that accepted it. A request touching another shard's
//! partitions is forwarded through the mesh ([`shard::ShardMsg`]); Fetch data comes back as file
//! descriptors and ranges and is sent by the connection's shard ([`crate::transfer`]). Topic
//! creation and deletion are serialized by the controller shard, which persists the catalog and
//! then tells every shard.
//!
//! # Invariants
//! - Partition ownership is [`routing::owner`], a pure function; a partition is opened by exactly
//!   one shard's engine.
//! - Responses on a connection leave in request order (one request at a time per connection).
//! - Shutdown: stop accepting, let requests in progress finish (bounded by
//!   [`SHUTDOWN_GRACE_MS`]), flush every log, close.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// The layers below, under the names the broker's code uses for them (`crate::storage::...`).
use ringlog_protocol as protocol;
use ringlog_runtime as runtime;
use ringlog_storage as storage;

pub mod acl;
pub mod auth;
pub mod catalog;
pub mod cleaner;
pub mod config;
pub mod connection;
pub mod delay;
pub mod error;
pub mod group;
pub mod handlers;
pub mod limits;
pub mod metrics;
pub mod producer_ids;
pub mod quota;
pub mod reserve;
pub mod routing;
pub mod shard;
pub mod share;
pub mod state;
pub mod tls;
pub mod topic_config;
pub mod txn;
// The file->socket paths need `unsafe` (mmap, `IoBuf` over mappings); nothing else here does.
#[allow(unsafe_code)]
pub mod transfer;
pub mod view;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use config::BrokerConfig;

use crate::runtime::future::{select, Either};
use crate::runtime::mesh::{self, Mesh};
use crate::runtime::net::TcpListener;
use crate::runtime::sync::Notify;
use crate::runtime::{self as rt, IoKind, RuntimeConfig, ShardInfo};
use crate::storage::{Engine, EngineConfig, LogConfig};
use catalog::Catalog;
use shard::{ShardMsg, ShardState};

/// Inbox capacity per shard: requests from other shards queued before senders wait.
pub const INBOX_CAPACITY: usize = 4096;
/// How long shutdown waits for requests in progress before closing their connections.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;
/// How often each shard runs interval flushes and retention.
pub const HOUSEKEEPING_INTERVAL_MS: u64 = 1_000;

/// A running broker.
pub struct Broker {
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    addr: SocketAddr,
    listeners: Vec<Arc<auth::ListenerInfo>>,
    metrics_addr: Option<SocketAddr>,
    senders: Vec<mesh::Sender<Control>>,
}

/// Control messages from outside the runtime (shutdown).
enum Control {
    Shutdown,
}

impl Broker {
    /// Start a broker on background threads (one per shard); returns once it is listening.
    pub fn start(config: BrokerConfig) -> io::Result<Broker> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let nofile = rt::limits::raise_nofile_to_hard()?;
        let fd_plan = config
            .fd_plan(nofile)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let limits = Arc::new(
            limits::BrokerLimits::new(&config, &fd_plan)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        );
        let io_kind = effective_io(&config)?;
        if !config.transfer.runs_on(io_kind) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "transfer path {} needs the io_uring driver, but this broker runs {io_kind}",
                    config.transfer
                ),
            ));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("data dir {}: {e}", config.data_dir.display()),
            )
        })?;
        // Temporaries of an atomic replace interrupted by a crash (catalog, producer ids).
        crate::storage::fsutil::remove_stale_temps(&config.data_dir)?;
        if !reserve::SpaceReserve::new(&config.data_dir).ensure()? {
            tracing::warn!(
                "no room for the {} MiB space reserve in {}: a topic may not be deletable on a \
                 full disk until space is freed",
                reserve::SPACE_RESERVE_BYTES >> 20,
                config.data_dir.display()
            );
        }
        let catalog = Catalog::load(&config.data_dir)?;
        // Committed offsets: migrate an old offsets directory, re-route the logs if the shard
        // count changed (blocking, once).
        group::offsets_log::prepare(&config.data_dir, config.cores, io_kind)?;
        share::prepare(&config.data_dir, config.cores, io_kind, &catalog)?;
        txn::prepare(&config.data_dir, config.cores, io_kind)?;
        acl::store::prepare(&config.data_dir, config.cores, io_kind)?;
        quota::store::prepare(&config.data_dir, config.cores, io_kind)?;
        // Loaded here so a damaged file stops startup with a clear message; shard 0 reloads it.
        let producer_id_bound = producer_ids::ProducerIdAllocator::load(&config.data_dir)?.bound();
        // Loaded here so a damaged store stops startup with a clear message.
        let credentials = Arc::new(auth::CredentialStore::open(&config.data_dir)?);
        let cores = config.cores;
        // Every listener, bound once per shard (SO_REUSEPORT): each shard accepts on all.
        let specs = config.listeners();
        let advertised = config
            .advertised_listeners()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut per_shard: Vec<Vec<std::net::TcpListener>> =
            (0..cores).map(|_| Vec::new()).collect();
        let mut bound = Vec::with_capacity(specs.len());
        for spec in &specs {
            let first = TcpListener::bind_std_reuseport(spec.addr)
                .map_err(|e| io::Error::new(e.kind(), format!("listen on {spec}: {e}")))?;
            let at = first.local_addr()?;
            per_shard[0].push(first);
            for shard in per_shard.iter_mut().skip(1) {
                shard.push(TcpListener::bind_std_reuseport(at).map_err(|e| {
                    io::Error::new(e.kind(), format!("listen on {}://{at}: {e}", spec.protocol))
                })?);
            }
            bound.push(at);
        }
        let listener_infos: Vec<Arc<auth::ListenerInfo>> =
            auth::listener::listener_infos(&specs, &bound, &advertised)
                .into_iter()
                .map(Arc::new)
                .collect();
        if specs.iter().any(|l| l.protocol.uses_sasl()) && credentials.current().is_empty() {
            tracing::warn!(
                "a SASL listener is configured but no SCRAM credential exists: no client can \
                 log in there until one is added (`ringlog users set`, or \
                 AlterUserScramCredentials on another listener)"
            );
        }
        // TLS: certificates loaded and the kernel probed once, for every shard's TLS listeners.
        let tls = match config.tls.settings() {
            Ok(Some(settings)) if specs.iter().any(|l| l.protocol.uses_tls()) => {
                let ctx = tls::transport::TlsContext::start(&settings)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                tracing::info!(
                    "TLS listeners: {}; client certificates {}",
                    ctx.ktls,
                    settings.client_auth.name()
                );
                Some(Arc::new(ctx))
            }
            Ok(_) => None,
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        };
        let addr = bound[0];
        let listeners = per_shard;
        // Bound here so a taken port stops startup with a clear message; served by shard 0.
        let metrics_listener = config
            .metrics
            .map(|at| {
                // No SO_REUSEPORT: a second broker on the same port must fail, not share it.
                std::net::TcpListener::bind(at)
                    .map_err(|e| io::Error::new(e.kind(), format!("metrics endpoint on {at}: {e}")))
            })
            .transpose()?;
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let metrics_listener = std::sync::Mutex::new(metrics_listener);
        let mut config = config;
        if config.advertise.is_none() {
            config.advertise = Some(addr.to_string());
        }
        // Said once every shard is ready to accept (the start gate), so "serving" is true.
        let listening: Vec<String> = listener_infos
            .iter()
            .map(|l| {
                format!(
                    "{}://{} (advertised {}:{})",
                    l.protocol, l.local_addr, l.advertised_host, l.advertised_port
                )
            })
            .collect();
        let serving = format!(
            "ringlog serving: cores={cores} io={io_kind} transfer={} flush={:?} listen={addr} advertise={} listeners=[{}] sasl-mechanisms={} data={}",
            config.transfer,
            config.flush,
            config.advertise.as_deref().unwrap_or("?"),
            listening.join(", "),
            config
                .sasl_mechanisms
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(","),
            config.data_dir.display()
        );
        tracing::info!(
            "open files: limit {} = {} reserved + {} segment files + {} connections x {}",
            fd_plan.nofile,
            config::FD_RESERVE,
            fd_plan.segment_files,
            fd_plan.connections,
            config::FDS_PER_CONNECTION
        );
        let mesh: Mesh<ShardMsg> = Mesh::new(cores, INBOX_CAPACITY);
        let control: Mesh<Control> = Mesh::new(cores, 4);
        let control_senders = control.senders.clone();
        let stop_all = ShutdownHandle {
            senders: control.senders.clone(),
        };
        let config = Arc::new(config);
        let shard_listener_infos = listener_infos.clone();
        let thread = std::thread::Builder::new()
            .name("ringlog-broker".into())
            .spawn(move || {
                let rt_config = RuntimeConfig {
                    cores,
                    io: config.io,
                    ..RuntimeConfig::default()
                };
                let per_shard: Vec<_> = listeners
                    .into_iter()
                    .zip(mesh.receivers)
                    .zip(control.receivers)
                    .map(|((l, inbox), ctl)| std::sync::Mutex::new(Some((l, inbox, ctl))))
                    .collect();
                let peers = mesh.senders;
                let gate = Arc::new(StartGate {
                    serving,
                    ..StartGate::default()
                });
                let results = rt::run(&rt_config, |info| {
                    let (listener, inbox, ctl) = per_shard[info.id]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .expect("once");
                    let metrics_listener = if info.id == routing::CONTROLLER_SHARD {
                        metrics_listener
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .take()
                    } else {
                        None
                    };
                    let shard = shard_main(
                        info,
                        ShardStart {
                            config: config.clone(),
                            catalog: catalog.clone(),
                            listeners: listener
                                .into_iter()
                                .zip(shard_listener_infos.iter().cloned())
                                .collect(),
                            credentials: credentials.clone(),
                            tls: tls.clone(),
                            inbox,
                            control: ctl,
                            peers: peers.clone(),
                            producer_id_bound: producer_id_bound.clone(),
                            fd_plan,
                            limits: limits.clone(),
                            gate: gate.clone(),
                            metrics_listener,
                        },
                    );
                    let stop_all = &stop_all;
                    let gate = gate.clone();
                    async move {
                        let result = shard.await;
                        if let Err(e) = &result {
                            gate.failed
                                .store(true, std::sync::atomic::Ordering::Release);
                            // One shard cannot serve its partitions: stop the whole broker
                            // rather than run with a hole in the partition space.
                            tracing::error!("shard {} failed: {e}; stopping the broker", info.id);
                            stop_all.shutdown();
                        }
                        result
                    }
                })?;
                results
                    .into_iter()
                    .collect::<io::Result<Vec<()>>>()
                    .map(drop)
            })?;
        Ok(Broker {
            thread: Some(thread),
            addr,
            listeners: listener_infos,
            metrics_addr,
            senders: control_senders,
        })
    }

    /// The address the broker listens on (its first listener's).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every listener, bound, in configuration order.
    pub fn listeners(&self) -> &[Arc<auth::ListenerInfo>] {
        &self.listeners
    }

    /// The bound address of the listener of `protocol`, if there is one.
    pub fn listener_addr(&self, protocol: auth::SecurityProtocol) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.protocol == protocol)
            .map(|l| l.local_addr)
    }

    /// The address of the metrics endpoint (`--metrics`), if it serves one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Ask every shard to shut down (returns at once; [`Broker::join`] waits).
    pub fn shutdown(&self) {
        self.shutdown_handle().shutdown();
    }

    /// A handle that can stop the broker from another thread (a signal waiter).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            senders: self.senders.clone(),
        }
    }

    /// Wait for the broker to stop.
    pub fn join(mut self) -> io::Result<()> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("a broker shard panicked")),
            None => Ok(()),
        }
    }
}

/// Stops a running broker; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    senders: Vec<mesh::Sender<Control>>,
}

impl ShutdownHandle {
    /// Ask every shard to shut down (returns at once).
    pub fn shutdown(&self) {
        for s in &self.senders {
            for _ in 0..1000 {
                match s.try_send(Control::Shutdown) {
                    Ok(()) | Err(mesh::TrySendError::Closed(_)) => break,
                    Err(mesh::TrySendError::Full(_)) => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                }
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shutdown();
            let _ = t.join();
        }
    }
}

/// The driver shards will really run: io_uring falls back to epoll when it cannot be set up.
fn effective_io(config: &BrokerConfig) -> io::Result<IoKind> {
    Ok(match config.io {
        IoKind::Epoll => IoKind::Epoll,
        IoKind::Uring => {
            if rt::probe().setup_error.is_some() {
                IoKind::Epoll
            } else {
                IoKind::Uring
            }
        }
    })
}

/// What one shard starts with.
struct ShardStart {
    config: Arc<BrokerConfig>,
    catalog: Catalog,
    /// This shard's socket of every listener, with what connections accepted on it need.
    listeners: Vec<(std::net::TcpListener, Arc<auth::ListenerInfo>)>,
    /// The SCRAM credential store (shared).
    credentials: Arc<auth::CredentialStore>,
    /// The TLS context of SSL and SASL_SSL listeners (shared; `None` without one).
    tls: Option<Arc<tls::transport::TlsContext>>,
    inbox: mesh::Receiver<ShardMsg>,
    control: mesh::Receiver<Control>,
    peers: Vec<mesh::Sender<ShardMsg>>,
    producer_id_bound: Arc<std::sync::atomic::AtomicI64>,
    fd_plan: config::FdPlan,
    limits: Arc<limits::BrokerLimits>,
    gate: Arc<StartGate>,
    /// The metrics endpoint's listener (the controller shard's, with `--metrics`).
    metrics_listener: Option<std::net::TcpListener>,
}

/// Shards accept connections only once every shard has opened its partitions and set aside its
/// orphans: a client served by a ready shard must not see another shard's partitions (or its
/// strays) half-opened.
#[derive(Default)]
struct StartGate {
    ready: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
    /// The "ringlog serving" line, logged by the last shard to arrive.
    serving: String,
}

/// How often a ready shard looks whether the others are (start-up only).
const START_GATE_POLL_MS: u64 = 1;

impl StartGate {
    /// Arrive, and wait until all `count` shards arrived or one failed (the broker is then
    /// stopping) or shutdown began.
    async fn arrive_and_wait(&self, count: usize, shutting_down: &Cell<bool>) {
        use std::sync::atomic::Ordering;
        if self.ready.fetch_add(1, Ordering::AcqRel) + 1 == count {
            tracing::info!("{}", self.serving);
        }
        while self.ready.load(Ordering::Acquire) < count
            && !self.failed.load(Ordering::Acquire)
            && !shutting_down.get()
        {
            rt::time::sleep(Duration::from_millis(START_GATE_POLL_MS)).await;
        }
    }
}

async fn shard_main(info: ShardInfo, start: ShardStart) -> io::Result<()> {
    let ShardStart {
        config,
        catalog,
        listeners,
        credentials,
        tls,
        inbox,
        control,
        peers,
        producer_id_bound,
        fd_plan,
        limits,
        gate,
        metrics_listener,
    } = start;
    let (id, count) = (info.id, info.count);
    // The broker's defaults of Kafka's topic configs (`--topic-default`) shape every log; a
    // topic's own configs go over them (`ShardState::apply_topic_configs`).
    let log = LogConfig {
        flush: config.flush,
        segment_bytes: config.segment_bytes,
        retention_bytes: config.retention_bytes,
        retention_ms: config.retention_ms,
        validation: crate::storage::validate::ValidationConfig {
            timestamp_before_max_ms: config.message_timestamp_before_max_ms,
            timestamp_after_max_ms: config.message_timestamp_after_max_ms,
            ..Default::default()
        },
        ..LogConfig::default()
    };
    let log = config.topic_defaults.log_config(&log);
    let owns: crate::storage::OwnsFn =
        Arc::new(move |t: &str, p: i32| routing::owner(t, p, count) == id);
    // A partition directory the catalog does not name (a creation interrupted by a crash) is
    // moved aside, never opened; each shard sets aside the ones it would own.
    crate::storage::engine::set_aside_unclaimed(&config.data_dir, |t, p| {
        routing::owner(t, p, count) != id || catalog.get(t).is_some_and(|m| p < m.partitions)
    })
    .map_err(|e| io::Error::other(format!("shard {id}: setting aside orphans: {e}")))?;
    let engine = Engine::open(
        &config.data_dir,
        EngineConfig {
            log,
            owns: Some(owns),
            repair: false,
            open_segment_files_max: shard::segment_files_per_shard(&fd_plan, count),
        },
    )
    .await
    .map_err(|e| io::Error::other(format!("shard {id}: opening the data directory: {e}")))?;
    let producer_ids = if id == routing::CONTROLLER_SHARD {
        let alloc = producer_ids::ProducerIdAllocator::load(&config.data_dir)?;
        Some(alloc.share_bound(producer_id_bound.clone()))
    } else {
        None
    };
    let state = Rc::new(ShardState {
        id,
        count,
        config: config.clone(),
        engine,
        catalog: RefCell::new(catalog),
        peers,
        shutdown: Notify::new(),
        shutting_down: Cell::new(false),
        producer_ids,
        producer_id_bound,
        groups: group::Coordinator::open(&config.data_dir, id, count).await?,
        controller_busy: Cell::new(false),
        controller_idle: Notify::new(),
        space_reserve: reserve::SpaceReserve::new(&config.data_dir),
        fd_plan,
        fetch_files: limits.fetch_files.clone(),
        timer: std::cell::OnceCell::new(),
        shares: share::Shares::default(),
        views: view::Views::default(),
        txns: txn::Txns::default(),
        metrics: metrics::ShardMetrics::new(),
        credentials,
        acls: acl::ShardAcls::new(acl::AuthorizerConfig::of(&config)),
        quotas: quota::ShardQuotas::default(),
    });
    let catalog_now = state.catalog.borrow().clone();
    // Every topic's logs take its configs before anything is served.
    for (name, meta) in catalog_now.iter() {
        state.apply_topic_configs(name, &meta.configs);
    }
    state
        .shares
        .open(
            &config.data_dir,
            id,
            count,
            &config.share,
            config.share_state_flush(),
            &catalog_now,
        )
        .await?;
    state
        .txns
        .open(&config.data_dir, id, count, config.flush)
        .await?;
    let timer = delay::Timer::open(
        &config.data_dir,
        id,
        count,
        config.flush,
        config.delay_timer,
        &state.engine,
    )
    .await
    .map_err(|e| io::Error::other(format!("shard {id}: {e}")))?;
    let _ = state.timer.set(timer.clone());
    rt::spawn(timer.run(state.clone()));

    rt::spawn(group::run_timers(state.clone()));
    rt::spawn(share::run_sweeper(state.clone()));
    rt::spawn(share::dlq::run_writer(state.clone()));
    rt::spawn(view::run_upkeep(state.clone()));
    rt::spawn(txn::run_upkeep(state.clone()));
    rt::spawn(cleaner::run(state.clone()));
    let inbox_state = state.clone();
    let inbox_task = rt::spawn(async move {
        while let Some(msg) = inbox.recv().await {
            // Appends take their place in the log's order here, in arrival order.
            if let Some(msg) = inbox_state.start_remote_append(msg) {
                rt::spawn(inbox_state.clone().handle(msg));
            }
        }
    });
    let control_state = state.clone();
    rt::spawn(async move {
        if let Some(Control::Shutdown) = control.recv().await {
            control_state.shutting_down.set(true);
            control_state.shutdown.notify_waiters();
        }
    });
    // The controller hands every shard the stored ACLs before any shard accepts a connection.
    acl::store::open(&state).await?;
    // And the client quotas, likewise.
    quota::store::open(&state).await?;
    let house_state = state.clone();
    rt::spawn(async move {
        loop {
            if house_state.shutting_down.get() {
                return;
            }
            let tick = rt::time::sleep(Duration::from_millis(HOUSEKEEPING_INTERVAL_MS));
            if let Either::Right(()) = select(tick, house_state.shutdown.notified()).await {
                return;
            }
            if let Err(e) = house_state.engine.flush_due().await {
                tracing::error!("shard {}: interval flush failed: {e}", house_state.id);
            }
            if let Err(e) = house_state.engine.apply_retention().await {
                tracing::error!("shard {}: retention failed: {e}", house_state.id);
            }
            // Put the space reserve back after a full disk (blocking, but only once space is
            // back and only on the controller; a held reserve costs one stat).
            if house_state.id == routing::CONTROLLER_SHARD {
                if let Err(e) = house_state.space_reserve.ensure() {
                    tracing::error!("{e}");
                }
            }
        }
    });

    // Quota usage is handed between shards, so a user spread over them has one quota.
    if count > 1 {
        rt::spawn(quota::rate::share_usage(state.clone()));
    }
    let shard_limits = Rc::new(limits::ShardLimits::new(limits.clone(), &config));
    rt::spawn(shard_limits.clone().run_reaper(state.clone()));
    rt::spawn(shard_limits.clone().run_budget_pump(state.clone()));
    rt::spawn(metrics::reject_log::run_summary(state.clone()));
    if let Some(l) = metrics_listener {
        let l = TcpListener::from_std(l)?;
        rt::spawn(metrics::http::run(state.clone(), l, limits.clone()));
    }
    let listeners = listeners
        .into_iter()
        .map(|(l, info)| Ok((TcpListener::from_std(l)?, info)))
        .collect::<io::Result<Vec<_>>>()?;
    gate.arrive_and_wait(count, &state.shutting_down).await;
    let live = Rc::new(Cell::new(0usize));
    let drained = Rc::new(Notify::new());
    // One accept loop per listener; they share the connection count and the drain signal.
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|(listener, info)| {
            let tls = tls.clone().filter(|_| info.protocol.uses_tls());
            rt::spawn(accept_loop(AcceptLoop {
                listener,
                info,
                tls,
                state: state.clone(),
                limits: limits.clone(),
                shard_limits: shard_limits.clone(),
                live: live.clone(),
                drained: drained.clone(),
            }))
        })
        .collect();
    for task in accepting {
        task.await;
    }
    let grace = rt::time::timeout(Duration::from_millis(SHUTDOWN_GRACE_MS), async {
        while live.get() > 0 {
            drained.notified().await;
        }
    });
    if grace.await.is_err() {
        tracing::warn!(
            "shard {id}: {} connection(s) still busy after the grace period; closing them",
            live.get()
        );
    }
    if let Err(e) = state.engine.flush_all().await {
        tracing::error!("shard {id}: final flush failed: {e}");
    }
    inbox_task.cancel().await;
    Ok(())
}

/// One listener's accept loop on one shard.
struct AcceptLoop {
    listener: TcpListener,
    info: Arc<auth::ListenerInfo>,
    /// The TLS context on SSL and SASL_SSL listeners.
    tls: Option<Arc<tls::transport::TlsContext>>,
    state: Rc<ShardState>,
    limits: Arc<limits::BrokerLimits>,
    shard_limits: Rc<limits::ShardLimits>,
    /// Connections open on this shard (all listeners).
    live: Rc<Cell<usize>>,
    /// Fires when a connection of this shard closes.
    drained: Rc<Notify>,
}

/// Accepts connections on one listener until shutdown; each is served on this shard with its
/// listener's protocol.
async fn accept_loop(accept: AcceptLoop) {
    let AcceptLoop {
        listener,
        info,
        tls,
        state,
        limits,
        shard_limits,
        live,
        drained,
    } = accept;
    let id = state.id;
    let mut backoff = limits::AcceptBackoff::default();
    loop {
        if state.shutting_down.get() {
            break;
        }
        // max.connections: at the limit, leave new clients in the listen backlog until a
        // connection closes (Kafka's acceptor blocks the same way) instead of accepting and
        // closing them.
        if !limits.connections.slot_free() {
            let slot = select(
                drained.notified(),
                rt::time::sleep(Duration::from_millis(limits::ACCEPT_SLOT_POLL_MS)),
            );
            if let Either::Right(()) = select(slot, state.shutdown.notified()).await {
                break;
            }
            continue;
        }
        let (stream, peer) = match select(listener.accept(), state.shutdown.notified()).await {
            Either::Right(()) => break,
            Either::Left(Ok(accepted)) => {
                backoff.succeeded();
                tracing::debug!(peer = ?accepted.1, "shard {id}: connection accepted");
                accepted
            }
            Either::Left(Err(e)) if e.raw_os_error() == Some(libc::ECONNABORTED) => {
                continue; // the client gave up while in the backlog: its business
            }
            Either::Left(Err(e)) => {
                // EMFILE and friends: keep serving existing connections, pause accepting, and
                // say so once per interval for the whole broker, not once per failure.
                let pause = backoff.failed();
                if let Some(held_back) = limits.accept_failures.admit() {
                    tracing::warn!(
                        "shard {id}: accept failed: {e}; pausing accepts (up to {} ms between \
                         tries) while existing connections are served; {held_back} more \
                         failures in the last {} s not logged{}",
                        limits::ACCEPT_BACKOFF_MS_MAX,
                        limits::LIMIT_LOG_INTERVAL_MS / 1000,
                        if limits::is_resource_exhaustion(&e) {
                            " (out of file descriptors or memory: raise `ulimit -n`, lower \
                             max-connections)"
                        } else {
                            ""
                        }
                    );
                }
                if let Either::Right(()) =
                    select(rt::time::sleep(pause), state.shutdown.notified()).await
                {
                    break;
                }
                continue;
            }
        };
        // The slot, then the client's address limit (Kafka's order). Another shard may have
        // taken the last slot since the check above: hold the accepted socket until one frees.
        let permit = loop {
            match limits.connections.admit(peer) {
                limits::Admission::Admitted(permit) => break Some(permit),
                limits::Admission::OverPerIpLimit { max } => {
                    if let Some(held_back) = limits.per_ip_rejections.admit() {
                        tracing::warn!(
                            ?peer,
                            "connection refused: its address has the maximum of {max} \
                             connections (max-connections-per-ip); {held_back} more refusals in \
                             the last {} s not logged",
                            limits::LIMIT_LOG_INTERVAL_MS / 1000
                        );
                    }
                    break None;
                }
                limits::Admission::Full => {
                    let slot = select(
                        drained.notified(),
                        rt::time::sleep(Duration::from_millis(limits::ACCEPT_SLOT_POLL_MS)),
                    );
                    if let Either::Right(()) = select(slot, state.shutdown.notified()).await {
                        break None;
                    }
                }
            }
        };
        let Some(permit) = permit else {
            continue; // dropping the stream closes it
        };
        let conn = shard_limits.register(stream, peer, permit);
        live.set(live.get() + 1);
        let (state, shard_limits, live, drained, info, tls) = (
            state.clone(),
            shard_limits.clone(),
            live.clone(),
            drained.clone(),
            info.clone(),
            tls.clone(),
        );
        rt::spawn(async move {
            connection::serve(state, shard_limits, conn, info, tls).await;
            live.set(live.get() - 1);
            drained.notify_waiters();
        });
    }
}
