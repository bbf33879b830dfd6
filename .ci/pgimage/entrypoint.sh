#!/bin/sh
# Entrypoint of the locally built PostgreSQL test image. It behaves like the
# official image for what the tests use: POSTGRES_USER / POSTGRES_PASSWORD,
# scram-sha-256 over TCP, and "postgres -c name=value ..." as the command.
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ "${1:-}" = "postgres" ]; then
	shift
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		pw=$(mktemp)
		printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" >"$pw"
		chown postgres "$pw"
		setpriv --reuid=postgres --regid=postgres --init-groups \
			"$BIN/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pw" \
			--auth=scram-sha-256 -E UTF8 --no-locale >/dev/null
		rm -f "$pw"
		echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
		echo "PostgreSQL init process complete; ready for start up."
	fi
	exec setpriv --reuid=postgres --regid=postgres --init-groups \
		"$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
