#!/usr/bin/env bash
# Prepare (once) the Java share-group driver the share tests run, under the cargo target directory.
# Usage: tests/java/setup.sh TARGET_DIR   -> prints the driver's classpath on stdout.
#        tests/java/setup.sh TARGET_DIR tools
#                                         -> prints the classpath of Kafka 4.4's command-line tools
#                                            (tests/kafka_tools.rs): TARGET_DIR/kafka-tools-deps/,
#                                            kafka-tools 4.4.0 and its runtime dependencies
#                                            (tools/pom.xml); nothing is compiled. Needs java 17+
#                                            (the tools' release) and mvn, not javac.
#
#   TARGET_DIR/java-deps/     kafka-clients 4.4.0 and its runtime dependencies (pom.xml), copied by
#                             Maven with its default settings; fetched again only when pom.xml changes
#   TARGET_DIR/java-classes/  the compiled tests/java/*.java; compiled again only when a source changes
#
# Exits with SKIP_EXIT (77, automake's "skipped") and a message on stderr when java, javac or mvn
# is missing or too old: the Rust side reports the tests as skipped, loudly, instead of failing.
set -euo pipefail
SKIP_EXIT=77
# kafka-clients 4.x is built for Java 11.
JAVA_RELEASE_MIN=11

# Kafka's tools (everything but the clients) are built for Java 17.
TOOLS_JAVA_RELEASE_MIN=17

here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: setup.sh TARGET_DIR [tools]}"
mode="${2:-driver}"

skip() { echo "tests/java/setup.sh: SKIP: $*" >&2; exit "$SKIP_EXIT"; }

# Copies the runtime dependencies of POM into DEPS with Maven, again only when POM differs from the
# copy saved after the last success.
fetch_deps() {
    local pom="$1" deps="$2"
    if ! cmp -s "$pom" "$deps/.pom.xml" 2>/dev/null; then
        rm -rf "$deps.tmp"
        if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
                -DincludeScope=runtime -DoutputDirectory="$deps.tmp" >&2; then
            echo "tests/java/setup.sh: mvn dependency:copy-dependencies failed ($pom)" >&2
            exit 1
        fi
        cp "$pom" "$deps.tmp/.pom.xml"
        rm -rf "$deps"
        mv "$deps.tmp" "$deps"
    fi
}

if [ "$mode" = tools ]; then
    for tool in java mvn; do
        command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (Kafka's tools need a Java $TOOLS_JAVA_RELEASE_MIN+ runtime and Maven to fetch them)"
    done
    # `java -version` prints e.g. 'openjdk version "17.0.15"' (or "1.8.0_..." for Java 8).
    feature=$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -1)
    [ -n "$feature" ] && [ "$feature" -ge "$TOOLS_JAVA_RELEASE_MIN" ] \
        || skip "java $(java -version 2>&1 | head -1) is older than $TOOLS_JAVA_RELEASE_MIN"
    mkdir -p "$target"
    exec 9>"$target/java-setup.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    fetch_deps "$here/tools/pom.xml" "$target/kafka-tools-deps"
    echo "$target/kafka-tools-deps/*"
    exit 0
fi
[ "$mode" = driver ] || { echo "tests/java/setup.sh: unknown mode '$mode'" >&2; exit 2; }
for tool in java javac mvn; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (the share-group tests need a JDK $JAVA_RELEASE_MIN+ and Maven)"
done
release=$(javac -version 2>&1 | sed -n 's/^javac \([0-9][0-9]*\).*/\1/p')
[ -n "$release" ] && [ "$release" -ge "$JAVA_RELEASE_MIN" ] \
    || skip "javac $(javac -version 2>&1) is older than $JAVA_RELEASE_MIN"

deps="$target/java-deps"
classes="$target/java-classes"
mkdir -p "$target"

# One setup at a time (test binaries may start it concurrently); flock is util-linux, optional.
exec 9>"$target/java-setup.lock"
command -v flock >/dev/null 2>&1 && flock 9

# Dependencies: again only when pom.xml differs from the copy saved after the last success.
fetch_deps "$here/pom.xml" "$deps"

# Sources: compiled again only when their digest (and the dependencies') changes.
digest=$(cat "$here"/*.java "$deps/.pom.xml" | cksum)
if [ "$(cat "$classes/.digest" 2>/dev/null)" != "$digest" ]; then
    rm -rf "$classes.tmp"
    mkdir -p "$classes.tmp"
    javac -encoding UTF-8 --release "$JAVA_RELEASE_MIN" -Xlint:all -Werror \
        -cp "$deps/*" -d "$classes.tmp" "$here"/*.java >&2
    echo "$digest" > "$classes.tmp/.digest"
    rm -rf "$classes"
    mv "$classes.tmp" "$classes"
fi

echo "$classes:$deps/*"
