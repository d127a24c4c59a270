#!/bin/sh
# Scheduled PostgreSQL backups (the compose "backup" service) and their check.
#   backup.sh          dump every $BACKUP_EVERY seconds, keep $BACKUP_KEEP_DAYS days
#   backup.sh once     one dump now (go tool task backup)
#   backup.sh check    exit 0 while the newest dump is younger than two periods
# Connection: the libpq variables (PGHOST, PGUSER, PGDATABASE, PGPASSWORD) or
# DATABASE_URL. Dumps are pg_dump's custom format: pika-<UTC time>.dump, restored
# with scripts/restore.sh.
set -eu

dir=${BACKUP_DIR:-/backups}
every=${BACKUP_EVERY:-21600}
keep=${BACKUP_KEEP_DAYS:-14}

dump_once() {
	mkdir -p "$dir"
	name="pika-$(date -u +%Y%m%dT%H%M%SZ).dump"
	# Written beside its final name and renamed when complete, so a dump cut
	# short (a restart, a full disk) is never taken for a good one.
	if [ -n "${DATABASE_URL:-}" ]; then
		pg_dump --format=custom --no-owner --file="$dir/.$name.part" "$DATABASE_URL"
	else
		pg_dump --format=custom --no-owner --file="$dir/.$name.part"
	fi
	mv "$dir/.$name.part" "$dir/$name"
	echo "backup: wrote $dir/$name ($(wc -c <"$dir/$name") bytes)"
	find "$dir" -maxdepth 1 -name 'pika-*.dump' -mtime +"$keep" -print -delete |
		sed 's/^/backup: removed (older than '"$keep"' days) /'
}

case "${1:-loop}" in
once)
	dump_once
	;;
check)
	newest=$(find "$dir" -maxdepth 1 -name 'pika-*.dump' -mmin -"$((2 * every / 60 + 1))" | head -n 1)
	[ -n "$newest" ] || { echo "backup: no dump in the last $((2 * every / 60)) minutes" >&2; exit 1; }
	;;
loop)
	while :; do
		dump_once || echo "backup: FAILED; next try in $every s" >&2
		sleep "$every"
	done
	;;
*)
	echo "usage: backup.sh [once|check|loop]" >&2
	exit 2
	;;
esac
