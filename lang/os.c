/* os.c: what scripts get from the operating system: random numbers
 * (random, system("random")), the time (datetime), the environment
 * (system("getenv"), system("setenv")), the shell (system("sh")), the
 * machine (system("cpu"), system("uname"), system("Singular")) and a CPU
 * time limit (system("alarm")). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sl.h"

extern char **environ;

/* ---- random numbers ---------------------------------------------------- */
/* Singular's generator (libpolys/misc/sirandom.c): Park and Miller's
 * "minimal standard" Lehmer generator, x' = 16807 x mod (2^31 - 1) by
 * Schrage's method, drawn as Singular draws (iparith.cc): random(a, b) is
 * x % (b - a + 1) + a, an entry of random(i, r, c) is x % (2|i| + 1) - |i|.
 * system("random", n) seeds it (n as Singular's C int), system("random")
 * returns the state, so a script that seeds it draws what Singular draws.
 * The state is one atomic int advanced by a compare-and-swap: jobs draw
 * from it at once, each number once. Seeded at start from the clock and
 * the pid, as Singular seeds from the clock. A range wider than Singular's
 * int (spindle's ints are 64-bit) takes three draws (93 bits) reduced
 * modulo its width. */
#define SI_A 16807
#define SI_M 2147483647
#define SI_Q 127773   /* M / A */
#define SI_R 2836     /* M % A */
static _Atomic int32_t si_seed = 1;

/* sirandom.c's siRandNext, its int arithmetic wrapping as it does there
 * for a negative seed */
static int32_t si_next(int32_t r) {
  int64_t t = (int64_t)SI_A * (r % SI_Q) - (int64_t)SI_R * (r / SI_Q);
  int32_t v = (int32_t)(uint32_t)(uint64_t)t;
  return v < 0 ? v + SI_M : v;
}

static int32_t si_rand(void) {
  int32_t s = atomic_load_explicit(&si_seed, memory_order_relaxed), n;
  do n = si_next(s);
  while (!atomic_compare_exchange_weak_explicit(&si_seed, &s, n, memory_order_relaxed, memory_order_relaxed));
  return n;
}

/* an int of a..b (a <= b): Singular's draw where the width fits its int */
static int64_t rnd_range(int64_t a, int64_t b) {
  uint64_t span = (uint64_t)b - (uint64_t)a + 1;   /* 0: all 2^64 values */
  if (span && span <= INT32_MAX) return a + si_rand() % (int64_t)span;
  uint64_t x = (uint64_t)si_rand() << 62 ^ (uint64_t)si_rand() << 31 ^ (uint64_t)si_rand();
  return (int64_t)((uint64_t)a + (span ? x % span : x));
}

/* random(a, b): an int of a..b; random(i, r, c): an r x c intmat of
 * entries in -|i|..|i| (Singular's; all 0 for i = 0) */
static int b_random(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fn = "random";
  if (argc != 2 && argc != 3) return sl_argc_err(C, fn, argc, "2 arguments (a range) or 3 (an intmat)");
  for (int i = 0; i < argc; i++)
    if (argv[i].type != SL_T_INT) return sl_arg_err(C, fn, i + 1, "int", argv[i]);
  int64_t a = argv[0].u.i, b = argv[1].u.i;
  if (argc == 3) {
    int64_t c = argv[2].u.i;
    if (b < 1 || c < 1)
      return sl_error(C, "random: an intmat needs at least 1 row and 1 column, not %lld x %lld", (long long)b, (long long)c);
    if ((uint64_t)b > sl_limits.elems / (uint64_t)c)
      return sl_error(C, "random: %lld x %lld entries are too many (the limit is %zu)", (long long)b, (long long)c,
                      sl_limits.elems);
    if (a == INT64_MIN) a++;
    if (a < 0) a = -a;
    sl_value m = sl_intmat_new((size_t)b, (size_t)c);
    for (size_t k = 0; a && k < (size_t)(b * c); k++) sl_imv(m)->v[k] = rnd_range(-a, a);
    *ret = m;
    return 0;
  }
  if (a > b) return sl_error(C, "random: invalid range %lld..%lld (the first bound must not exceed the second)",
                             (long long)a, (long long)b);
  *ret = SL_INT(rnd_range(a, b));
  return 0;
}

/* system("random", n) seeds; system("random") gives the state, which
 * seeds the rest of the sequence when given back (as Singular's: its
 * siSeed; a seed is taken as a C int, as there) */
static int sys_random(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc == 0) {
    *ret = SL_INT(atomic_load_explicit(&si_seed, memory_order_relaxed));
    return 0;
  }
  if (argc != 1 || argv[0].type != SL_T_INT)
    return sl_error(C, "system: \"random\" needs an int (the seed), or nothing to get the state");
  atomic_store_explicit(&si_seed, (int32_t)(uint32_t)(uint64_t)argv[0].u.i, memory_order_relaxed);
  return 0;
}

/* ---- time and environment ---------------------------------------------- */
/* datetime(): what `date` prints (Singular's datetime runs it) */
static int b_datetime(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_argc_err(C, "datetime", argc, "no arguments");
  time_t t = time(NULL);
  struct tm tm;
  char s[128];
  if (!localtime_r(&t, &tm) || !strftime(s, sizeof s, "%a %b %e %H:%M:%S %Z %Y", &tm))
    return sl_error(C, "datetime: the clock cannot be read");
  *ret = sl_str(s);
  return 0;
}

/* getenv and setenv are not safe against each other across threads: the
 * two requests take this lock (jobs may call them at once) */
static pthread_rwlock_t env_lock = PTHREAD_RWLOCK_INITIALIZER;

/* system("getenv", name): the variable's value, "" when it is not set */
static int sys_getenv(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1 || argv[0].type != SL_T_STRING)
    return sl_error(C, "system: \"getenv\" needs a string (the variable's name)");
  pthread_rwlock_rdlock(&env_lock);
  const char *v = getenv(sl_sv(argv[0])->s);
  *ret = sl_str(v ? v : "");
  pthread_rwlock_unlock(&env_lock);
  return 0;
}

/* system("setenv", name, value): sets it for this process and what it
 * starts; gives the value, as Singular */
static int sys_setenv(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 2 || argv[0].type != SL_T_STRING || argv[1].type != SL_T_STRING)
    return sl_error(C, "system: \"setenv\" needs two strings (the variable's name and its value)");
  const char *name = sl_sv(argv[0])->s;
  if (!*name || strchr(name, '='))
    return sl_error(C, "system: \"setenv\": `%s` is not a variable name", name);
  pthread_rwlock_wrlock(&env_lock);
  int rc = setenv(name, sl_sv(argv[1])->s, 1);
  pthread_rwlock_unlock(&env_lock);
  if (rc < 0) return sl_error(C, "system: \"setenv\": %s", strerror(errno));
  *ret = argv[1];
  sl_retain(*ret);
  return 0;
}

/* system("cpu"): the processors online; system("--cpus"): the cores the
 * script may use, the same unless spindle --cpus=N (or SPINDLE_CPUS=N)
 * said otherwise, as Singular's --cpus */
static int cpus(sl_ctx *C, const char *req, int argc, sl_value *ret) {
  if (argc) return sl_error(C, "system: \"%s\" takes no argument", req);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (req[0] == '-') {   /* getenv under the lock that system("setenv") takes */
    pthread_rwlock_rdlock(&env_lock);
    const char *lim = getenv("SPINDLE_CPUS");
    long k = lim ? atol(lim) : 0;
    pthread_rwlock_unlock(&env_lock);
    if (k > 0) n = k;
  }
  *ret = SL_INT(n > 0 ? n : 1);
  return 0;
}

const char *sl_user_option = "";

/* system("version"): the version of Singular whose language spindle
 * follows and whose output it matches (Debian's 4.3.1, which says 4313),
 * for scripts that test it before using a feature */
static int sys_version(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_error(C, "system: \"version\" takes no argument");
  *ret = SL_INT(4313);
  return 0;
}

/* system("--no-warn"): 1 when warnings are off (spindle --no-warn);
 * system("--no-warn", 0 or 1) turns them on or off, as Singular's */
static int sys_no_warn(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc == 0) { *ret = SL_INT(__atomic_load_n(&sl_no_warnings, __ATOMIC_RELAXED)); return 0; }
  if (argc != 1 || argv[0].type != SL_T_INT)
    return sl_error(C, "system: \"--no-warn\" needs an int (1: no warnings, 0: warnings), or nothing to ask");
  __atomic_store_n(&sl_no_warnings, argv[0].u.i != 0, __ATOMIC_RELAXED);
  return 0;
}

/* system("SingularLib"): where LIB looks for libraries, colon-separated */
static int sys_lib_dirs(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_error(C, "system: \"SingularLib\" takes no argument");
  sl_buf b = {0};
  sl_lib_dirs(&b);
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

/* system("--user-option"): spindle -u/--user-option's string, as Singular's */
static int sys_user_option(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_error(C, "system: \"--user-option\" takes no argument");
  *ret = sl_str_new(sl_user_option, strlen(sl_user_option));
  return 0;
}

static int sys_cpu(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  return cpus(C, "cpu", argc, ret);
}

static int sys_cpus(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  return cpus(C, "--cpus", argc, ret);
}

/* system("uname"): the machine and the system, as Singular writes them
 * ("x86_64-Linux") */
static int sys_uname(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_error(C, "system: \"uname\" takes no argument");
  struct utsname u;
  if (uname(&u) < 0) return sl_error(C, "system: \"uname\": %s", strerror(errno));
  char s[2 * sizeof u.machine + 2];
  snprintf(s, sizeof s, "%s-%s", u.machine, u.sysname);
  *ret = sl_str(s);
  return 0;
}

/* system("Singular"): the path of the running program (this spindle) */
static int sys_self(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_error(C, "system: \"Singular\" takes no argument");
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0) return sl_error(C, "system: \"Singular\": %s", strerror(errno));
  path[n] = 0;
  *ret = sl_str(path);
  return 0;
}

/* system("alarm", n): after n seconds of CPU time the process ends, killed
 * by SIGVTALRM, as Singular's (0 takes the alarm back) */
static int sys_alarm(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 1 || argv[0].type != SL_T_INT || argv[0].u.i < 0 || argv[0].u.i > 100000000)
    return sl_error(C, "system: \"alarm\" needs an int of seconds (0 to 100000000)");
  struct itimerval t = {.it_value = {.tv_sec = (time_t)argv[0].u.i}};
  signal(SIGVTALRM, SIG_DFL);
  if (setitimer(ITIMER_VIRTUAL, &t, NULL) < 0) return sl_error(C, "system: \"alarm\": %s", strerror(errno));
  return 0;
}

/* ---- the shell --------------------------------------------------------- */

void sl_spawn_attr(posix_spawnattr_t *at, int own_group) {
  posix_spawnattr_init(at);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  sigaddset(&dfl, SIGINT);
  sigaddset(&dfl, SIGTERM);
  posix_spawnattr_setsigmask(at, &none);
  posix_spawnattr_setsigdefault(at, &dfl);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (own_group) {
    posix_spawnattr_setpgroup(at, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(at, flags);
}

/* system("sh", cmd): runs cmd with /bin/sh and gives its wait status as
 * Singular does (what C's system() returns: 256 * the exit code, or the
 * signal that ended it). The child starts with a clean signal mask (a
 * script run blocks SIGINT and SIGTERM in every thread). Waiting polls
 * the script, so cancelJob and Ctrl-C end the command. */
int sl_shell(sl_ctx *C, const char *cmd, sl_value *ret) {
  posix_spawnattr_t at;
  sl_spawn_attr(&at, 0);
  char *argv[] = {"sh", "-c", (char *)cmd, NULL};
  pid_t pid;
  fflush(stdout);
  int rc = posix_spawn(&pid, "/bin/sh", NULL, &at, argv, environ);
  posix_spawnattr_destroy(&at);
  if (rc) {
    char eb[128];
    return sl_error(C, "system: cannot run /bin/sh: %s", strerror_r(rc, eb, sizeof eb));
  }
  int st = 0;
  for (long step = 100000; ; step = step < 10000000 ? step * 2 : step) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) { st = -1; break; }
    if (sl_poll(C) < 0) {
      kill(pid, SIGTERM);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
      return -1;
    }
    struct timespec ts = {0, step};
    nanosleep(&ts, NULL);
  }
  *ret = SL_INT(st);
  return 0;
}

static pthread_once_t os_once = PTHREAD_ONCE_INIT;

static void os_register(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* 1..M-1: 0 and M are fixed points of the generator */
  uint64_t mix = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 20;
  atomic_store(&si_seed, (int32_t)(1 + mix % (SI_M - 1)));
  tzset();
  sl_api.def_system(NULL, "random", sys_random);
  sl_api.def_system(NULL, "getenv", sys_getenv);
  sl_api.def_system(NULL, "setenv", sys_setenv);
  sl_api.def_system(NULL, "cpu", sys_cpu);
  sl_api.def_system(NULL, "--cpus", sys_cpus);
  sl_api.def_system(NULL, "--user-option", sys_user_option);
  sl_api.def_system(NULL, "--random", sys_random);   /* Singular's option name for the seed */
  sl_api.def_system(NULL, "--no-warn", sys_no_warn);
  sl_api.def_system(NULL, "version", sys_version);
  sl_api.def_system(NULL, "SingularLib", sys_lib_dirs);
  sl_api.def_system(NULL, "uname", sys_uname);
  sl_api.def_system(NULL, "Singular", sys_self);
  sl_api.def_system(NULL, "alarm", sys_alarm);
}

void sl_os_init(sl_world *W) {
  pthread_once(&os_once, os_register);
  sl_def_builtin(W, "random", b_random);
  sl_def_builtin(W, "datetime", b_datetime);
}
