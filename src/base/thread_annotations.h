// Clang thread-safety annotations (no-ops under g++). Every field guarded by a
// mutex says so with NIMBUS_GUARDED_BY; helpers that need the lock say
// NIMBUS_REQUIRES. CI builds with clang -Wthread-safety.
#pragma once

#include <mutex>

#if defined(__clang__)
#define NIMBUS_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define NIMBUS_THREAD_ANNOTATION_(x)
#endif

#define NIMBUS_CAPABILITY(x) NIMBUS_THREAD_ANNOTATION_(capability(x))
#define NIMBUS_SCOPED_CAPABILITY NIMBUS_THREAD_ANNOTATION_(scoped_lockable)
#define NIMBUS_GUARDED_BY(x) NIMBUS_THREAD_ANNOTATION_(guarded_by(x))
#define NIMBUS_PT_GUARDED_BY(x) NIMBUS_THREAD_ANNOTATION_(pt_guarded_by(x))
#define NIMBUS_REQUIRES(...) NIMBUS_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define NIMBUS_EXCLUDES(...) NIMBUS_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define NIMBUS_ACQUIRE(...) NIMBUS_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define NIMBUS_RELEASE(...) NIMBUS_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define NIMBUS_NO_THREAD_SAFETY_ANALYSIS NIMBUS_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace nimbus {

// std::mutex with capability annotations so -Wthread-safety can check users.
class NIMBUS_CAPABILITY("mutex") Mutex {
 public:
  void Lock() NIMBUS_ACQUIRE() { mu_.lock(); }
  void Unlock() NIMBUS_RELEASE() { mu_.unlock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class NIMBUS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) NIMBUS_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() NIMBUS_RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace nimbus
