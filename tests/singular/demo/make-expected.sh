#!/bin/sh
# Regenerate fac.out and fib.out, the expected outputs of Singular's
# systhreads demos, with Debian's Singular.
#
# Debian's Singular is built single-threaded: createThreadPool accepts only
# 0 workers, `LIB "systhreads.lib";` leaves the module's functions in a
# package where the script cannot see them, and threadPoolExec on a 0-worker
# pool crashes it (signal 11). So we run a pseudo-pool variant of each demo,
# changed in three places only, none of which touches what is computed:
#   LIB "systhreads.lib";            -> load("systhreads.so","with");
#   createThreadPool(4)              -> createThreadPool(0)
#   threadPoolExecString(pool, ...)  -> execute(...) (a pseudo pool runs
#                                       jobs in the main interpreter, so the
#                                       procs only need defining there;
#                                       fac.sg already runs execute(code))
# and then check the result against an independent computation in Python
# (10000! and the 22nd term of fib with fib(0) = fib(1) = 1, i.e. 28657).
#
# Usage: make-expected.sh [Singular]   (run from anywhere)
set -eu
SINGULAR=${1:-Singular}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in fac fib; do
  sed -e 's/^LIB "systhreads.lib";/load("systhreads.so","with");/' \
      -e 's/createThreadPool(4)/createThreadPool(0)/' \
      -e 's/^threadPoolExecString(pool, code);//' \
      -e 's/^threadPoolExecString(pool,$/execute(/' \
      "$here/$f.sg" > "$tmp/$f.sg"
  (cd "$tmp" && "$SINGULAR" -q "$f.sg" < /dev/null > "$f.out" 2>&1)
done

python3 - "$tmp" <<'EOF'
import math, sys
sys.set_int_max_str_digits(100000)
tmp = sys.argv[1]
a, b = 1, 1                 # fib(0), fib(1)
for _ in range(21):
    a, b = b, a + b         # b = fib(22)
want = {"fac": str(math.factorial(10000)) + "\n", "fib": str(b) + "\n"}
for name, text in want.items():
    got = open("%s/%s.out" % (tmp, name)).read()
    if got != text:
        sys.exit("%s: Singular printed something else than expected" % name)
EOF

cp "$tmp/fac.out" "$here/fac.out"
cp "$tmp/fib.out" "$here/fib.out"
echo "fac.out and fib.out regenerated and checked"
