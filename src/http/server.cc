// The one translation unit that speaks Boost.Beast for serving (it costs ~25 s to
// compile; keep it that way).
#include "http/server.h"

#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "base/check.h"
#include "base/log.h"
#include "base/reactor_asio.h"
#include "http/request_parser.h"

namespace nimbus::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::string_view_literals;

namespace {

class Session;

// Shared by a Listener, its acceptor loop and its sessions. Confined to the reactor.
struct ListenerCore {
  ListenerCore(Reactor& r, Handler h, ListenerOptions o)
      : reactor(r), acceptor(AsioContext(r)), handler(std::move(h)), options(std::move(o)) {}
  Reactor& reactor;
  tcp::acceptor acceptor;
  Handler handler;
  ListenerOptions options;
  std::unordered_set<Session*> sessions;
  bool closed = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ListenerCore> core, tcp::socket socket)
      : core_(std::move(core)), socket_(std::move(socket)) {
    core_->sessions.insert(this);
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    socket_.set_option(tcp::no_delay(true), ec);
    // Deliver() writes at once and hands only a remainder to the reactor; in
    // non-blocking mode a full socket buffer answers would_block instead of waiting.
    socket_.non_blocking(true, ec);
  }
  ~Session() { core_->sessions.erase(this); }

  void Start() { ReadHeader(); }

  // A request is being handled or its response written.
  bool busy() const { return awaiting_response_ || writing_; }

  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // Half-closes, then discards what the peer still sends (an unread request body)
  // for a bounded time before closing, so the peer reads our response instead of
  // a connection reset.
  void Linger() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor(),
                                                      std::chrono::seconds(2));
    timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Close();
    });
    Drain(timer);
  }
  void Drain(std::shared_ptr<asio::steady_timer> timer) {
    drain_.resize(64 * 1024);
    socket_.async_read_some(asio::buffer(drain_), [self = shared_from_this(), timer](
                                                      const boost::system::error_code& ec, size_t) {
      if (ec) {
        timer->cancel();
        self->Close();
        return;
      }
      self->Drain(timer);
    });
  }

  // Called through a Responder, on the reactor thread.
  void Deliver(uint64_t seq, Response&& response);
  void Abandon(uint64_t seq) {
    if (seq == seq_ && awaiting_response_) Close();
  }

 private:
  // Starts a new request: parses what is already buffered (from the reactor,
  // not from the caller's stack), reads the rest.
  void ReadHeader();
  // Feeds the buffered bytes to the parser and acts on what it completes; reads
  // more when it needs more.
  void Parse();
  void ReadMore();
  // The header is parsed. Returns false if Parse() must stop: the request was
  // dispatched (its declared body is too large) or a 100 Continue is being written.
  bool OnHeader();
  void Dispatch(bool body_too_large, uint64_t declared);
  // Serializes the status line and headers of `response` into head_.
  void SerializeHead(const Response& response);
  // The head and body_ are written: sends file_, if any, then OnWritten().
  void OnHeadWritten(const boost::system::error_code& ec);
  // Sends file_ with sendfile(2) as the socket takes it, yielding to the reactor
  // every few MiB so one large download does not hold up other connections.
  void SendFile();
  // The response is written (or writing failed): read the next request or close.
  void OnWritten(const boost::system::error_code& ec);

  std::shared_ptr<ListenerCore> core_;
  tcp::socket socket_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  bool header_done_ = false;  // of the request being parsed
  unsigned version_ = 11;  // of the request being answered: 10 or 11
  // The response being written: head (reused, so steady state allocates nothing) and body.
  std::string head_;
  std::string body_;
  std::shared_ptr<FileBody> file_;
  bool keep_alive_ = true;
  // The request being answered is a HEAD: its response is sent without content
  // (RFC 9110 9.3.2), whatever the handler put in the body, since the client
  // reads none and would take it for the next response.
  bool head_request_ = false;
  bool awaiting_response_ = false;
  bool writing_ = false;
  std::string drain_;
  uint64_t seq_ = 0;  // request number on this connection; ties a Responder to its request
};

}  // namespace

struct Responder::State {
  Reactor* reactor;
  // Keeps the session alive while its request is parked (e.g. a runtime's /next).
  std::shared_ptr<Session> session;
  uint64_t seq;
  bool done = false;
};

Responder::~Responder() {
  if (!state_ || state_->done) return;
  // Never answered: close the connection rather than leave the client hanging.
  // The state (and so the session) is moved into the task, never copied: the
  // last reference must drop on the reactor, which alone may touch a session.
  Reactor* reactor = state_->reactor;
  reactor->Post([state = std::move(state_)] {
    state->session->Abandon(state->seq);
  });
}

void Responder::Respond(Response response) {
  NIMBUS_CHECK(state_ && !state_->done) << "Responder used twice or empty";
  state_->done = true;
  auto state = std::move(state_);
  if (state->reactor->InReactorThread()) {
    state->session->Deliver(state->seq, std::move(response));
    return;
  }
  // Moved, not copied, into the task (see ~Responder).
  Reactor* reactor = state->reactor;
  reactor->Post([state = std::move(state), response = std::move(response)]() mutable {
    state->session->Deliver(state->seq, std::move(response));
  });
}

namespace {

void Session::ReadHeader() {
  if (core_->closed) return;
  parser_.emplace();
  // Declared lengths are checked by hand in OnHeader (so the handler can answer
  // 413 itself); the parser's own limit is set there for chunked bodies.
  parser_->body_limit(boost::none);
  parser_->header_limit(kMaxRequestHeaderBytes);
  header_done_ = false;
  if (buffer_.size() == 0) {
    ReadMore();
    return;
  }
  // A pipelined request is already buffered. ReadHeader may run inside a
  // handler (a response written at once from Respond()), so the next request
  // is parsed and dispatched from the reactor, never nested in that handler.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (!self->core_->closed) self->Parse();
  });
}

void Session::Parse() {
  while (buffer_.size() > 0) {
    beast::error_code ec;
    size_t used = parser_->Put(static_cast<const char*>(buffer_.data().data()), buffer_.size(), ec);
    buffer_.consume(used);
    if (ec == beast::http::error::need_more) break;
    if (ec == beast::http::error::body_limit) {
      Dispatch(/*body_too_large=*/true, core_->options.max_body_bytes + 1);
      return;
    }
    if (ec) return;  // malformed: drop the connection
    if (!header_done_ && parser_->is_header_done()) {
      header_done_ = true;
      if (!OnHeader()) return;
    }
    if (parser_->is_done()) {
      Dispatch(false, 0);
      return;
    }
    if (used == 0) break;
  }
  ReadMore();
}

void Session::ReadMore() {
  // Room for 64 KiB more, as Beast's read loop gives itself.
  size_t room = std::min<size_t>(64 * 1024, buffer_.max_size() - buffer_.size());
  socket_.async_read_some(buffer_.prepare(room), [self = shared_from_this()](
                                                     const boost::system::error_code& ec,
                                                     size_t n) {
    if (ec || self->core_->closed) return;  // peer closed (mid-request or not): drop
    self->buffer_.commit(n);
    self->Parse();
  });
}

bool Session::OnHeader() {
  auto declared = parser_->content_length();
  if (declared && *declared > core_->options.max_body_bytes) {
    Dispatch(/*body_too_large=*/true, *declared);
    return false;
  }
  parser_->body_limit(core_->options.max_body_bytes);
  if (parser_->request().headers.Get("Expect") == std::string_view("100-continue")) {
    static constexpr std::string_view kContinue11 = "HTTP/1.1 100 Continue\r\n\r\n";
    static constexpr std::string_view kContinue10 = "HTTP/1.0 100 Continue\r\n\r\n";
    std::string_view interim = parser_->version() == 10 ? kContinue10 : kContinue11;
    asio::async_write(socket_, asio::buffer(interim.data(), interim.size()),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        if (!ec && !self->core_->closed) self->Parse();
                      });
    return false;
  }
  return true;
}

void Session::Dispatch(bool body_too_large, uint64_t declared) {
  Request req = std::move(parser_->request());
  req.remote_address = remote_;
  req.body_too_large = body_too_large;
  if (body_too_large) {
    req.body.clear();
    req.declared_body_size = declared;
    keep_alive_ = false;  // the unread body makes the stream unusable
  } else {
    req.declared_body_size = req.body.size();
    keep_alive_ = parser_->keep_alive();
  }
  version_ = parser_->version();
  head_request_ = req.method == "HEAD";
  parser_.reset();
  ++seq_;
  awaiting_response_ = true;
  auto state = std::make_shared<Responder::State>();
  state->reactor = &core_->reactor;
  state->session = shared_from_this();
  state->seq = seq_;
  core_->handler(std::move(req), Responder(std::move(state)));
}

// Appends `text` without CR and LF: a header line must not end early (no
// response splitting, whatever a handler put in a value).
void AppendHeaderText(std::string& out, std::string_view text) {
  // Two memchr scans; string_view::find_first_of would make a call per byte.
  if (text.find('\r') == std::string_view::npos && text.find('\n') == std::string_view::npos) {
    out += text;
    return;
  }
  for (char c : text) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
}

// Framing headers are the server's: the handler's are dropped.
bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
         EqualsIgnoreCase(name, "Connection");
}

// The same bytes Beast's serializer wrote for a string_body response after
// prepare_payload(): status line with the standard reason, the handler's headers
// in order, Server, Content-Length (always, as prepare_payload sets it), and the
// Connection header that keep-alive needs for the request's version.
void Session::SerializeHead(const Response& response) {
  head_.clear();
  head_ += version_ == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv;
  char digits[24];
  auto status = static_cast<unsigned>(response.status);
  head_.append(digits, std::to_chars(digits, digits + sizeof digits, status).ptr);
  head_ += ' ';
  head_ += beast::http::obsolete_reason(beast::http::int_to_status(status));
  head_ += "\r\n"sv;
  for (const auto& [k, v] : response.headers.entries()) {
    if (IsFramingHeader(k)) continue;
    AppendHeaderText(head_, k);
    head_ += ": "sv;
    AppendHeaderText(head_, v);
    head_ += "\r\n"sv;
  }
  if (!core_->options.server_name.empty() && !response.headers.Has("Server")) {
    head_ += "Server: "sv;
    AppendHeaderText(head_, core_->options.server_name);
    head_ += "\r\n"sv;
  }
  head_ += "Content-Length: "sv;
  head_.append(digits,
               std::to_chars(digits, digits + sizeof digits,
                             response.head_content_length.value_or(
                                 response.file ? response.file->length : response.body.size()))
                   .ptr);
  head_ += "\r\n"sv;
  if (version_ == 10 && keep_alive_) head_ += "Connection: keep-alive\r\n"sv;
  if (version_ != 10 && !keep_alive_) head_ += "Connection: close\r\n"sv;
  head_ += "\r\n"sv;
}

void Session::Deliver(uint64_t seq, Response&& response) {
  if (seq != seq_ || !awaiting_response_ || core_->closed) return;
  awaiting_response_ = false;
  SerializeHead(response);
  if (head_request_) {
    response.body.clear();
    response.file.reset();
  }
  body_ = std::move(response.body);
  file_ = std::move(response.file);
  // One sendmsg now: a response almost always fits the socket buffer, and then
  // no write operation, handler or reactor round trip is needed.
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
  boost::system::error_code ec;
  size_t written = socket_.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    written = 0;
    ec = {};
  }
  if (ec || written == head_.size() + body_.size()) {
    OnHeadWritten(ec);
    return;
  }
  // The rest when the socket has room.
  writing_ = true;
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(buffers);
  rest.consume(written);
  asio::async_write(socket_, rest,
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->writing_ = false;
                      self->OnHeadWritten(ec);
                    });
}

void Session::OnHeadWritten(const boost::system::error_code& ec) {
  if (!ec && file_ && !core_->closed) {
    SendFile();
    return;
  }
  OnWritten(ec);
}

void Session::SendFile() {
  constexpr size_t kChunk = 1 << 20;
  for (int chunks = 0; file_->length > 0; ++chunks) {
    if (chunks == 8) {
      // Let other connections run; continue from the reactor's queue.
      writing_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->writing_ = false;
        if (self->core_->closed) return;
        self->SendFile();
      });
      return;
    }
    auto offset = static_cast<off_t>(file_->offset);
    ssize_t n = ::sendfile(socket_.native_handle(), file_->fd.get(), &offset,
                           static_cast<size_t>(std::min<uint64_t>(file_->length, kChunk)));
    if (n > 0) {
      file_->offset += static_cast<uint64_t>(n);
      file_->length -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writing_ = true;
      socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->writing_ = false;
        if (ec || self->core_->closed) {
          self->OnWritten(ec ? ec : asio::error::operation_aborted);
          return;
        }
        self->SendFile();
      });
      return;
    }
    // The file ended early or could not be read: the promised Content-Length
    // cannot be kept, so the connection ends here.
    log::Warn("http: response body file: {}", n == 0 ? "shorter than its length" : std::strerror(errno));
    Close();
    OnWritten(asio::error::connection_aborted);
    return;
  }
  OnWritten({});
}

void Session::OnWritten(const boost::system::error_code& ec) {
  std::string().swap(body_);  // a large body's buffer is not kept for the connection's life
  file_.reset();
  if (ec || core_->closed) return;
  if (!keep_alive_) {
    Linger();
    return;
  }
  ReadHeader();
}

void Accept(std::shared_ptr<ListenerCore> core) {
  core->acceptor.async_accept([core](const boost::system::error_code& ec, tcp::socket socket) {
    if (core->closed) return;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return;
      // EMFILE and friends: back off instead of spinning.
      log::Warn("http: accept failed: {}", ec.message());
      auto t = std::make_shared<asio::steady_timer>(AsioContext(core->reactor),
                                                    std::chrono::milliseconds(50));
      t->async_wait([core, t](const boost::system::error_code&) { Accept(core); });
      return;
    }
    std::make_shared<Session>(core, std::move(socket))->Start();
    Accept(core);
  });
}

class AsioListener final : public Listener {
 public:
  explicit AsioListener(std::shared_ptr<ListenerCore> core) : core_(std::move(core)) {}
  ~AsioListener() override {
    core_->closed = true;
    boost::system::error_code ec;
    core_->acceptor.close(ec);
    // Copy: closing a session may not erase synchronously, but be safe either way.
    std::vector<Session*> sessions(core_->sessions.begin(), core_->sessions.end());
    for (Session* s : sessions) s->Close();
  }
  uint16_t port() const override {
    boost::system::error_code ec;
    auto ep = core_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
  }
  size_t connection_count() const override { return core_->sessions.size(); }
  size_t busy_count() const override {
    size_t n = 0;
    for (const Session* s : core_->sessions) n += s->busy() ? 1 : 0;
    return n;
  }
  void StopAccepting() override {
    boost::system::error_code ec;
    core_->acceptor.close(ec);
  }

 private:
  std::shared_ptr<ListenerCore> core_;
};

}  // namespace

Result<std::unique_ptr<Listener>> Listen(Reactor& reactor, const std::string& host, uint16_t port,
                                         Handler handler, ListenerOptions options) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument(fmt::format("listen address {}: {}", host, ec.message()));
  auto core = std::make_shared<ListenerCore>(reactor, std::move(handler), std::move(options));
  tcp::endpoint ep(address, port);
  core->acceptor.open(ep.protocol(), ec);
  if (!ec) core->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) core->acceptor.bind(ep, ec);
  if (!ec) core->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(ec == asio::error::address_in_use ? Code::kConflict : Code::kUnavailable,
                  fmt::format("listen on {}:{}: {}", host, port, ec.message()));
  }
  Accept(core);
  return std::unique_ptr<Listener>(std::make_unique<AsioListener>(core));
}

Result<std::unique_ptr<Listener>> Serve(Reactor& reactor, UniqueFd fd, Handler handler,
                                        ListenerOptions options) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Internal(fmt::format("serve fd {}: getsockname: {}", fd.get(), strerror(errno)));
  }
  auto core = std::make_shared<ListenerCore>(reactor, std::move(handler), std::move(options));
  boost::system::error_code ec;
  core->acceptor.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd.get(), ec);
  if (ec) return Internal(fmt::format("serve fd {}: {}", fd.get(), ec.message()));
  fd.Release();  // now owned by the acceptor
  Accept(core);
  return std::unique_ptr<Listener>(std::make_unique<AsioListener>(core));
}

}  // namespace nimbus::http
