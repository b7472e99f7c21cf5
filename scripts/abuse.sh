#!/usr/bin/env bash
# The abuse suite (issue #13): builds the release broker and examples/abuse.rs, then runs the
# attacks against a `ringlog serve` child under `ulimit -n 1024` while an idempotent acks=all
# producer writes a ledger through three SIGKILLs. Prints PASS/FAIL per attack with its figures;
# exits 1 if any failed (keeping the data directory and broker log for a look).
# Loopback only; about two minutes. Usage: scripts/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin ringlog --example abuse
echo "machine: $(nproc) cores, $(uname -sr)"
exec target/release/examples/abuse target/release/ringlog
