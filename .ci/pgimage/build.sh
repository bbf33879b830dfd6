#!/usr/bin/env bash
# Builds the PostgreSQL image the test harness runs through dockertest on
# machines that cannot pull one: a Debian root filesystem made by debootstrap
# with PostgreSQL installed, imported into the local Docker engine.
#
# The Debian mirror is read from this machine's apt sources, never hard-coded.
# Usage: build.sh [image-name] [major-version]
#   build.sh                                   pgmimeo/postgres:15-local, PostgreSQL 15 from bookworm
#   build.sh pgmimeo/postgres:17-local 17      PostgreSQL 17 from trixie
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-pgmimeo/postgres:15-local}
major=${2:-15}
case "$major" in
15) default_suite=bookworm ;;
17) default_suite=trixie ;;
*) echo "no Debian suite known for PostgreSQL $major (set PGMIMEO_IMAGE_SUITE)" >&2; default_suite= ;;
esac
suite=${PGMIMEO_IMAGE_SUITE:-$default_suite}
[ -n "$suite" ] || exit 1
stamp=$( (cat "$here/build.sh" "$here/entrypoint.sh"; echo "$major $suite") | sha256sum | cut -c1-16)

if docker image inspect "$image" --format '{{index .Config.Labels "pgmimeo.stamp"}}' 2>/dev/null | grep -qx "$stamp"; then
	echo "image $image is up to date ($stamp)"
	exit 0
fi

mirror() {
	local f u
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		u=$(awk '/^URIs:/ {print $2}' "$f" | grep -v -- '-security' | grep -i debian | head -n 1)
		[ -n "$u" ] && { echo "$u"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		u=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f" | grep -v -- '-security' | grep -i debian | head -n 1)
		[ -n "$u" ] && { echo "$u"; return; }
	done
}
url=$(mirror)
if [ -z "$url" ]; then
	echo "no Debian mirror found in the apt sources" >&2
	exit 1
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

root=$(mktemp -d /tmp/pgmimeo-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite (PostgreSQL $major) from the machine's Debian mirror into $root"
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$root" "$url" >"$root.log" 2>&1 || {
	tail -n 30 "$root.log" >&2
	exit 1
}
rm -f "$root.log"
# The package's own cluster is not used; the entrypoint makes one per container.
rm -rf "$root/var/lib/postgresql/$major" "$root/etc/postgresql/$major"
install -m 0755 "$here/entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
tar -C "$root" -c . | docker import \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'EXPOSE 5432' \
	--change "LABEL pgmimeo.stamp=$stamp" \
	- "$image" >/dev/null
echo "built $image ($stamp)"
