// s3: the S3 REST API front end (issue #5) over ObjectStore, on the Nimbus port.
// A request is S3's when it is signed for service "s3" (header or presigned
// query) or addressed to a bucket's virtual host (`<bucket>.localhost[:port]`,
// also `<bucket>.s3.localhost`). Buckets are addressed path-style
// (`/<bucket>/<key>`) or virtual-host style (`/<key>` on the bucket's host).
//
// Served now: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, ListObjects (v1) and ListObjectsV2, PutObject (aws-chunked
// bodies, Content-MD5 and flexible checksums verified), GetObject (one byte range),
// HeadObject, DeleteObject, DeleteObjects, CopyObject, and
// Put/GetBucketNotificationConfiguration with function destinations: each
// matching change queues an asynchronous invocation with S3's event record,
// in the trace of the request that made the change (its X-Amzn-Trace-Id, or its
// W3C traceparent), as S3 passes an X-Ray trace on to its notifications.
// Other operations answer NotImplemented (501) naming the operation. Errors are
// S3's XML documents with its codes.
//
// Threads: Handle() runs on the connection's reactor and moves the work, which
// touches the disk, to the BlockingPool; HandleSync() is the blocking core.
#pragma once

#include <string>
#include <utility>

#include "base/blocking_pool.h"
#include "http/message.h"
#include "http/server.h"
#include "s3/object_store.h"
#include "storage/disk_space.h"

namespace nimbus::s3 {

// Where bucket notifications go: the server's functions and async queue.
class EventTargets {
 public:
  virtual ~EventTargets() = default;
  // OK when `function_arn` names a function whose resource-based policy lets
  // s3.amazonaws.com invoke it; else a Status whose message says why not.
  // Thread-safe.
  virtual Status ValidateFunction(const std::string& function_arn) = 0;
  // Queues an asynchronous invocation of the function with `event`, durably
  // (or logs why it could not), continuing the X-Ray trace `trace_header` (the
  // object request's X-Amzn-Trace-Id or traceparent; "" starts a new trace).
  // Thread-safe; returns at once.
  virtual void InvokeAsync(const std::string& function_arn, std::string event, std::string trace_header) = 0;
  // OK when `queue_arn` names a standard queue whose policy lets s3.amazonaws.com
  // send to it; else why not. Blocking (SQLite).
  virtual Status ValidateQueue(const std::string& queue_arn) = 0;
  // Sends `message` to the queue, durably, with `trace_header` as its
  // AWSTraceHeader ("" for none). Blocking.
  virtual void SendToQueue(const std::string& queue_arn, std::string message, std::string trace_header) = 0;
};

struct S3ApiOptions {
  std::string region = "us-east-1";
  EventTargets* targets = nullptr;  // none: notifications to functions are refused
  // Asked before every write that adds data (PUT, and POST but DeleteObjects);
  // none: no reserve is kept.
  const storage::DiskSpace* disk = nullptr;
};

class S3Api {
 public:
  S3Api(ObjectStore& store, BlockingPool& pool, S3ApiOptions options = {})
      : store_(store), pool_(pool), options_(std::move(options)) {}

  // Whether `request` is for S3: signed for service "s3", addressed to a
  // bucket's virtual host, or (unsigned: the web console, which signs in with a
  // session cookie) carrying the header X-Nimbus-Service: s3.
  static bool Matches(const http::Request& request);

  void Handle(http::Request&& request, http::Responder responder);
  http::Response HandleSync(const http::Request& request);

 private:
  ObjectStore& store_;
  BlockingPool& pool_;
  const S3ApiOptions options_;
};

// The bucket named by a virtual-hosted-style Host header ("b.localhost:9000" ->
// "b"), or "" for any other host.
std::string VirtualHostBucket(std::string_view host);

}  // namespace nimbus::s3
