/* Options, environment parsing (in child processes), names and statuses. */
#include <criterion/criterion.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ccoll.h"

extern char **environ;

/* Runs ccoll-envprobe with one extra environment entry (or none), returns
 * its stdout and stderr joined, and its exit status. */
static int run_probe(const char *env_entry, const char *arg, char *out, size_t cap) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);

  /* a clean environment: only PATH-like basics and the entry under test */
  char *envp[4] = {0};
  int n = 0;
  envp[n++] = "LC_ALL=C";
  if (env_entry) envp[n++] = (char *)env_entry;
  char *argv[3] = {CCOLL_TEST_BINDIR "/ccoll-envprobe", (char *)arg, NULL};
  pid_t pid;
  cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp), 0);
  close(fds[1]);
  size_t len = 0;
  ssize_t r;
  while (len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0) len += (size_t)r;
  out[len] = '\0';
  close(fds[0]);
  posix_spawn_file_actions_destroy(&fa);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_line(const char *out, const char *line) {
  cr_expect(strstr(out, line) != NULL, "expected '%s' in:\n%s", line, out);
}

static size_t count_lines(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

Test(env, defaults_without_environment) {
  char out[1024];
  cr_assert_eq(run_probe(NULL, NULL, out, sizeof out), 0);
  expect_line(out, "smr=ibr\n");
  expect_line(out, "stats=0\n");
  expect_line(out, "track=0\n");
  cr_expect(strstr(out, "ccoll:") == NULL, "no complaint expected:\n%s", out);
}

Test(env, smr_kinds_any_case) {
  const char *cases[][2] = {{"CCOLL_SMR=debra", "smr=debra\n"}, {"CCOLL_SMR=DEBRA+", "smr=debra+\n"},
                            {"CCOLL_SMR=None", "smr=none\n"},  {"CCOLL_SMR=IbR", "smr=ibr\n"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[1024];
    cr_assert_eq(run_probe(cases[i][0], NULL, out, sizeof out), 0);
    expect_line(out, cases[i][1]);
  }
}

Test(env, alloc_stats_track) {
  char out[1024];
  run_probe("CCOLL_ALLOC=libc", NULL, out, sizeof out);
  expect_line(out, "alloc=libc\n");
  run_probe("CCOLL_ALLOC=MIMALLOC", NULL, out, sizeof out);
  expect_line(out, "alloc=mimalloc\n");
  run_probe("CCOLL_STATS=1", NULL, out, sizeof out);
  expect_line(out, "stats=1\n");
  run_probe("CCOLL_TRACK=1", NULL, out, sizeof out);
  expect_line(out, "track=1\n");
}

Test(env, bad_values_one_clear_line_and_default) {
  struct { const char *entry, *var, *fallback; } cases[] = {
    {"CCOLL_SMR=rcu", "CCOLL_SMR", "smr=ibr\n"},
    {"CCOLL_ALLOC=jemalloc", "CCOLL_ALLOC", NULL},
    {"CCOLL_STATS=yes", "CCOLL_STATS", "stats=0\n"},
    {"CCOLL_TRACK=2", "CCOLL_TRACK", "track=0\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[2048];
    cr_assert_eq(run_probe(cases[i].entry, NULL, out, sizeof out), 0, "probe crashed on %s", cases[i].entry);
    cr_expect_eq(count_lines(out, "ccoll:"), 1, "one complaint for %s:\n%s", cases[i].entry, out);
    cr_expect(strstr(out, cases[i].var) != NULL, "complaint names %s:\n%s", cases[i].var, out);
    cr_expect(strstr(out, "accepted:") != NULL, "complaint lists accepted values:\n%s", out);
    if (cases[i].fallback) expect_line(out, cases[i].fallback);
  }
}

Test(env, set_after_first_allocation_is_refused) {
  char out[1024];
  cr_assert_eq(run_probe(NULL, "set-alloc-after-alloc", out, sizeof out), 0);
  expect_line(out, "late_change=-22\n");
  expect_line(out, "same_value=0\n");
}

/* cc_option_set beats the environment: checked in-process with setenv
 * before the first option read (Criterion runs each test in its own process). */
Test(options, set_beats_environment) {
  setenv("CCOLL_SMR", "debra", 1);
  cr_assert_eq(cc_option_set(CC_OPT_SMR, CC_SMR_NONE), CC_OK);
  cr_expect_eq(cc_option_get(CC_OPT_SMR), CC_SMR_NONE);
  cr_assert_eq(cc_option_set(CC_OPT_SMR, CC_SMR_DEFAULT), CC_OK);
  cr_expect_eq(cc_option_get(CC_OPT_SMR), CC_SMR_DEBRA, "DEFAULT falls back to the environment");
}

Test(options, bad_values_rejected_unchanged) {
  long before = cc_option_get(CC_OPT_SMR);
  cr_expect_eq(cc_option_set(CC_OPT_SMR, 99), CC_EINVAL);
  cr_expect_eq(cc_option_set(CC_OPT_SMR, -1), CC_EINVAL);
  cr_expect_eq(cc_option_get(CC_OPT_SMR), before);
  cr_expect_eq(cc_option_set(CC_OPT_ALLOC, 7), CC_EINVAL);
  cr_expect_eq(cc_option_set(CC_OPT_STATS, 2), CC_EINVAL);
  cr_expect_eq(cc_option_set((cc_option_t)42, 1), CC_EINVAL);
  cr_expect_eq(cc_option_get((cc_option_t)42), -1);
}

Test(options, stats_toggle) {
  cr_expect_eq(cc_option_set(CC_OPT_STATS, 1), CC_OK);
  cr_expect_eq(cc_option_get(CC_OPT_STATS), 1);
  cc_alloc_stats_enable(false);
  cr_expect_eq(cc_option_get(CC_OPT_STATS), 0);
}

Test(names, smr_kind_parse_and_name) {
  cc_smr_kind_t k;
  cr_expect_eq(cc_smr_kind_parse("DeBrA+", &k), CC_OK);
  cr_expect_eq(k, CC_SMR_DEBRA_PLUS);
  cr_expect_eq(cc_smr_kind_parse("ebr", &k), CC_EINVAL);
  cr_expect_eq(cc_smr_kind_parse(NULL, &k), CC_EINVAL);
  cr_expect_eq(cc_smr_kind_parse("ibr", NULL), CC_EINVAL);
  cr_expect_str_eq(cc_smr_kind_name(CC_SMR_IBR), "ibr");
  cr_expect_str_eq(cc_smr_kind_name((cc_smr_kind_t)77), "unknown");
  for (int s = CC_SMR_NONE; s <= CC_SMR_IBR; s++) {
    cr_expect_eq(cc_smr_kind_parse(cc_smr_kind_name((cc_smr_kind_t)s), &k), CC_OK);
    cr_expect_eq((int)k, s);
  }
}

Test(names, strerror_never_null) {
  int codes[] = {CC_OK, CC_NOT_FOUND, CC_EXISTS, CC_EMPTY, CC_CHANGED, CC_ENOMEM, CC_EINVAL, 12345, -1};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) cr_expect_not_null(cc_strerror(codes[i]));
  cr_expect_str_eq(cc_strerror(CC_ENOMEM), "out of memory");
  cr_expect_str_neq(cc_strerror(CC_EXISTS), cc_strerror(CC_NOT_FOUND));
}

Test(names, version_matches_header) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", CC_VERSION_MAJOR, CC_VERSION_MINOR, CC_VERSION_PATCH);
  cr_expect_str_eq(cc_version(), want);
}
