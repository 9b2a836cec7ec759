/* Clocks, poll, args/environ, random (wasi-testsuite: clock_time_get, poll_oneoff_stdio's clock
 * part, sched_yield, args/environ sizes, random_get). Run with args "a" "bc" and env A=1, BC=23. */
#include "check.h"

int main(void) {
  __wasi_size_t argc = 0, argv_size = 0, envc = 0, env_size = 0;
  EXPECT("args_sizes_get", __wasi_args_sizes_get(&argc, &argv_size), 0);
  EXPECT_EQ("argc", argc, 3);
  /* "misc.wasm\0a\0bc\0" */
  EXPECT_EQ("argv size", argv_size, 10 + 2 + 3);
  EXPECT("environ_sizes_get", __wasi_environ_sizes_get(&envc, &env_size), 0);
  EXPECT_EQ("envc", envc, 2);
  EXPECT_EQ("environ size", env_size, 4 + 6);

  __wasi_timestamp_t res = 0, t1 = 0, t2 = 0;
  EXPECT("clock_res_get monotonic", __wasi_clock_res_get(__WASI_CLOCKID_MONOTONIC, &res), 0);
  EXPECT_EQ("monotonic resolution > 0", res > 0, 1);
  EXPECT("clock_res_get realtime", __wasi_clock_res_get(__WASI_CLOCKID_REALTIME, &res), 0);
  EXPECT("clock_time_get monotonic", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t1), 0);
  EXPECT("clock_time_get realtime", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t2), 0);
  EXPECT_EQ("realtime after 2020", t2 > 1577836800000000000ull, 1);

  /* poll_oneoff: a relative 5 ms clock fires, and no time goes backwards. */
  __wasi_subscription_t sub = {0};
  sub.userdata = 42;
  sub.u.tag = __WASI_EVENTTYPE_CLOCK;
  sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  sub.u.u.clock.timeout = 5000000;
  __wasi_event_t ev;
  __wasi_size_t nev = 0;
  EXPECT("poll_oneoff clock", __wasi_poll_oneoff(&sub, &ev, 1, &nev), 0);
  EXPECT_EQ("one event", nev, 1);
  EXPECT_EQ("userdata", ev.userdata, 42);
  EXPECT_EQ("event error", ev.error, 0);
  EXPECT_EQ("event type", ev.type, __WASI_EVENTTYPE_CLOCK);
  __wasi_timestamp_t t3 = 0;
  __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t3);
  EXPECT_EQ("slept at least 5 ms", t3 - t1 >= 5000000, 1);
  EXPECT("poll_oneoff nothing", __wasi_poll_oneoff(&sub, &ev, 0, &nev), __WASI_ERRNO_INVAL);
  /* poll_oneoff on stdout and stderr (always writable) with a long clock: both fire at once. */
  __wasi_subscription_t subs[3] = {0};
  for (int i = 0; i < 2; i++) {
    subs[i].userdata = 100 + i;
    subs[i].u.tag = __WASI_EVENTTYPE_FD_WRITE;
    subs[i].u.u.fd_write.file_descriptor = 1 + i;
  }
  subs[2].userdata = 200;
  subs[2].u.tag = __WASI_EVENTTYPE_CLOCK;
  subs[2].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  subs[2].u.u.clock.timeout = 5000000000ull;
  __wasi_event_t evs[3];
  EXPECT("poll_oneoff stdio", __wasi_poll_oneoff(subs, evs, 3, &nev), 0);
  EXPECT_EQ("two stdio events", nev, 2);
  int writable = 0;
  for (__wasi_size_t i = 0; i < nev && i < 3; i++)
    if (evs[i].type == __WASI_EVENTTYPE_FD_WRITE && evs[i].error == 0) writable |= 1 << (evs[i].userdata - 100);
  EXPECT_EQ("stdout and stderr writable", writable, 3);
  EXPECT("sched_yield", __wasi_sched_yield(), 0);

  uint8_t a[32] = {0}, b[32] = {0};
  EXPECT("random_get", __wasi_random_get(a, sizeof a), 0);
  EXPECT("random_get again", __wasi_random_get(b, sizeof b), 0);
  EXPECT_EQ("random differs", memcmp(a, b, sizeof a) != 0, 1);
  return done();
}
