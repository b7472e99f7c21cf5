//! Kafka 4.4's own command-line tools against a live ringlog (issue #19): the main classes
//! behind `kafka-topics.sh`, `kafka-configs.sh`, `kafka-consumer-groups.sh`,
//! `kafka-get-offsets.sh`, `kafka-delete-records.sh`, `kafka-log-dirs.sh` and (issue #20)
//! `kafka-acls.sh` and `kafka-configs.sh` for client quotas (all in the
//! `kafka-tools` 4.4.0 jar, fetched from Maven Central by `tests/java/setup.sh TARGET_DIR tools`),
//! run as `java -cp <classpath> <MainClass> --bootstrap-server 127.0.0.1:<port> ...` with a
//! deadline, against an in-process broker (two shards, io_uring) over a temporary directory.
//! Records are produced and a group consumes them with the console producer and consumer of the
//! same jar. Every test is skipped, loudly, where Java 17+ or Maven is missing.
//!
//! The expected output is what the same commands printed against Apache Kafka 4.4 (a single
//! KRaft node from `../shared/peers/kafka.sh`), matched line by line where ringlog answers the
//! same, with these differences, all on purpose:
//! - the broker id is 0 (Kafka's node there was 1): `Leader: 0`, `Dynamic configs for broker 0`,
//!   `"broker":0` in kafka-log-dirs' JSON;
//! - topic ids, the log directory and segment sizes are the broker's own;
//! - `kafka-topics --describe` lists after `Configs:` the configs DescribeConfigs reports as
//!   set on the topic; Kafka also listed `min.insync.replicas=1` from its server.properties, a
//!   static broker config ringlog does not have, so the test checks the configs it set and no
//!   more;
//! - `kafka-configs --describe --entity-type brokers` lists no default broker configs (Kafka
//!   listed the `min.insync.replicas=1` its peer script sets dynamically);
//! - `kafka-consumer-groups --describe` right after `--delete-offsets` of every offset of an empty
//!   group: Kafka still has the group (until its offsets cleanup) and prints no rows; ringlog
//!   has forgotten it and the tool prints `Error: Consumer group 'G' does not exist.`;
//! - `kafka-get-offsets --time max-timestamp` is checked for its shape only (partitions with
//!   records, an offset below their end): which record has the largest timestamp depends on the
//!   console producer's clock; tests/broker_wire/admin_apis.rs checks the exact answer.
//!
//! What Kafka 4.4 printed, per command (ids and sizes aside):
//! - `TopicCommand --create --topic T --partitions 3 --config retention.ms=3600000 --config
//!   cleanup.policy=delete`: `Created topic T.`; `--list`: one name per line;
//! - `--describe --topic T`: `Topic: T\tTopicId: <id>\tPartitionCount: 3\tReplicationFactor:
//!   1\tConfigs: <k=v,...>`, then per partition `\tTopic: T\tPartition: <p>\tLeader: <id>\t
//!   Replicas: <id>\tIsr: <id>\tElr: \tLastKnownElr: ` (Admin.describeTopics, which asks
//!   DescribeTopicPartitions);
//! - `--alter --topic T --partitions 4`: nothing on stdout, exit 0; describe then says
//!   `PartitionCount: 4`;
//! - `ConfigCommand --describe --entity-type topics --entity-name T`: `Dynamic configs for topic T
//!   are:` and per set config `  k=v sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:k=v, ...}`;
//!   `--alter --add-config k=v,k2=v2` and `--delete-config k`: `Completed updating config for
//!   topic T.`; `--describe --entity-type brokers --entity-name <id>`: `Dynamic configs for
//!   broker <id> are:`; without `--entity-name` also `Default configs for brokers in the cluster
//!   are:`;
//! - `ConsumerGroupCommand --list`: the group; `--describe --group G`: a blank line, the header
//!   `GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID`
//!   (padded columns) and a row per partition, `-` for the member columns of an empty group;
//!   `--reset-offsets --to-earliest --execute` / `--to-offset N --execute`: the header `GROUP
//!   TOPIC PARTITION NEW-OFFSET` and a row per partition; `--delete-offsets --topic T`:
//!   `Request succeeded for deleting offsets from group G.` and `TOPIC PARTITION STATUS` rows
//!   `Successful`; a describe after it prints no rows;
//! - `GetOffsetShell --topic T [--time earliest|-1|<ms>] [--partitions 0,1]`: `T:<p>:<offset>`
//!   lines, by time only for partitions with a record at or after the time (none for a future
//!   time);
//! - `DeleteRecordsCommand --offset-json-file F`: `Executing records delete operation`, `Records
//!   delete operation completed:` and per partition `partition: T-<p>\tlow_watermark: <offset>`
//!   (in any order);
//! - `LogDirsCommand --describe [--topic-list T]`: `Querying brokers for log directories
//!   information`, `Received log directory information from brokers <id>` and one JSON line
//!   `{"brokers":[{"broker":<id>,"logDirs":[{"partitions":[{"partition":"T-0","size":<bytes>,
//!   "offsetLag":0,"isFuture":false},...],"error":null,"logDir":"<dir>"}]}],"version":1}`.
//!
//! Each test runs every check of its commands and then fails listing all that did not hold, with
//! the tool's output. The tests run one at a time (a JVM per command is heavy next to the
//! broker). Loopback only; every tool run is killed at its deadline.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use ringlog::broker::Broker;
use ringlog::runtime::IoKind;
use support::{run_bounded, start_broker};

/// One tool run is killed after this long (a JVM start takes about a second; the Admin client's
/// own timeouts are longer, so a hang shows as a kill, with its output).
const TOOL_RUN_LIMIT: Duration = Duration::from_secs(60);
/// The console consumer gives up after this long without a record.
const CONSUME_IDLE_MS: u64 = 20_000;
/// Shards of the broker under test: two, so requests cross shards.
const CORES: usize = 2;
/// The broker id ringlog reports (Kafka's node in the reference run was 1).
const BROKER_ID: i32 = 0;
/// The JVM flags of every tool run: a small heap and quick start (C1 only), warnings only from
/// the tools' logging (slf4j-simple writes to stderr).
const JVM_FLAGS: &[&str] = &[
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
];

const TOPIC_COMMAND: &str = "org.apache.kafka.tools.TopicCommand";
const CONFIG_COMMAND: &str = "org.apache.kafka.tools.ConfigCommand";
const CONSUMER_GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const GET_OFFSET_SHELL: &str = "org.apache.kafka.tools.GetOffsetShell";
const DELETE_RECORDS_COMMAND: &str = "org.apache.kafka.tools.DeleteRecordsCommand";
const LOG_DIRS_COMMAND: &str = "org.apache.kafka.tools.LogDirsCommand";
const CONSOLE_PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";

/// One test at a time: see the module doc.
static SERIAL: Mutex<()> = Mutex::new(());

/// A broker under test and the tools pointed at it; collects every failed check.
struct Tools {
    cp: &'static str,
    broker: Option<Broker>,
    bootstrap: String,
    dir: tempfile::TempDir,
    failures: Vec<String>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// What one tool run printed.
struct Ran {
    what: String,
    out: Output,
}

impl Ran {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn lines(&self) -> Vec<String> {
        self.stdout().lines().map(str::to_string).collect()
    }
    /// The command, exit status and both outputs, for a failure message.
    fn shown(&self) -> String {
        format!(
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.out.status,
            self.stdout(),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
}

impl Tools {
    /// The broker and the tools, or `None` when the tools cannot run here (skipped, loudly).
    fn start(test: &str) -> Option<Tools> {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Some(cp) = support::kafka_tools_classpath("Kafka's command-line tools") else {
            eprintln!("SKIPPED: {test}");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = start_broker(IoKind::Uring, dir.path(), CORES, |_| {});
        let bootstrap = broker.local_addr().to_string();
        Some(Tools {
            cp,
            broker: Some(broker),
            bootstrap,
            dir,
            failures: Vec::new(),
            _serial: serial,
        })
    }

    /// Runs `class` with `--bootstrap-server` and `args`, `stdin` (if any) as its input.
    fn run(&self, class: &str, args: &[&str], stdin: Option<&str>) -> Ran {
        let mut cmd = Command::new("java");
        cmd.args(JVM_FLAGS)
            .arg("-cp")
            .arg(self.cp)
            .arg(class)
            .arg("--bootstrap-server")
            .arg(&self.bootstrap)
            .args(args);
        match stdin {
            Some(input) => {
                let path = self.dir.path().join("tool-input.txt");
                std::fs::write(&path, input).expect("write the tool's input");
                cmd.stdin(std::fs::File::open(&path).expect("open the tool's input"));
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let short = class.rsplit('.').next().unwrap_or(class);
        Ran {
            what: format!("{short} {}", args.join(" ")),
            out: run_bounded(&mut cmd, TOOL_RUN_LIMIT),
        }
    }

    /// Runs the tool and checks it exited 0; returns what it printed.
    fn ok(&mut self, class: &str, args: &[&str]) -> Ran {
        let ran = self.run(class, args, None);
        if !ran.out.status.success() {
            self.fail(&ran, "exit status");
        }
        ran
    }

    fn fail(&mut self, ran: &Ran, why: &str) {
        self.failures.push(format!("{why}\n{}", ran.shown()));
    }

    /// Records a failure unless `holds`.
    fn check(&mut self, ran: &Ran, holds: bool, why: &str) {
        if !holds {
            self.fail(ran, why);
        }
    }

    /// Checks stdout is exactly `want` (lines, trailing spaces kept).
    fn check_lines(&mut self, ran: &Ran, want: &[String]) {
        let got = ran.lines();
        if got != want {
            self.fail(ran, &format!("stdout lines differ: want {want:#?}"));
        }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Produces `lines` of `key:value` to `topic` with the console producer (idempotent, acks
    /// all, keyed: Kafka's default partitioner spreads the keys).
    fn produce(&mut self, topic: &str, lines: &[&str]) {
        let input = lines.join("\n") + "\n";
        let ran = self.run(
            CONSOLE_PRODUCER,
            &[
                "--topic",
                topic,
                "--reader-property",
                "parse.key=true",
                "--reader-property",
                "key.separator=:",
            ],
            Some(&input),
        );
        self.check(&ran, ran.out.status.success(), "console producer");
    }

    /// Consumes `n` records of `topic` from the beginning as a member of `group` (the classic
    /// protocol, offsets committed when it closes); returns the values it printed.
    fn consume(&mut self, topic: &str, group: &str, n: usize) -> Vec<String> {
        let n_arg = n.to_string();
        let idle = CONSUME_IDLE_MS.to_string();
        let ran = self.run(
            CONSOLE_CONSUMER,
            &[
                "--topic",
                topic,
                "--group",
                group,
                "--from-beginning",
                "--max-messages",
                &n_arg,
                "--timeout-ms",
                &idle,
            ],
            None,
        );
        self.check(&ran, ran.out.status.success(), "console consumer");
        ran.lines()
    }

    /// `GetOffsetShell --topic T` with `args`: (partition, offset) per line.
    fn offsets(&mut self, topic: &str, args: &[&str]) -> (Ran, Vec<(i32, i64)>) {
        let mut all = vec!["--topic", topic];
        all.extend_from_slice(args);
        let ran = self.ok(GET_OFFSET_SHELL, &all);
        let mut parsed = Vec::new();
        for line in ran.lines() {
            let mut f = line.rsplitn(3, ':');
            let (Some(o), Some(p), Some(t)) = (f.next(), f.next(), f.next()) else {
                self.fail(&ran, &format!("not topic:partition:offset: {line:?}"));
                continue;
            };
            match (t == topic, p.parse(), o.parse()) {
                (true, Ok(p), Ok(o)) => parsed.push((p, o)),
                _ => self.fail(&ran, &format!("not {topic}:partition:offset: {line:?}")),
            }
        }
        (ran, parsed)
    }

    /// Fails the test listing every check that did not hold; stops the broker.
    fn finish(mut self, test: &str) {
        if let Some(b) = self.broker.take() {
            b.shutdown();
            let _ = b.join();
        }
        assert!(
            self.failures.is_empty(),
            "{test}: {} check(s) failed:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// The line `kafka-topics --describe` prints for one partition of this broker.
fn partition_line(topic: &str, p: i32) -> String {
    format!(
        "\tTopic: {topic}\tPartition: {p}\tLeader: {BROKER_ID}\tReplicas: {BROKER_ID}\tIsr: {BROKER_ID}\tElr: \tLastKnownElr: "
    )
}

/// The `Configs:` field of a `kafka-topics --describe` topic line, as `k=v` words.
fn described_configs(topic_line: &str) -> Vec<String> {
    topic_line
        .split('\t')
        .find_map(|f| f.strip_prefix("Configs: "))
        .map(|c| {
            c.split(',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whitespace-separated columns of the table lines (after the header starting with `first`).
fn table(ran: &Ran, first: &str) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let lines = ran.lines();
    let at = lines.iter().position(|l| l.starts_with(first))?;
    let header = lines[at].split_whitespace().map(str::to_string).collect();
    let rows = lines[at + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    Some((header, rows))
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn topics_create_list_describe() {
    let test = "kafka-topics --create/--list/--describe";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let topic = "tools-topic";
    let ran = t.ok(
        TOPIC_COMMAND,
        &[
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
            "--config",
            "cleanup.policy=delete",
        ],
    );
    t.check_lines(&ran, &[format!("Created topic {topic}.")]);
    let ran = t.ok(
        TOPIC_COMMAND,
        &["--create", "--topic", "tools-other", "--partitions", "1"],
    );
    t.check_lines(&ran, &["Created topic tools-other.".to_string()]);
    // In name order.
    let ran = t.ok(TOPIC_COMMAND, &["--list"]);
    t.check_lines(&ran, &["tools-other".to_string(), topic.to_string()]);

    let ran = t.ok(TOPIC_COMMAND, &["--describe", "--topic", topic]);
    let lines = ran.lines();
    let head = lines.first().cloned().unwrap_or_default();
    let fields: Vec<&str> = head.split('\t').collect();
    let id_ok = fields
        .get(1)
        .and_then(|f| f.strip_prefix("TopicId: "))
        .is_some_and(|id| id.len() == 22);
    t.check(
        &ran,
        fields.first() == Some(&format!("Topic: {topic}").as_str())
            && id_ok
            && fields.get(2) == Some(&"PartitionCount: 3")
            && fields.get(3) == Some(&"ReplicationFactor: 1"),
        "topic line: Topic, TopicId (22 characters of base64), PartitionCount 3, ReplicationFactor 1",
    );
    // The Kafka configs given at creation are listed (DescribeConfigs reports them as topic
    // configs).
    let configs = described_configs(&head);
    for want in ["retention.ms=3600000", "cleanup.policy=delete"] {
        t.check(
            &ran,
            configs.iter().any(|c| c == want),
            &format!("Configs: has {want}"),
        );
    }
    let partitions: Vec<String> = (0..3).map(|p| partition_line(topic, p)).collect();
    t.check(
        &ran,
        lines.get(1..) == Some(&partitions[..]),
        &format!("partition lines {partitions:#?}"),
    );
    // All topics: both, each with its partitions.
    let ran = t.ok(TOPIC_COMMAND, &["--describe"]);
    let other = partition_line("tools-other", 0);
    t.check(
        &ran,
        ran.lines()
            .iter()
            .filter(|l| l.starts_with("Topic: "))
            .count()
            == 2
            && ran.lines().contains(&other)
            && partitions.iter().all(|p| ran.lines().contains(p)),
        "describe of all topics",
    );
    t.finish(test);
}

#[test]
fn topics_alter_partitions() {
    // CreatePartitions (key 37).
    let test = "kafka-topics --alter --partitions";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let topic = "tools-grow";
    t.ok(
        TOPIC_COMMAND,
        &["--create", "--topic", topic, "--partitions", "2"],
    );
    let ran = t.ok(
        TOPIC_COMMAND,
        &["--alter", "--topic", topic, "--partitions", "4"],
    );
    t.check_lines(&ran, &[]);
    let ran = t.ok(TOPIC_COMMAND, &["--describe", "--topic", topic]);
    let lines = ran.lines();
    t.check(
        &ran,
        lines
            .first()
            .is_some_and(|l| l.contains("\tPartitionCount: 4\t"))
            && lines.get(1..)
                == Some(&(0..4).map(|p| partition_line(topic, p)).collect::<Vec<_>>()[..]),
        "PartitionCount: 4 and four partition lines",
    );
    t.finish(test);
}

/// The `  k=v sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:k=v` start of a described topic
/// config line.
fn topic_config_line(key: &str, value: &str) -> String {
    format!("  {key}={value} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{key}={value}")
}

#[test]
fn configs_of_topics_and_brokers() {
    let test = "kafka-configs topics and brokers";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let topic = "tools-configs";
    t.ok(
        TOPIC_COMMAND,
        &[
            "--create",
            "--topic",
            topic,
            "--partitions",
            "1",
            "--config",
            "retention.ms=3600000",
        ],
    );
    let describe = [
        "--describe",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
    ];
    let header = format!("Dynamic configs for topic {topic} are:");

    // Brokers: no dynamic configs, no cluster defaults.
    // DescribeConfigs for BROKER (the broker's settings are read-only: no dynamic ones).
    let id = BROKER_ID.to_string();
    let ran = t.ok(
        CONFIG_COMMAND,
        &[
            "--describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            &id,
        ],
    );
    t.check_lines(
        &ran,
        &[format!("Dynamic configs for broker {BROKER_ID} are:")],
    );
    let ran = t.ok(CONFIG_COMMAND, &["--describe", "--entity-type", "brokers"]);
    t.check_lines(
        &ran,
        &[
            format!("Dynamic configs for broker {BROKER_ID} are:"),
            "Default configs for brokers in the cluster are:".to_string(),
        ],
    );

    // The topic's Kafka configs are listed, and --alter goes through IncrementalAlterConfigs
    // for TOPIC.
    let ran = t.ok(CONFIG_COMMAND, &describe);
    let lines = ran.lines();
    t.check(
        &ran,
        lines.first() == Some(&header)
            && lines
                .iter()
                .any(|l| l.starts_with(&topic_config_line("retention.ms", "3600000"))),
        "describe lists retention.ms=3600000 set at creation",
    );
    let ran = t.ok(
        CONFIG_COMMAND,
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            "--add-config",
            "retention.ms=7200000,max.message.bytes=2000000",
        ],
    );
    t.check_lines(
        &ran,
        &[format!("Completed updating config for topic {topic}.")],
    );
    let ran = t.ok(CONFIG_COMMAND, &describe);
    let lines = ran.lines();
    t.check(
        &ran,
        lines
            .iter()
            .any(|l| l.starts_with(&topic_config_line("retention.ms", "7200000")))
            && lines
                .iter()
                .any(|l| l.starts_with(&topic_config_line("max.message.bytes", "2000000"))),
        "describe after --add-config",
    );
    let ran = t.ok(
        CONFIG_COMMAND,
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            "--delete-config",
            "max.message.bytes",
        ],
    );
    t.check_lines(
        &ran,
        &[format!("Completed updating config for topic {topic}.")],
    );
    let ran = t.ok(CONFIG_COMMAND, &describe);
    let lines = ran.lines();
    t.check(
        &ran,
        lines
            .iter()
            .any(|l| l.starts_with(&topic_config_line("retention.ms", "7200000")))
            && !lines.iter().any(|l| l.starts_with("  max.message.bytes=")),
        "describe after --delete-config",
    );
    t.finish(test);
}

/// Six keyed records over three partitions, consumed by a group; then the group is listed,
/// described, reset and its offsets deleted; get-offsets, delete-records and log-dirs on the
/// same data.
#[test]
fn groups_offsets_delete_records_and_log_dirs() {
    let test = "kafka-consumer-groups, kafka-get-offsets, kafka-delete-records, kafka-log-dirs";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let (topic, group) = ("tools-data", "tools-group");
    t.ok(
        TOPIC_COMMAND,
        &["--create", "--topic", topic, "--partitions", "3"],
    );
    let before_ms = support_now_ms() - 60_000;
    let records = ["k1:v1", "k2:v2", "k3:v3", "k4:v4", "k5:v5", "k6:v6"];
    t.produce(topic, &records);

    // Latest (the default) and earliest, per partition.
    let (ran, latest) = t.offsets(topic, &[]);
    let total: i64 = latest.iter().map(|(_, o)| o).sum();
    t.check(
        &ran,
        latest.iter().map(|(p, _)| *p).collect::<Vec<_>>() == vec![0, 1, 2] && total == 6,
        "latest offsets of partitions 0..3 sum to the 6 records",
    );
    let (ran, by_minus_one) = t.offsets(topic, &["--time", "-1", "--partitions", "0,1"]);
    t.check(
        &ran,
        by_minus_one == latest[..2.min(latest.len())],
        "--time -1 --partitions 0,1",
    );
    let (ran, earliest) = t.offsets(topic, &["--time", "earliest"]);
    t.check(
        &ran,
        earliest == vec![(0, 0), (1, 0), (2, 0)],
        "earliest offsets are 0",
    );
    // By time: partitions with a record after a minute ago answer their first offset; a time
    // to come answers nothing.
    let since = before_ms.to_string();
    let (ran, by_time) = t.offsets(topic, &["--time", &since]);
    let with_data: Vec<(i32, i64)> = latest
        .iter()
        .filter(|(_, o)| *o > 0)
        .map(|(p, _)| (*p, 0))
        .collect();
    t.check(
        &ran,
        by_time == with_data,
        &format!("by time: {with_data:?}"),
    );
    let future = (support_now_ms() + 3_600_000).to_string();
    let (ran, by_future) = t.offsets(topic, &["--time", &future]);
    t.check(&ran, by_future.is_empty(), "a time to come answers nothing");
    // The record with the largest timestamp: in every partition with records, below its end.
    let (ran, by_max) = t.offsets(topic, &["--time", "max-timestamp"]);
    let shape_ok = by_max.len() == with_data.len()
        && by_max.iter().all(|(p, o)| {
            latest
                .iter()
                .any(|(lp, end)| lp == p && (0..*end).contains(o))
        });
    t.check(
        &ran,
        shape_ok,
        "max-timestamp: a record of each partition with data",
    );

    // A group consumes everything and commits.
    let mut values = t.consume(topic, group, records.len());
    values.sort();
    let mut want: Vec<String> = records
        .iter()
        .map(|r| r.split(':').nth(1).unwrap_or_default().to_string())
        .collect();
    want.sort();
    if values != want {
        t.failures
            .push(format!("consumed {values:?}, produced values {want:?}"));
    }
    let ran = t.ok(CONSUMER_GROUP_COMMAND, &["--list"]);
    t.check_lines(&ran, &[group.to_string()]);
    let describe = ["--describe", "--group", group];
    let ran = t.ok(CONSUMER_GROUP_COMMAND, &describe);
    let header =
        words("GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID");
    let committed: Vec<Vec<String>> = latest
        .iter()
        .map(|(p, o)| words(&format!("{group} {topic} {p} {o} {o} 0 - - -")))
        .collect();
    t.check(
        &ran,
        table(&ran, "GROUP") == Some((header.clone(), committed)),
        "describe: every partition committed at its end, lag 0, no members",
    );

    // Reset to the earliest, then one partition with records to offset 1.
    let ran = t.ok(
        CONSUMER_GROUP_COMMAND,
        &[
            "--reset-offsets",
            "--group",
            group,
            "--topic",
            topic,
            "--to-earliest",
            "--execute",
        ],
    );
    let reset_header = words("GROUP TOPIC PARTITION NEW-OFFSET");
    let to_zero: Vec<Vec<String>> = (0..3)
        .map(|p| words(&format!("{group} {topic} {p} 0")))
        .collect();
    t.check(
        &ran,
        table(&ran, "GROUP") == Some((reset_header.clone(), to_zero)),
        "reset --to-earliest: NEW-OFFSET 0 everywhere",
    );
    let (busy, busy_end) = latest
        .iter()
        .copied()
        .max_by_key(|(_, o)| *o)
        .unwrap_or((0, 0));
    let one = format!("{topic}:{busy}");
    let ran = t.ok(
        CONSUMER_GROUP_COMMAND,
        &[
            "--reset-offsets",
            "--group",
            group,
            "--topic",
            &one,
            "--to-offset",
            "1",
            "--execute",
        ],
    );
    t.check(
        &ran,
        table(&ran, "GROUP")
            == Some((
                reset_header,
                vec![words(&format!("{group} {topic} {busy} 1"))],
            )),
        "reset --to-offset 1 of one partition",
    );
    let ran = t.ok(CONSUMER_GROUP_COMMAND, &describe);
    let after_reset: Vec<Vec<String>> = latest
        .iter()
        .map(|(p, o)| {
            let at = if *p == busy { 1 } else { 0 };
            words(&format!("{group} {topic} {p} {at} {o} {} - - -", o - at))
        })
        .collect();
    t.check(
        &ran,
        busy_end >= 1 && table(&ran, "GROUP") == Some((header, after_reset)),
        "describe after the resets",
    );
    let ran = t.ok(
        CONSUMER_GROUP_COMMAND,
        &["--delete-offsets", "--group", group, "--topic", topic],
    );
    let lines = ran.lines();
    let deleted: Vec<Vec<String>> = (0..3)
        .map(|p| words(&format!("{topic} {p} Successful")))
        .collect();
    t.check(
        &ran,
        lines.first().map(String::as_str)
            == Some(&*format!(
                "Request succeeded for deleting offsets from group {group}."
            ))
            && table(&ran, "TOPIC") == Some((words("TOPIC PARTITION STATUS"), deleted)),
        "delete-offsets: every partition Successful",
    );
    // Kafka keeps the empty group without offsets until its offsets cleanup runs and prints
    // no rows; ringlog forgets it at once (the group code's choice), so the tool says it does
    // not exist. Either way: no offsets of the topic.
    let ran = t.ok(CONSUMER_GROUP_COMMAND, &describe);
    let gone = format!("Error: Consumer group '{group}' does not exist.");
    t.check(
        &ran,
        ran.lines()
            .iter()
            .all(|l| l.trim().is_empty() || *l == gone),
        "describe after delete-offsets prints no rows",
    );

    // Delete records: the busy partition to 1, another to its end (-1).
    let (other, other_end) = latest
        .iter()
        .copied()
        .find(|(p, _)| *p != busy)
        .unwrap_or((0, 0));
    let json = format!(
        r#"{{"partitions": [{{"topic": "{topic}", "partition": {busy}, "offset": 1}}, {{"topic": "{topic}", "partition": {other}, "offset": -1}}], "version": 1}}"#
    );
    let json_path = t.data_dir().join("delete-records.json");
    std::fs::write(&json_path, json).expect("write the offsets file");
    let json_arg = json_path.display().to_string();
    let ran = t.ok(DELETE_RECORDS_COMMAND, &["--offset-json-file", &json_arg]);
    let mut lines = ran.lines();
    let tail = lines.split_off(2.min(lines.len()));
    let mut want_tail = vec![
        format!("partition: {topic}-{busy}\tlow_watermark: 1"),
        format!("partition: {topic}-{other}\tlow_watermark: {other_end}"),
    ];
    want_tail.sort();
    let mut got_tail = tail;
    got_tail.sort();
    t.check(
        &ran,
        lines
            == vec![
                "Executing records delete operation".to_string(),
                "Records delete operation completed:".to_string(),
            ]
            && got_tail == want_tail,
        &format!("delete-records: {want_tail:?}"),
    );
    let (ran, earliest) = t.offsets(topic, &["--time", "earliest"]);
    let want_earliest: Vec<(i32, i64)> = (0..3)
        .map(|p| {
            let start = if p == busy {
                1
            } else if p == other {
                other_end
            } else {
                0
            };
            (p, start)
        })
        .collect();
    t.check(
        &ran,
        earliest == want_earliest,
        &format!("earliest after delete-records: {want_earliest:?}"),
    );

    // Log dirs: the data directory, each partition with its size.
    let ran = t.ok(LOG_DIRS_COMMAND, &["--describe", "--topic-list", topic]);
    let lines = ran.lines();
    let json = lines.get(2).cloned().unwrap_or_default();
    let log_dir = std::path::absolute(t.data_dir()).unwrap_or_default();
    let mut holds = lines.first().map(String::as_str)
        == Some("Querying brokers for log directories information")
        && lines.get(1).map(String::as_str)
            == Some(&*format!(
                "Received log directory information from brokers {BROKER_ID}"
            ))
        && json.starts_with(&format!(
            r#"{{"brokers":[{{"broker":{BROKER_ID},"logDirs":[{{"partitions":["#
        ))
        && json.ends_with(&format!(
            r#"],"error":null,"logDir":"{}"}}]}}],"version":1}}"#,
            log_dir.display()
        ));
    for (p, end) in &latest {
        let entry = format!(r#"{{"partition":"{topic}-{p}","size":"#);
        let size = json
            .split(&entry)
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|s| s.parse::<u64>().ok());
        holds &= size.is_some_and(|s| (s > 0) == (*end > 0))
            && json.contains(&format!(
                r#"{{"partition":"{topic}-{p}","size":{},"offsetLag":0,"isFuture":false}}"#,
                size.unwrap_or_default()
            ));
    }
    t.check(
        &ran,
        holds,
        "log-dirs: the data dir, each partition sized, lag 0",
    );
    let ran = t.ok(LOG_DIRS_COMMAND, &["--describe"]);
    t.check(
        &ran,
        ran.lines().get(2).is_some_and(|all| {
            (0..3).all(|p| all.contains(&format!(r#""partition":"{topic}-{p}""#)))
        }),
        "log-dirs of everything lists the topic's partitions",
    );
    t.finish(test);
}

/// Wall-clock milliseconds since the epoch.
fn support_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A tool whose API ringlog does not serve (ApiVersions does not list it) fails at once with
/// Kafka's UnsupportedVersionException and a message naming the API, never a hang:
/// `kafka-reassign-partitions --list` (ListPartitionReassignments) and `kafka-leader-election`
/// (ElectLeaders), which a single broker has no use for.
#[test]
fn unserved_apis_fail_fast_with_a_message() {
    let test = "tools whose API is not served";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            &["--list"],
            "The node does not support LIST_PARTITION_REASSIGNMENTS",
        ),
        (
            "org.apache.kafka.tools.LeaderElectionCommand",
            &["--election-type", "preferred", "--all-topic-partitions"],
            "The node does not support ELECT_LEADERS",
        ),
    ];
    for (class, args, words) in cases {
        let started = std::time::Instant::now();
        let ran = t.run(class, args, None);
        let all = format!(
            "{}{}",
            ran.stdout(),
            String::from_utf8_lossy(&ran.out.stderr)
        );
        t.check(&ran, !ran.out.status.success(), "a failure exit status");
        t.check(&ran, all.contains(words), words);
        // Well inside the tool's own timeouts (a refused API is answered by ApiVersions).
        t.check(
            &ran,
            started.elapsed() < Duration::from_secs(30),
            "it fails within 30 s",
        );
    }
    t.finish(test);
}

const ACL_COMMAND: &str = "org.apache.kafka.tools.AclCommand";

/// The lines `kafka-acls.sh` prints for one resource and its ACLs (`what` is `Adding ACLs for`
/// or `Current ACLs for`), as Kafka 4.4 printed them.
fn acl_block(what: &str, resource: &str, acls: &[&str]) -> Vec<String> {
    let colon = if what.starts_with("Adding") {
        ": "
    } else {
        ":"
    };
    let mut out = vec![format!(
        "{what} resource `ResourcePattern({resource})`{colon}"
    )];
    out.extend(acls.iter().map(|a| format!("\t({a})")));
    out
}

/// The lines of stdout, sorted, trimmed of the tool's leading space on the first ACL line and
/// without blank lines: Kafka's tool prints resources and ACLs in its hash sets' order.
fn acl_lines(ran: &Ran) -> Vec<String> {
    let mut lines: Vec<String> = ran
        .lines()
        .into_iter()
        .map(|l| l.strip_prefix(' ').map(str::to_string).unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines.sort();
    lines
}

/// `kafka-acls.sh --add/--list/--remove` (issue #20), checked against what Kafka 4.4 with its
/// StandardAuthorizer printed for the same commands (as sets of lines: the tool's order is its
/// hash sets'): `--add` prints `Adding ACLs for resource ...` and the ACLs; `--list` prints
/// `Current ACLs for resource ...` per resource (with `--resource-pattern-type match`, the
/// literal, wildcard and prefixed ACLs that apply to the topic); `--remove --force` prints
/// nothing; the ACLs survive a restart of the broker.
#[test]
fn acls_add_list_remove() {
    let test = "kafka-acls";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let alice_read = "principal=User:alice, host=*, operation=READ, permissionType=ALLOW";
    let alice_write = "principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW";
    let bob_all = "principal=User:bob, host=*, operation=ALL, permissionType=ALLOW";
    let deny_describe = "principal=User:*, host=*, operation=DESCRIBE, permissionType=DENY";
    let orders = "resourceType=TOPIC, name=orders, patternType=LITERAL";
    let ord = "resourceType=TOPIC, name=ord, patternType=PREFIXED";
    let star = "resourceType=TOPIC, name=*, patternType=LITERAL";
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    let ran = t.ok(
        ACL_COMMAND,
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Read",
            "--operation",
            "Write",
            "--topic",
            "orders",
        ],
    );
    let want = sorted(acl_block(
        "Adding ACLs for",
        orders,
        &[alice_write, alice_read],
    ));
    t.check(&ran, acl_lines(&ran) == want, "--add prints the ACLs added");
    let ran = t.ok(
        ACL_COMMAND,
        &[
            "--add",
            "--allow-principal",
            "User:bob",
            "--operation",
            "All",
            "--topic",
            "ord",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let want = sorted(acl_block("Adding ACLs for", ord, &[bob_all]));
    t.check(&ran, acl_lines(&ran) == want, "--add of a prefix");
    t.ok(
        ACL_COMMAND,
        &[
            "--add",
            "--deny-principal",
            "User:*",
            "--operation",
            "Describe",
            "--topic",
            "*",
        ],
    );

    let all_three = |with_write: bool| {
        let mut v = acl_block("Current ACLs for", star, &[deny_describe]);
        let alice: Vec<&str> = if with_write {
            vec![alice_read, alice_write]
        } else {
            vec![alice_read]
        };
        v.extend(acl_block("Current ACLs for", orders, &alice));
        v.extend(acl_block("Current ACLs for", ord, &[bob_all]));
        sorted(v)
    };
    let ran = t.ok(
        ACL_COMMAND,
        &[
            "--list",
            "--topic",
            "orders",
            "--resource-pattern-type",
            "match",
        ],
    );
    t.check(&ran, acl_lines(&ran) == all_three(true), "--list match");
    let ran = t.ok(
        ACL_COMMAND,
        &[
            "--remove",
            "--force",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            "orders",
        ],
    );
    t.check(&ran, ran.lines().is_empty(), "--remove prints nothing");
    let ran = t.ok(ACL_COMMAND, &["--list"]);
    t.check(
        &ran,
        acl_lines(&ran) == all_three(false),
        "--list after --remove",
    );

    // Across a restart.
    if let Some(b) = t.broker.take() {
        b.shutdown();
        let _ = b.join();
    }
    let broker = start_broker(IoKind::Uring, t.data_dir(), CORES, |_| {});
    t.bootstrap = broker.local_addr().to_string();
    t.broker = Some(broker);
    let ran = t.ok(ACL_COMMAND, &["--list"]);
    t.check(
        &ran,
        acl_lines(&ran) == all_three(false),
        "--list after a restart",
    );

    for args in [
        &[
            "--remove",
            "--force",
            "--topic",
            "ord",
            "--resource-pattern-type",
            "prefixed",
        ][..],
        &["--remove", "--force", "--topic", "*"][..],
        &["--remove", "--force", "--topic", "orders"][..],
    ] {
        let ran = t.ok(ACL_COMMAND, args);
        t.check(&ran, ran.lines().is_empty(), "--remove prints nothing");
    }
    let ran = t.ok(ACL_COMMAND, &["--list"]);
    t.check(
        &ran,
        ran.lines().is_empty(),
        "--list of no ACLs prints nothing",
    );
    t.finish(test);
}

/// `kafka-configs.sh` for client quotas (issue #20), each command's output as Kafka 4.4 printed
/// it: `--alter --add-config producer_byte_rate=...` for a user, the default user, a user and
/// client id, and a client id (`Completed updating config for user alice.`, `Completed updating
/// default config for users in the cluster.`, `Completed updating config for client app.`);
/// `--describe` lines `Quota configs for user-principal 'alice' are k=v, ...` (values as Java
/// doubles, keys in name order), `the default user-principal`, `client-id 'app'`, and
/// `user-principal 'alice', client-id 'app'`; `--delete-config`; Kafka's refusal of a
/// fractional byte rate; the quotas across a restart.
#[test]
fn configs_client_quotas() {
    let test = "kafka-configs client quotas";
    let Some(mut t) = Tools::start(test) else {
        return;
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let lines = |v: &[&str]| sorted(v.iter().map(|s| s.to_string()).collect());
    for (args, said) in [
        (
            &[
                "--alter",
                "--add-config",
                "producer_byte_rate=1048576,consumer_byte_rate=2048",
                "--entity-type",
                "users",
                "--entity-name",
                "alice",
            ][..],
            "Completed updating config for user alice.",
        ),
        (
            &[
                "--alter",
                "--add-config",
                "producer_byte_rate=100",
                "--entity-type",
                "users",
                "--entity-default",
            ][..],
            "Completed updating default config for users in the cluster.",
        ),
        (
            &[
                "--alter",
                "--add-config",
                "request_percentage=25.5",
                "--entity-type",
                "users",
                "--entity-name",
                "alice",
                "--entity-type",
                "clients",
                "--entity-name",
                "app",
            ][..],
            "Completed updating config for user alice.",
        ),
        (
            &[
                "--alter",
                "--add-config",
                "consumer_byte_rate=300",
                "--entity-type",
                "clients",
                "--entity-name",
                "app",
            ][..],
            "Completed updating config for client app.",
        ),
    ] {
        let ran = t.ok(CONFIG_COMMAND, args);
        t.check_lines(&ran, &[said.to_string()]);
    }
    let alice = "Quota configs for user-principal 'alice' are consumer_byte_rate=2048.0, \
                 producer_byte_rate=1048576.0";
    let default_user = "Quota configs for the default user-principal are producer_byte_rate=100.0";
    let app = "Quota configs for client-id 'app' are consumer_byte_rate=300.0";
    let alice_app =
        "Quota configs for user-principal 'alice', client-id 'app' are request_percentage=25.5";
    let describes: [(&[&str], Vec<String>); 7] = [
        (&["--entity-type", "users"], lines(&[default_user, alice])),
        (
            &["--entity-type", "users", "--entity-name", "alice"],
            lines(&[alice]),
        ),
        (
            &["--entity-type", "users", "--entity-default"],
            lines(&[default_user]),
        ),
        (&["--entity-type", "clients"], lines(&[app])),
        (
            &["--entity-type", "clients", "--entity-name", "app"],
            lines(&[app]),
        ),
        (
            &[
                "--entity-type",
                "users",
                "--entity-name",
                "alice",
                "--entity-type",
                "clients",
            ],
            lines(&[alice_app]),
        ),
        (
            &["--entity-type", "users", "--entity-type", "clients"],
            lines(&[alice_app]),
        ),
    ];
    let check_describes = |t: &mut Tools, when: &str| {
        for (args, want) in &describes {
            let mut all = vec!["--describe"];
            all.extend_from_slice(args);
            let ran = t.ok(CONFIG_COMMAND, &all);
            let got = sorted(ran.lines());
            t.check(&ran, got == *want, &format!("{when}: want {want:#?}"));
        }
    };
    check_describes(&mut t, "describe");

    // Across a restart.
    if let Some(b) = t.broker.take() {
        b.shutdown();
        let _ = b.join();
    }
    let broker = start_broker(IoKind::Uring, t.data_dir(), CORES, |_| {});
    t.bootstrap = broker.local_addr().to_string();
    t.broker = Some(broker);
    check_describes(&mut t, "after a restart");

    let ran = t.ok(
        CONFIG_COMMAND,
        &[
            "--alter",
            "--delete-config",
            "consumer_byte_rate",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    t.check_lines(
        &ran,
        &["Completed updating config for user alice.".to_string()],
    );
    let ran = t.ok(
        CONFIG_COMMAND,
        &[
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    t.check_lines(
        &ran,
        &["Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0".to_string()],
    );
    let ran = t.run(
        CONFIG_COMMAND,
        &[
            "--alter",
            "--add-config",
            "producer_byte_rate=1.5",
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ],
        None,
    );
    t.check(
        &ran,
        !ran.out.status.success(),
        "a fractional byte rate fails",
    );
    let said = format!(
        "{}{}",
        ran.stdout(),
        String::from_utf8_lossy(&ran.out.stderr)
    );
    t.check(
        &ran,
        said.contains("InvalidRequestException: producer_byte_rate cannot be a fractional value."),
        "Kafka's message for a fractional byte rate",
    );
    t.finish(test);
}
