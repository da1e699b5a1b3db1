# manlint.sh: the manual pages render without a warning: groff -ww -man
# and mandoc -Tlint, whichever is installed (skipped when neither is).
# Run by make check (tests/install/local.mk).
set -u
pages="$abs_top_builddir/man/spindle.1 $abs_top_builddir/man/libspindle.3"
ran=0; status=0
for p in $pages; do [ -f "$p" ] || { echo "FAIL: $p not built"; exit 1; }; done
if command -v groff >/dev/null 2>&1; then
  ran=1
  for p in $pages; do
    out=$(LC_ALL=C.UTF-8 groff -ww -man -z "$p" 2>&1)
    [ -z "$out" ] || { echo "groff -ww -man on $p:"; echo "$out"; status=1; }
    # and with man's own width
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 groff -ww -man -Tutf8 -rLL=78n "$p" 2>&1 >/dev/null)
    [ -z "$out" ] || { echo "groff -Tutf8 on $p:"; echo "$out"; status=1; }
  done
fi
if command -v mandoc >/dev/null 2>&1; then
  ran=1
  for p in $pages; do
    # STYLE messages are advice (e.g. a date format); warnings and worse fail
    out=$(mandoc -Tlint -Wwarning "$p" 2>&1)
    [ -z "$out" ] || { echo "mandoc -Tlint on $p:"; echo "$out"; status=1; }
  done
fi
[ $ran = 1 ] || { echo "neither groff nor mandoc installed: skipped"; exit 77; }
[ $status = 0 ] && echo "ok: $pages"
exit $status
