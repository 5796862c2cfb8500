#!/bin/sh
# Fails when a lower layer includes a higher one (DESIGN.md, "Layout and
# layers"): lib <- policy, queue <- conf <- relay; policy and queue never
# include each other.
allowed() {	# layer -> the folders it may include
	case "$1" in
	lib)	echo "lib" ;;
	policy)	echo "lib policy" ;;
	queue)	echo "lib queue" ;;
	conf)	echo "lib policy queue conf" ;;
	relay)	echo "lib policy queue conf relay" ;;
	esac
}
out=$(mktemp)
for layer in lib policy queue conf relay; do
	ok=$(allowed $layer)
	for f in $layer/*.c $layer/*.h; do
		[ -f "$f" ] || continue
		grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		while IFS= read -r line; do
			inc=$(printf '%s' "$line" | sed 's/.*"\(.*\)".*/\1/')
			case "$inc" in
			../*/*) dir=$(printf '%s' "$inc" | cut -d/ -f2) ;;
			*/*) dir=$(printf '%s' "$inc" | cut -d/ -f1) ;;
			*) dir=$layer ;;
			esac
			case " $ok " in
			*" $dir "*) ;;
			*) echo "$f: includes $inc: $layer may not include $dir"
			   echo x ;;
			esac
		done
	done
done > "$out" 2>&1 || true
if grep -q '^x$' "$out"; then
	grep -v '^x$' "$out"
	rm -f "$out"
	echo "check-layers: FAILED"
	exit 1
fi
rm -f "$out"
echo "check-layers: ok"
