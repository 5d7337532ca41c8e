// LD_PRELOAD shim that lets the Nimbus daemon run under valgrind 3.19, which does not
// know the seccomp(2) syscall (317): it tells libseccomp the kernel's API level instead
// of letting it probe with seccomp(2), and turns the sandbox's
// syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) into the equivalent
// prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog), which valgrind passes through.
// Valgrind also refuses to change RLIMIT_NOFILE (it keeps fds for itself): the
// sandbox's setrlimit(RLIMIT_NOFILE) is reported as done when valgrind says EPERM.
// Used only by bench.mjs --callgrind; the daemon's code is unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

extern int seccomp_api_set(unsigned int level) __attribute__((weak));

__attribute__((constructor)) static void nimbus_vgshim_init(void) {
  if (seccomp_api_set) seccomp_api_set(3);
}

long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_seccomp && a[0] == SECCOMP_SET_MODE_FILTER && a[1] == 0)
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, a[2], 0, 0);
  static long (*real)(long, ...);
  if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit* rlim) {
  static int (*real)(__rlimit_resource_t, const struct rlimit*);
  if (!real) real = (int (*)(__rlimit_resource_t, const struct rlimit*))dlsym(RTLD_NEXT, "setrlimit");
  int rc = real(resource, rlim);
  if (rc != 0 && errno == EPERM && resource == RLIMIT_NOFILE) return 0;
  return rc;
}
