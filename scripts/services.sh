#!/usr/bin/env bash
# Start the loopback services the integration tests use, when they are not answering:
# PostgreSQL 127.0.0.1:5432 (trust auth, database "test"), MariaDB 127.0.0.1:3306 (root, no
# password, database "test"), Redis 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672 (guest/guest).
# A server that is not installed is installed from Debian's packages first (needs root).
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port, name, seconds
  for _ in $(seq 1 "$3"); do up "$1" && return 0; sleep 1; done
  echo "services: $2 did not come up on port $1" >&2
  return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_updated=0
ensure_pkg() {  # command, package...
  command -v "$1" >/dev/null 2>&1 && return 0
  shift
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! up 5432; then
  ensure_pkg pg_ctlcluster postgresql
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for 5432 PostgreSQL 30 && \
    as_root su postgres -c "psql -tAc \"select 1 from pg_database where datname='test'\" | grep -q 1 || createdb test" 2>/dev/null
fi

if ! up 6379; then
  ensure_pkg redis-server redis-server
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 6379 Redis 15
fi

if ! up 5672; then
  ensure_pkg rabbitmq-server rabbitmq-server
  as_root rabbitmq-server -detached
  wait_for 5672 RabbitMQ 60
fi

if ! up 3306; then
  ensure_pkg mariadbd mariadb-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 MariaDB 30 && as_root mariadb -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null
fi

for p in 5432:PostgreSQL 6379:Redis 5672:RabbitMQ 3306:MariaDB; do
  up "${p%%:*}" && echo "services: ${p#*:} up on ${p%%:*}" || echo "services: ${p#*:} DOWN on ${p%%:*}"
done
exit 0
