# outoftree.sh: what a user of an installed spindle gets. Installs the
# build into a temporary DESTDIR (make install), then, with nothing of the
# build tree on the paths: builds a plugin (myplugin.c) with
# `pkg-config --cflags --libs spindle-plugin` alone and a C program
# (prog.c) with `pkg-config --cflags --libs spindle` alone, runs the
# program, and has the installed spindle load the plugin and the
# installed threads plugin and libraries (plugin_use.sing).
# Run by make check (tests/install/local.mk sets the directories).
set -u
here="$abs_top_srcdir/tests/install"
dest="$abs_top_builddir/tests/install/dest.tmp"
work="$dest/work"
fail() { echo "FAIL: $*"; exit 1; }
command -v pkg-config >/dev/null 2>&1 || { echo "pkg-config not installed: skipped"; exit 77; }
rm -rf "$dest"
mkdir -p "$work"
# the outer make's jobserver is not this make's
unset MAKEFLAGS MFLAGS MAKELEVEL
$MAKE -s -C "$abs_top_builddir" install DESTDIR="$dest" > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "make install DESTDIR=$dest"; }

# what make install must put where (headers in their own directory)
for f in "$bindir/spindle" "$prefix/include/spindle/spindle.h" "$prefix/include/spindle/plugin.h" \
         "$libdir/pkgconfig/spindle.pc" "$libdir/pkgconfig/spindle-plugin.pc" \
         "$pkglibdir/threads.so" "$pkgdatadir/lib/systhreads.lib" \
         "$mandir/man1/spindle.1" "$mandir/man3/libspindle.3"; do
  [ -f "$dest$f" ] || fail "make install did not install $f"
done
for f in "$prefix/include/plugin.h" "$prefix/include/spindle.h"; do
  [ ! -e "$dest$f" ] || fail "make install put $f at the top of includedir"
done

# pkg-config sees only the installed .pc files, and prefixes the paths
# in them with DESTDIR
PKG_CONFIG_LIBDIR="$dest$libdir/pkgconfig"; PKG_CONFIG_PATH=
PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pc() { pkg-config "$@" || fail "pkg-config $*"; }
plugindir=$(pc --variable=plugindir spindle-plugin)
case $plugindir in "$dest"/*) ;; *) plugindir="$dest$plugindir" ;; esac
[ "$plugindir" = "$dest$pkglibdir" ] || fail "spindle-plugin.pc's plugindir is $plugindir, not $dest$pkglibdir"
abi=$(pc --variable=abi spindle-plugin)
grep -q "^#define SPINDLE_PLUGIN_ABI $abi\$" "$dest$prefix/include/spindle/plugin.h" ||
  fail "spindle-plugin.pc's abi ($abi) is not plugin.h's"

cd "$work" || exit 1
# the plugin: one pkg-config line (Cflags -fPIC, Libs -shared)
${CC:-cc} $SAN_CFLAGS -Wall -Werror -o myplugin.so "$here/myplugin.c" \
  $(pc --cflags --libs spindle-plugin) || fail "building the plugin"
# the C program: <spindle.h> through the .pc's -I.../include/spindle
${CC:-cc} $SAN_CFLAGS -Wall -Werror -o prog "$here/prog.c" \
  $(pc --cflags --libs spindle) || fail "building the C program"

# run with the installed library, program, plugins and libraries only
LD_LIBRARY_PATH="$dest$libdir"; export LD_LIBRARY_PATH
./prog || fail "the C program"
SPINDLE_PLUGIN_PATH="$work:$dest$pkglibdir" SPINDLE_PATH="$dest$pkgdatadir/lib"
export SPINDLE_PLUGIN_PATH SPINDLE_PATH
cp "$here/plugin_use.sing" .
"$dest$bindir/spindle" plugin_use.sing > got 2>&1
rc=$?
cat > want <<'WANT'
42
10
30
plugin_use.sing:15: mySum: argument 2 must be int, not string
WANT
diff -u want got || fail "the installed spindle with the plugin"
[ $rc = 1 ] || fail "exit status $rc, expected 1"
# the plugin installed where spindle-plugin.pc says is found without
# SPINDLE_PLUGIN_PATH's help for it
cp myplugin.so "$plugindir/" || fail "copying the plugin to plugindir"
SPINDLE_PLUGIN_PATH="$dest$pkglibdir" "$dest$bindir/spindle" -e 'load("myplugin.so"); myTriple(5);' > got 2>&1
[ "$(cat got)" = 15 ] || { cat got; fail "the plugin in plugindir"; }
echo "ok: installed into $dest; plugin, C program and spindle run from there"
cd "$abs_top_builddir" && rm -rf "$dest"
