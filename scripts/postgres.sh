#!/usr/bin/env bash
# A temporary PostgreSQL cluster for the registry's tests (and for trying the registry on PostgreSQL).
#
#   scripts/postgres.sh start [DIR]   initdb + start a cluster in DIR (default: a new temp dir) on a free port on
#                                     127.0.0.1; prints the database URL as its last line
#   scripts/postgres.sh stop DIR      stop that cluster and delete DIR
#   scripts/postgres.sh install       apt-get install postgresql when initdb is not found (needs root)
#
# PostgreSQL refuses to run as root, and CI runs as root: then the cluster is made and run as the `postgres`
# user (Debian's postgresql package creates it) through runuser. Trust authentication, loopback only.
set -euo pipefail

find_bin() {
  local name=$1 d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
  done
  return 1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd=${1:-}
case "$cmd" in
  install)
    if find_bin initdb >/dev/null; then echo "postgresql is installed: $(find_bin initdb)"; exit 0; fi
    if [ "$(id -u)" != 0 ]; then
      echo "postgres.sh: installing postgresql needs root (apt-get install -y postgresql)" >&2; exit 2
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    find_bin initdb
    ;;
  start)
    INITDB=$(find_bin initdb) || { echo "postgres.sh: initdb not found; run: scripts/postgres.sh install (as root)" >&2; exit 2; }
    PG_CTL=$(find_bin pg_ctl)
    dir=${2:-$(mktemp -d /tmp/ipscope-pg.XXXXXX)}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "postgres.sh: running as root and there is no postgres user to run the server as" >&2; exit 2; }
      chown postgres "$dir"
    fi
    chmod 700 "$dir"
    port=$(free_port)
    as_pg "$INITDB" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$PG_CTL" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres.sh: cluster in $dir; stop it with: scripts/postgres.sh stop $dir" >&2
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?usage: scripts/postgres.sh stop DIR}
    if [ -d "$dir/data" ]; then
      PG_CTL=$(find_bin pg_ctl)
      # immediate: no shutdown checkpoint (seconds with the hundreds of databases a test run makes), since the
      # cluster is deleted right after
      as_pg "$PG_CTL" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh start [DIR] | stop DIR | install" >&2; exit 2
    ;;
esac
