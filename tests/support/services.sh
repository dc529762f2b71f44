# Throwaway services for tests, sourced by bash test scripts: a PostgreSQL cluster and
# an nginx, each in a temporary folder of its own, listening on a free loopback port,
# run as an unprivileged user (tests run as root in CI: then the `postgres` account of
# Debian's package, else `nobody`), and always stopped: a watchdog stops them when the
# test's shell dies without running its traps (a test killed on timeout).
#
#   . "$BT_SOURCE_DIR/tests/support/services.sh"
#   bt_pg_start                      # BT_PG_URL, BT_PG_PORT, BT_PG_DIR
#   bt_pg_sql "SELECT 1"             # psql on the cluster's database
#   bt_pg_stop
#   bt_nginx_start site.conf         # the http{} contents; @LISTEN@ is replaced by
#                                    # 127.0.0.1:PORT; sets BT_NGINX_PORT, BT_NGINX_DIR
#   bt_nginx_stop
#   bt_services_stop                 # both (for an EXIT trap)

bt_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bt_service_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un; elif getent passwd postgres >/dev/null; then echo postgres; else echo nobody; fi
}

# The command prefix that runs a program as the service user (empty when not root):
# setpriv execs, so the pid of a backgrounded "${BT_AS_USER[@]}" PROGRAM & is the program's.
bt_as_user_prefix() {
  BT_AS_USER=()
  if [ "$(id -u)" -eq 0 ]; then
    local u; u=$(bt_service_user)
    BT_AS_USER=(setpriv "--reuid=$u" "--regid=$(id -g "$u")" --clear-groups --reset-env --)
  fi
}

bt_as_service_user() {
  bt_as_user_prefix
  "${BT_AS_USER[@]}" "$@"
}

bt_pg_bindir() {
  local d
  if command -v pg_config >/dev/null && d=$(pg_config --bindir 2>/dev/null) && [ -x "$d/initdb" ]; then
    echo "$d"; return
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  echo "services.sh: PostgreSQL server programs not found (scripts/install-deps installs postgresql)" >&2
  return 1
}

# A folder the service user owns, reachable from /tmp (the build tree may not be).
bt_service_dir() {
  local d; d=$(mktemp -d "${TMPDIR:-/tmp}/bt-$1.XXXXXX")
  chmod 755 "$d"
  [ "$(id -u)" -eq 0 ] && chown "$(bt_service_user):" "$d"
  echo "$d"
}

# Stops the services of shell $1 once it is gone (its traps did not run).
bt_watchdog() {
  local parent=$1 pid_file=$2 how=$3
  ( trap '' HUP INT TERM
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    if [ -f "$pid_file" ]; then
      local pid; pid=$(head -1 "$pid_file" 2>/dev/null)
      [ -n "$pid" ] && kill "-$how" "$pid" 2>/dev/null
    fi ) >/dev/null 2>&1 </dev/null &
  disown $! 2>/dev/null || true
}

bt_pg_start() {
  local bindir; bindir=$(bt_pg_bindir) || return 1
  BT_PG_BIN=$bindir
  BT_PG_DIR=$(bt_service_dir pg)
  bt_as_service_user "$bindir/initdb" -D "$BT_PG_DIR/data" -U bt -A trust -E UTF8 --locale=C \
    --no-sync --no-instructions >"$BT_PG_DIR/initdb.log" 2>&1 ||
    { echo "services.sh: initdb failed:" >&2; cat "$BT_PG_DIR/initdb.log" >&2; return 1; }
  local try
  for try in 1 2 3 4 5; do
    BT_PG_PORT=$(bt_free_port)
    if bt_as_service_user "$bindir/pg_ctl" -D "$BT_PG_DIR/data" -l "$BT_PG_DIR/server.log" -w -t 60 \
         -o "-p $BT_PG_PORT -k $BT_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=50" \
         start >"$BT_PG_DIR/pg_ctl.log" 2>&1; then
      bt_watchdog $$ "$BT_PG_DIR/data/postmaster.pid" INT
      BT_PG_URL="postgresql://bt@127.0.0.1:$BT_PG_PORT/postgres"
      export BT_PG_URL BT_PG_PORT BT_PG_DIR BT_PG_BIN
      return 0
    fi
  done
  echo "services.sh: PostgreSQL did not start:" >&2
  cat "$BT_PG_DIR/server.log" "$BT_PG_DIR/pg_ctl.log" >&2 2>/dev/null
  return 1
}

# psql on the cluster (database postgres unless PGDATABASE says otherwise).
bt_pg_sql() {
  "$BT_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p "$BT_PG_PORT" -U bt \
    -d "${PGDATABASE:-postgres}" -c "$1"
}

# Stops the server (fast: tests keep nothing) and keeps the folder for bt_pg_restart.
bt_pg_halt() {
  [ -n "${BT_PG_DIR:-}" ] && [ -d "$BT_PG_DIR/data" ] || return 0
  bt_as_service_user "$BT_PG_BIN/pg_ctl" -D "$BT_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

# Starts the stopped server again on the same port.
bt_pg_restart() {
  bt_as_service_user "$BT_PG_BIN/pg_ctl" -D "$BT_PG_DIR/data" -l "$BT_PG_DIR/server.log" -w -t 60 \
    -o "-p $BT_PG_PORT -k $BT_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=50" \
    start >"$BT_PG_DIR/pg_ctl.log" 2>&1
}

bt_pg_stop() {
  [ -n "${BT_PG_DIR:-}" ] || return 0
  bt_pg_halt
  rm -rf "$BT_PG_DIR"
  BT_PG_DIR=
}

bt_nginx_start() {
  local site=$1
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
    { echo "services.sh: nginx not found (scripts/install-deps installs it)" >&2; return 1; }
  local bin; bin=$(command -v nginx || echo /usr/sbin/nginx)
  BT_NGINX_DIR=$(bt_service_dir nginx)
  local try
  for try in 1 2 3 4 5; do
    BT_NGINX_PORT=$(bt_free_port)
    sed "s/@LISTEN@/127.0.0.1:$BT_NGINX_PORT/g" "$site" >"$BT_NGINX_DIR/site.conf"
    cat >"$BT_NGINX_DIR/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $BT_NGINX_DIR/nginx.pid;
error_log $BT_NGINX_DIR/error.log notice;
events { worker_connections 512; }
http {
  access_log $BT_NGINX_DIR/access.log;
  client_body_temp_path $BT_NGINX_DIR/body;
  proxy_temp_path $BT_NGINX_DIR/proxy;
  fastcgi_temp_path $BT_NGINX_DIR/fastcgi;
  uwsgi_temp_path $BT_NGINX_DIR/uwsgi;
  scgi_temp_path $BT_NGINX_DIR/scgi;
  include $BT_NGINX_DIR/site.conf;
}
EOF
    [ "$(id -u)" -eq 0 ] && chown -R "$(bt_service_user):" "$BT_NGINX_DIR"
    bt_as_user_prefix
    "${BT_AS_USER[@]}" "$bin" -p "$BT_NGINX_DIR" -c "$BT_NGINX_DIR/nginx.conf" -e "$BT_NGINX_DIR/error.log" \
      >"$BT_NGINX_DIR/stdout.log" 2>&1 &
    BT_NGINX_PID=$!
    echo "$BT_NGINX_PID" >"$BT_NGINX_DIR/master.pid"
    local i
    for i in $(seq 1 100); do
      if ! kill -0 "$BT_NGINX_PID" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$BT_NGINX_PORT") 2>/dev/null; then
        bt_watchdog $$ "$BT_NGINX_DIR/master.pid" QUIT
        export BT_NGINX_PORT BT_NGINX_DIR BT_NGINX_PID
        return 0
      fi
      sleep 0.1
    done
    kill "$BT_NGINX_PID" 2>/dev/null; wait "$BT_NGINX_PID" 2>/dev/null
  done
  echo "services.sh: nginx did not start:" >&2
  cat "$BT_NGINX_DIR/error.log" "$BT_NGINX_DIR/stdout.log" >&2 2>/dev/null
  return 1
}

bt_nginx_stop() {
  [ -n "${BT_NGINX_PID:-}" ] || return 0
  kill -QUIT "$BT_NGINX_PID" 2>/dev/null
  # A graceful stop is quick; one that is not gets killed after 10 s.
  ( sleep 10; kill -KILL "$BT_NGINX_PID" 2>/dev/null ) >/dev/null 2>&1 &
  local killer=$!
  wait "$BT_NGINX_PID" 2>/dev/null
  kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null
  rm -rf "$BT_NGINX_DIR"
  BT_NGINX_PID=
}

bt_services_stop() {
  bt_nginx_stop
  bt_pg_stop
}
