#!/usr/bin/env bash
# `make install` gives a usable library and the tools: headers, shared and static
# libraries, a pkg-config file and a CMake package, all relocatable to any prefix, and
# bt-proxy, bt-spans and fake-anthropic in PREFIX/bin. A consumer built each way must
# compile, link and run; the examples must build as strict C11 with the README's
# pkg-config lines alone, and run against the installed library and tools.
set -euo pipefail
work=$(mktemp -d "${BT_TEST_TMPDIR:-/tmp}/install.XXXXXX")
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$BT_BUILD_DIR" --prefix "$prefix" >/dev/null

for f in include/braintrust/braintrust.h lib/libbraintrust.a lib/pkgconfig/braintrust.pc \
         lib/cmake/braintrust/braintrustConfig.cmake bin/bt-proxy bin/bt-spans bin/fake-anthropic; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
ls "$prefix"/lib/libbraintrust.so* >/dev/null

# A sanitizer build of the library needs its consumers built the same way.
san=()
grep -q '^BT_SANITIZE:BOOL=ON' "$BT_BUILD_DIR/CMakeCache.txt" && san=(-fsanitize=address,undefined)

cat > "$work/consumer.c" <<'C'
#include <braintrust/braintrust.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    bt_tracer *t = NULL;
    if (bt_tracer_new(&t) != BT_OK)
        return 1;
    bt_sink *mem = NULL;
    bt_sink_memory_new(&mem);
    bt_tracer_add_sink(t, mem);
    bt_tracer_start(t);
    bt_span *s = bt_span_start(t, "installed", NULL);
    bt_span_set_string(s, "k", "v");
    bt_span_end(s, 0);
    int rc = bt_tracer_flush(t, 5000);
    char *line = bt_sink_memory_get(mem, 0);
    int ok = rc == BT_OK && line && strstr(line, "\"installed\"");
    printf("%s\n", ok ? "consumer ok" : "consumer FAILED");
    free(line);
    bt_tracer_free(t);
    return ok ? 0 : 1;
}
C

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
gcc "${san[@]}" "$work/consumer.c" $(pkg-config --cflags --libs braintrust) -o "$work/consumer-pc"
LD_LIBRARY_PATH="$prefix/lib" "$work/consumer-pc"

mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(braintrust REQUIRED)
add_executable(consumer-cmake $work/consumer.c)
target_compile_options(consumer-cmake PRIVATE ${san[*]:-})
target_link_options(consumer-cmake PRIVATE ${san[*]:-})
target_link_libraries(consumer-cmake braintrust::braintrust)
CM
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm/build" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$work/cm/build/consumer-cmake"

# The examples, with the README's commands (PKG_CONFIG_PATH and LD_LIBRARY_PATH point at
# the prefix, as the README says for a library installed outside the system paths).
ex="$BT_SOURCE_DIR/examples"
gcc -std=c11 -Wall -Wextra -Werror "${san[@]}" "$ex/curl_messages.c" \
    $(pkg-config --cflags --libs braintrust) -o "$work/curl_messages"
gcc -std=c11 -Wall -Wextra -Werror "${san[@]}" "$ex/trace_recording.c" \
    $(pkg-config --cflags --libs braintrust jansson) -o "$work/trace_recording"
export LD_LIBRARY_PATH="$prefix/lib"
"$work/trace_recording" --jsonl "$work/recording.jsonl" "$ex/recordings/messages_stream.json" 2>/dev/null
grep -q '"name":"anthropic.messages.stream"' "$work/recording.jsonl" \
    || { echo "FAIL: example_trace_recording produced no stream span"; exit 1; }

# The installed tools, offline: the C example talks to the installed fake-anthropic and
# traces into a store that the installed bt-spans reads.
"$prefix/bin/fake-anthropic" --listen 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on //p' "$work/fake.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: installed fake-anthropic did not start: $(cat "$work/fake.err")"; exit 1; }
ANTHROPIC_API_KEY=sk-ant-test ANTHROPIC_BASE_URL="$url" BT_STORE_PATH="$work/spans.db" \
    "$work/curl_messages" "hello from the install test" >"$work/reply.json" 2>"$work/reply.err" \
    || { echo "FAIL: example_curl_messages: $(cat "$work/reply.err")"; exit 1; }
grep -q 'hello from the install test' "$work/reply.json" || { echo "FAIL: no echoed reply"; exit 1; }
"$prefix/bin/bt-spans" --store "$work/spans.db" list | grep -q 'anthropic.messages.create' \
    || { echo "FAIL: installed bt-spans does not list the example's span"; exit 1; }
"$prefix/bin/bt-proxy" --help >/dev/null
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
fake_pid=

echo "install: pkg-config and CMake consumers, both examples and the installed tools work"
