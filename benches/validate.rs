//! Criterion benchmark of append validation (`storage::validate`), one question: how many GB/s
//! of record bytes does a shard check before it appends a Produce batch, uncompressed and for
//! each codec, and what part of that is the codec itself?
//!
//! For each codec (none, gzip, snappy, lz4, zstd), batch size (16 KiB and 1 MiB of uncompressed
//! records: a Java producer's default `batch.size` and Kafka's default `message.max.bytes`) and
//! record size (100 B and 1 KiB values of text-like bytes), three rows, all counted in
//! uncompressed record bytes per second:
//! - `validate`: `Validator::validate_buffer` as a client's append (header, CRC32C, decompression
//!   into the reused scratch buffer, every record);
//! - `baseline_header_crc`: `batch::validate_buffer` alone (what appends checked before);
//! - `baseline_decompress`: the codec's bounded decompression into a reused buffer, alone.
//!
//! The kernel and CPU are printed first, and after the run the medians as GB/s with the time
//! ratios `validate / baseline_header_crc` and `validate / baseline_decompress` (how many times
//! longer the whole check takes than each part; from criterion's
//! `target/criterion/.../new/estimates.json`).
//!
//! Run: `cargo bench --bench validate -- --warm-up-time 1 --measurement-time 3` (about 3 minutes).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlog::bench::Machine;
use ringlog::runtime::rng::Rng;
use ringlog::storage::batch;
use ringlog::storage::records::{encode_batch, BatchMeta, Compression, Record};
use ringlog::storage::validate::{AppendOrigin, ValidationConfig, Validator};

/// Uncompressed record bytes per batch: 16 KiB (Java's default `batch.size`) and 1 MiB (Kafka's
/// default `message.max.bytes`).
const BATCH_BYTES: [usize; 2] = [16 << 10, 1 << 20];
/// Value bytes per record.
const RECORD_BYTES: [usize; 2] = [100, 1024];
/// The broker clock the validator sees.
const NOW_MS: i64 = 1_700_000_000_000;

/// Text-like values (words, numbers and field names, as JSON payloads are): they compress about
/// as real payloads do, neither trivially nor not at all.
fn value(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 8] = [
        b"{\"id\":",
        b"\"user\":\"",
        b"ringlog",
        b"kafka",
        b"\",\"ts\":",
        b"\"event\":\"click\"",
        b"},",
        b" ",
    ];
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(WORDS[rng.below(WORDS.len())]);
        let digits = rng.next_u64() % 100_000;
        out.extend_from_slice(digits.to_string().as_bytes());
    }
    out.truncate(n);
    out
}

/// One batch of `batch_bytes` uncompressed record bytes (about) of `record_bytes` values, and
/// the size of its plain records region.
fn batch_of(codec: Compression, batch_bytes: usize, record_bytes: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng::new(0x1234_5678);
    let mut records = Vec::new();
    let mut plain = 0usize;
    while plain < batch_bytes {
        let r = Record {
            offset_delta: records.len() as i32,
            timestamp_delta: records.len() as i64,
            key: Some(format!("key-{}", records.len() % 97).into_bytes().into()),
            value: Some(value(&mut rng, record_bytes).into()),
            headers: Vec::new(),
        };
        let mut one = Vec::new();
        r.encode(&mut one).expect("encodes");
        plain += one.len();
        records.push(r);
    }
    let meta = BatchMeta {
        base_timestamp: NOW_MS,
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    encode_batch(&meta, &records, codec, &mut out).expect("batch encodes");
    (out, plain)
}

fn label(batch_bytes: usize, record_bytes: usize) -> String {
    let batch = if batch_bytes >= 1 << 20 {
        format!("{}MiB", batch_bytes >> 20)
    } else {
        format!("{}KiB", batch_bytes >> 10)
    };
    format!("{batch}_of_{record_bytes}B")
}

fn validate(c: &mut Criterion) {
    let config = ValidationConfig::default();
    for codec in Compression::ALL {
        let mut g = c.benchmark_group(format!("validate_{codec}"));
        g.sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for batch_bytes in BATCH_BYTES {
            for record_bytes in RECORD_BYTES {
                let (b, plain) = batch_of(codec, batch_bytes, record_bytes);
                let id = label(batch_bytes, record_bytes);
                eprintln!(
                    "validate bench: {codec} {id}: {plain} record bytes in a {} byte batch \
                     (ratio {:.2})",
                    b.len(),
                    plain as f64 / b.len() as f64
                );
                g.throughput(Throughput::Bytes(plain as u64));
                let mut v = Validator::new();
                g.bench_function(BenchmarkId::new("validate", &id), |bench| {
                    bench.iter(|| {
                        v.validate_buffer(
                            black_box(&b),
                            u64::MAX,
                            AppendOrigin::Client,
                            &config,
                            NOW_MS,
                        )
                        .expect("valid")
                    })
                });
                g.bench_function(BenchmarkId::new("baseline_header_crc", &id), |bench| {
                    bench.iter(|| batch::validate_buffer(black_box(&b), u64::MAX).expect("valid"))
                });
                if codec != Compression::None {
                    let mut out = Vec::new();
                    let region = &b[batch::RECORDS_AT..];
                    g.bench_function(BenchmarkId::new("baseline_decompress", &id), |bench| {
                        bench.iter(|| {
                            out.clear();
                            codec
                                .decompress(
                                    black_box(region),
                                    &mut out,
                                    config.decompressed_bytes_max,
                                )
                                .expect("decompresses");
                        })
                    });
                }
            }
        }
        g.finish();
    }
}

/// Median time per iteration (ns) of one benchmark, from criterion's output directory.
fn median_ns(group: &str, function: &str, id: &str) -> Option<f64> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(group)
        .join(function)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":123.4,...},...}
    let median = &text[text.find("\"median\"")?..];
    let at = median.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let end = median[at..].find([',', '}'])? + at;
    median[at..end].trim().parse().ok()
}

/// Prints the medians as GB/s of record bytes and the ratios against both baselines.
fn summary(_c: &mut Criterion) {
    eprintln!("\nvalidate bench: medians, GB/s of uncompressed record bytes");
    eprintln!(
        "{:<8} {:<16} {:>10} {:>12} {:>12} {:>9} {:>9}",
        "codec", "batch", "validate", "header+crc", "decompress", "/hdr", "/decomp"
    );
    for codec in Compression::ALL {
        let group = format!("validate_{codec}");
        for batch_bytes in BATCH_BYTES {
            for record_bytes in RECORD_BYTES {
                let id = label(batch_bytes, record_bytes);
                let (_, plain) = batch_of(codec, batch_bytes, record_bytes);
                let gbps = |ns: f64| plain as f64 / ns;
                let Some(v) = median_ns(&group, "validate", &id) else {
                    continue;
                };
                let h = median_ns(&group, "baseline_header_crc", &id);
                let d = median_ns(&group, "baseline_decompress", &id);
                let show =
                    |x: Option<f64>| x.map_or("-".to_string(), |ns| format!("{:.2}", gbps(ns)));
                let ratio =
                    |x: Option<f64>| x.map_or("-".to_string(), |ns| format!("{:.2}x", v / ns));
                eprintln!(
                    "{:<8} {:<16} {:>10.2} {:>12} {:>12} {:>9} {:>9}",
                    codec.name(),
                    id,
                    gbps(v),
                    show(h),
                    show(d),
                    ratio(h),
                    ratio(d)
                );
            }
        }
    }
}

fn machine(_c: &mut Criterion) {
    let m = Machine::current();
    eprintln!(
        "validate bench: kernel {}, CPU {} x{}; one thread, no I/O",
        m.kernel, m.cpu_model, m.cpus
    );
}

criterion_group!(benches, machine, validate, summary);
criterion_main!(benches);
