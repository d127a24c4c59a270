#!/bin/sh
# Restore a backup made by backup.sh into the database named by DATABASE_URL
# (or the libpq variables). The target should be empty: a new database for a
# drill, or the production one after `docker compose stop` of every writer.
#   restore.sh /backups/pika-20261126T060000Z.dump
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: restore.sh <pika-….dump>" >&2; exit 2; }
if [ -n "${DATABASE_URL:-}" ]; then
	pg_restore --no-owner --exit-on-error --single-transaction --dbname="$DATABASE_URL" "$1"
else
	pg_restore --no-owner --exit-on-error --single-transaction --dbname="${PGDATABASE:-pika}" "$1"
fi
echo "restore: $1 restored"
