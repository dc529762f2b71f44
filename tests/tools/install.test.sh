#!/usr/bin/env bash
# `make install` gives a usable library: headers, shared and static libraries, a
# pkg-config file and a CMake package, all relocatable to any prefix. A consumer built
# each way must compile, link and run.
set -euo pipefail
work=$(mktemp -d "${BT_TEST_TMPDIR:-/tmp}/install.XXXXXX")
trap 'rm -rf "$work"' EXIT
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
echo "install: pkg-config and CMake consumers built, linked and ran"
