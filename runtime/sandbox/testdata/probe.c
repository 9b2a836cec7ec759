// Adversary probe for the native sandbox tests: `probe <what> [arg]` tries one thing and prints
// "<what>: allowed" (exit 0) or "<what>: denied <errno name>" (exit 1). Compiled at test time.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int report(const char *what, long rc) {
  if (rc >= 0) {
    printf("%s: allowed\n", what);
    return 0;
  }
  printf("%s: denied %s\n", what, strerrorname_np(errno));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *what = argv[1];
  const char *arg = argc > 2 ? argv[2] : "";
  setvbuf(stdout, NULL, _IONBF, 0);
  if (!strcmp(what, "read")) {
    int fd = open(arg, O_RDONLY);
    if (fd < 0) return report(what, -1);
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) return report(what, -1);
    buf[n] = 0;
    printf("content: %s\n", buf);
    return report(what, 0);
  }
  if (!strcmp(what, "write")) {
    int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return report(what, -1);
    return report(what, write(fd, "written\n", 8));
  }
  if (!strcmp(what, "connect")) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(arg))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    return report(what, connect(s, (struct sockaddr *)&a, sizeof a));
  }
  if (!strcmp(what, "ptrace-attach")) return report(what, ptrace(PTRACE_ATTACH, (pid_t)atoi(arg), 0, 0));
  if (!strcmp(what, "ptrace-traceme")) return report(what, ptrace(PTRACE_TRACEME, 0, 0, 0));
  if (!strcmp(what, "vm-read")) {
    char src[8] = "secret", dst[8];
    struct iovec l = {dst, sizeof dst}, r = {src, sizeof src};
    return report(what, process_vm_readv(getpid(), &l, 1, &r, 1, 0));
  }
  if (!strcmp(what, "unshare-user")) return report(what, unshare(CLONE_NEWUSER));
  if (!strcmp(what, "clone-newuser")) {
    long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    return report(what, rc);
  }
  if (!strcmp(what, "clone3")) return report(what, syscall(435, 0, 0));
  if (!strcmp(what, "fork")) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    return report(what, p);
  }
  if (!strcmp(what, "mount")) return report(what, mount("none", "/tmp", "tmpfs", 0, 0));
  if (!strcmp(what, "bpf")) return report(what, syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, 0, 0));
  if (!strcmp(what, "keyctl")) return report(what, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
  if (!strcmp(what, "personality")) return report(what, personality(READ_IMPLIES_EXEC));
  if (!strcmp(what, "io-uring")) return report(what, syscall(425, 1, 0));
  if (!strcmp(what, "x32")) return report(what, syscall(39 | 0x40000000)); // x32 getpid
  if (!strcmp(what, "int80")) {
    long rc;
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20) : "memory"); // i386 getpid: the filter kills
    return report(what, rc);
  }
  if (!strcmp(what, "daemon")) {
    // Double fork + setsid: a daemon that would outlive its parent; it sleeps with a marker argument.
    if (fork() == 0) {
      setsid();
      if (fork() == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        execl("/bin/sleep", "sleep", arg, (char *)0);
        _exit(127);
      }
      _exit(0);
    }
    usleep(100000);
    return report(what, 0);
  }
  fprintf(stderr, "unknown probe %s\n", what);
  return 2;
}
