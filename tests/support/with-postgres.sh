#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster (see services.sh): its URL is in
# BT_TEST_PG_URL; the cluster is stopped and removed afterwards, whatever the outcome.
# The command's exit code is returned.
#   with-postgres.sh PROGRAM [ARGS...]
set -uo pipefail
. "$(dirname "$0")/services.sh"
trap bt_services_stop EXIT
bt_pg_start || exit 1
export BT_TEST_PG_URL=$BT_PG_URL
"$@"
