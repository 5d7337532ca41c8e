// s3: the S3 REST API front end (issue #5) over ObjectStore, on the Nimbus port.
// A request is S3's when it is signed for service "s3" (header or presigned
// query) or addressed to a bucket's virtual host (`<bucket>.localhost[:port]`,
// also `<bucket>.s3.localhost`). Buckets are addressed path-style
// (`/<bucket>/<key>`) or virtual-host style (`/<key>` on the bucket's host).
//
// Served now: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, ListObjects (v1) and ListObjectsV2, PutObject (aws-chunked
// bodies, Content-MD5 and flexible checksums verified), GetObject (one byte range),
// HeadObject, DeleteObject, CopyObject. Other operations answer NotImplemented
// (501) naming the operation. Errors are S3's XML documents with its codes.
//
// Threads: Handle() runs on the connection's reactor and moves the work, which
// touches the disk, to the BlockingPool; HandleSync() is the blocking core.
#pragma once

#include <string>

#include "base/blocking_pool.h"
#include "http/message.h"
#include "http/server.h"
#include "s3/object_store.h"

namespace nimbus::s3 {

// S3's limit for one PutObject; larger objects need multipart uploads.
inline constexpr uint64_t kMaxPutObjectBytes = 5ull << 30;

class S3Api {
 public:
  S3Api(ObjectStore& store, BlockingPool& pool) : store_(store), pool_(pool) {}

  static bool Matches(const http::Request& request);

  void Handle(http::Request&& request, http::Responder responder);
  http::Response HandleSync(const http::Request& request);

 private:
  ObjectStore& store_;
  BlockingPool& pool_;
};

// The bucket named by a virtual-hosted-style Host header ("b.localhost:9000" ->
// "b"), or "" for any other host.
std::string VirtualHostBucket(std::string_view host);

}  // namespace nimbus::s3
