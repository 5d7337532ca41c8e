#include "sandbox/zygote_protocol.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <string>

namespace nimbus::sandbox {
namespace {

struct PlanFixture {
  MountOp mounts[3] = {
      {MountOp::Kind::kMount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m",
       0, 0},
      {MountOp::Kind::kFile, nullptr, "/etc/hostname", nullptr, 0, "a\0b", 3, 0644},
      {MountOp::Kind::kMkdir, nullptr, "/dev/shm", nullptr, 0, nullptr, 0, 01777},
  };
  sock_filter filter[2] = {{0x20, 0, 0, 4}, {0x06, 0, 0, 0x7fff0000}};
  InitPlan plan = {};

  PlanFixture() {
    plan.mounts = mounts;
    plan.mount_count = 3;
    plan.hostname = "localhost";
    plan.hostname_len = 9;
    plan.uid = 993;
    plan.gid = 994;
    plan.last_cap = 40;
    plan.max_open_files = 1024;
    plan.cwd = "/var/task";
    plan.seccomp.len = 2;
    plan.seccomp.filter = filter;
  }
};

constexpr int kFds[kZygoteRequestFds] = {10, 11, 12, 13, 14};

TEST(ZygoteProtocolTest, ARequestDecodesToThePlanItWasEncodedFrom) {
  PlanFixture f;
  auto data = EncodeZygoteRequest(f.plan, kZygotePrefault);
  ASSERT_TRUE(data.has_value()) << data.error().ToString();
  DecodedZygoteRequest out;
  ASSERT_EQ(DecodeZygoteRequest(data->data(), data->size(), kFds, kZygoteRequestFds, out), nullptr);
  const InitPlan& p = out.plan;
  EXPECT_EQ(p.sync_fd, 10);
  EXPECT_EQ(p.control_fd, 11);
  EXPECT_EQ(p.output_fd, 12);
  EXPECT_EQ(p.specialize_fd, 13);
  EXPECT_EQ(p.ready_fd, 14);
  EXPECT_EQ(p.template_mnt_fd, -1);
  EXPECT_TRUE(p.copy_mount_ns);
  EXPECT_EQ(out.flags, kZygotePrefault);
  EXPECT_EQ(p.uid, 993u);
  EXPECT_EQ(p.gid, 994u);
  EXPECT_EQ(p.last_cap, 40);
  EXPECT_EQ(p.max_open_files, 1024u);
  EXPECT_STREQ(p.hostname, "localhost");
  EXPECT_EQ(p.hostname_len, 9u);
  EXPECT_STREQ(p.cwd, "/var/task");
  ASSERT_EQ(p.mount_count, 3u);
  EXPECT_EQ(p.mounts[0].kind, MountOp::Kind::kMount);
  EXPECT_STREQ(p.mounts[0].source, "tmpfs");
  EXPECT_STREQ(p.mounts[0].target, "/tmp");
  EXPECT_STREQ(p.mounts[0].fstype, "tmpfs");
  EXPECT_EQ(p.mounts[0].flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
  EXPECT_STREQ(p.mounts[0].data, "mode=1777,size=512m");
  // A file's contents keep their length, NULs included.
  EXPECT_EQ(p.mounts[1].kind, MountOp::Kind::kFile);
  ASSERT_EQ(p.mounts[1].data_len, 3u);
  EXPECT_EQ(std::memcmp(p.mounts[1].data, "a\0b", 3), 0);
  EXPECT_EQ(p.mounts[1].mode, 0644u);
  EXPECT_EQ(p.mounts[1].source, nullptr);
  EXPECT_EQ(p.mounts[2].mode, 01777u);
  ASSERT_EQ(p.seccomp.len, 2);
  EXPECT_EQ(p.seccomp.filter[1].k, 0x7fff0000u);
  EXPECT_EQ(p.argv, nullptr);
}

TEST(ZygoteProtocolTest, TruncatedCorruptOrPaddedRequestsAreRejected) {
  PlanFixture f;
  auto data = EncodeZygoteRequest(f.plan, 0);
  ASSERT_TRUE(data.has_value());
  DecodedZygoteRequest out;
  // Every prefix is refused, none is read past.
  for (size_t n = 0; n < data->size(); ++n) {
    std::string prefix = data->substr(0, n);
    EXPECT_NE(DecodeZygoteRequest(prefix.data(), prefix.size(), kFds, kZygoteRequestFds, out),
              nullptr)
        << "prefix of " << n << " bytes";
  }
  std::string padded = *data + "x";
  EXPECT_STREQ(DecodeZygoteRequest(padded.data(), padded.size(), kFds, kZygoteRequestFds, out),
               "trailing bytes");
  std::string bad_magic = *data;
  bad_magic[0] ^= 1;
  EXPECT_STREQ(DecodeZygoteRequest(bad_magic.data(), bad_magic.size(), kFds, kZygoteRequestFds, out),
               "not a zygote request of this version");
  EXPECT_STREQ(DecodeZygoteRequest(data->data(), data->size(), kFds, 4, out),
               "wrong number of descriptors");
  // A string without its NUL.
  std::string no_nul = *data;
  size_t at = no_nul.find("/tmp");
  ASSERT_NE(at, std::string::npos);
  no_nul[at + 4] = 'x';
  EXPECT_STREQ(DecodeZygoteRequest(no_nul.data(), no_nul.size(), kFds, kZygoteRequestFds, out),
               "truncated mount strings");
}

TEST(ZygoteProtocolTest, DetachedMountsCannotBeSentToAZygote) {
  PlanFixture f;
  f.mounts[2] = {MountOp::Kind::kMoveMount, nullptr, "/var/task", nullptr, 0, nullptr, 0, 0, 7};
  auto data = EncodeZygoteRequest(f.plan, 0);
  ASSERT_FALSE(data.has_value());
  EXPECT_NE(data.error().message().find("/var/task"), std::string::npos) << data.error().ToString();
}

}  // namespace
}  // namespace nimbus::sandbox
