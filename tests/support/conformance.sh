# Conformance tests in shell: source this file, then call bt_require_fixtures first.
# Without ../shared/fixtures (a plain clone) it prints one line and exits 77, which
# ctest reports as skipped (see tests/support/conformance.h).
bt_require_fixtures() {
  local dir="${BT_SHARED_DIR:-}/fixtures"
  if [ -z "${BT_SHARED_DIR:-}" ] || [ ! -d "$dir" ]; then
    echo "SKIPPED $(basename "$0"): conformance test, needs the recorded traffic in $dir" \
         "(the shared/ folder beside the checkout; CI has it)"
    exit 77
  fi
}

# For a test that has a few conformance steps among others: bt_fixtures_present says
# whether to run them; bt_skipped_without_fixtures prints, once, the line saying they
# were skipped.
bt_fixtures_present() {
  [ -n "${BT_SHARED_DIR:-}" ] && [ -d "$BT_SHARED_DIR/fixtures" ]
}
BT_SKIP_NOTED=
bt_skipped_without_fixtures() {
  [ -n "$BT_SKIP_NOTED" ] && return 0
  BT_SKIP_NOTED=1
  echo "SKIPPED in $(basename "$0"): $1: conformance steps, need the recorded traffic in" \
       "${BT_SHARED_DIR:-../shared}/fixtures (the shared/ folder beside the checkout; CI has it)"
}
