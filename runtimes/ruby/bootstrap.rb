# frozen_string_literal: true

# Nimbus's Ruby runtime interface client (stdlib only, one file). Started by the daemon as
# `/usr/bin/ruby /var/runtime/ruby/bootstrap.rb` with cwd /var/task; speaks the Lambda Runtime
# API 2018-06-01 at http://$AWS_LAMBDA_RUNTIME_API.
#
# Behaviour follows Lambda's Ruby runtime (aws_lambda_ric): handler `file.method` or
# `file.Module::Class.method`, called with keyword arguments `event:` and `context:`; the
# result is sent as `result.to_json` (an IO/StringIO is sent raw as application/unknown);
# errors are posted as {"errorMessage","errorType":"Function<Class>","stackTrace":[...]};
# a failure while loading the handler file is posted to /init/error as `Init<Class>`.

require 'socket'
require 'json'
require 'stringio'
require 'logger'

$stdout.sync = true
$stderr.sync = true

module NimbusLambda
  RUNTIME_PREFIX = '/2018-06-01/runtime'
  USER_AGENT = "nimbus-ruby/#{RUBY_VERSION}"
  BOOTSTRAP_FILE = File.expand_path(__FILE__)

  # The Runtime API is unusable: the runtime exits.
  class RuntimeApiError < StandardError; end

  # Minimal HTTP/1.1 client on one keep-alive connection (Net::HTTP costs ~30 ms to load and
  # opens a connection per request). A reused connection found closed before any response
  # byte arrived is re-opened once.
  class RuntimeApiClient
    Response = Struct.new(:status, :headers, :body)

    def initialize(address)
      host, _, port = address.rpartition(':')
      host, port = address, '80' if host.empty?
      @host = host.delete_prefix('[').delete_suffix(']')
      @port = Integer(port)
      @host_header = address
      @sock = nil
    end

    def next_invocation
      r = request('GET', "#{RUNTIME_PREFIX}/invocation/next")
      raise RuntimeApiError, "GET /runtime/invocation/next returned #{r.status}: #{r.body[0, 512]}" if r.status != 200

      r
    end

    def post_response(request_id, body, content_type)
      post("/invocation/#{quote(request_id)}/response", body, 'Content-Type' => content_type)
    end

    # request_id nil: /init/error.
    def post_error(request_id, error_json, error_type)
      headers = { 'Content-Type' => 'application/json' }
      headers['Lambda-Runtime-Function-Error-Type'] = error_type if error_type
      path = request_id.nil? ? '/init/error' : "/invocation/#{quote(request_id)}/error"
      post(path, error_json, headers)
    end

    private

    def quote(id)
      id.b.gsub(/[^A-Za-z0-9\-_.~]/) { |c| format('%%%02X', c.ord) }
    end

    def post(path, body, headers)
      r = request('POST', RUNTIME_PREFIX + path, body.b, headers)
      return if r.status == 202

      # 413 (response too large; the platform fails the invoke itself) and other 4xx are
      # reported and the loop goes on; 5xx means the environment is broken.
      if r.status >= 400 && r.status < 500
        $stderr.write("nimbus runtime: POST #{path} returned #{r.status}: #{r.body[0, 512]}\n")
        return
      end
      raise RuntimeApiError, "POST #{path} returned #{r.status}: #{r.body[0, 512]}"
    end

    def connect
      @sock = Socket.tcp(@host, @port)
      @sock.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      @buf = String.new(encoding: Encoding::BINARY)
    rescue SystemCallError, SocketError => e
      raise RuntimeApiError, "cannot connect to runtime api #{@host_header}: #{e.message}"
    end

    def close
      @sock&.close
    rescue IOError
      nil
    ensure
      @sock = nil
    end

    def request(method, path, body = nil, headers = nil)
      head = +"#{method} #{path} HTTP/1.1\r\nHost: #{@host_header}\r\nUser-Agent: #{USER_AGENT}\r\n"
      head << "Content-Length: #{body.bytesize}\r\n" if body
      headers&.each { |k, v| head << "#{k}: #{v}\r\n" }
      head << "\r\n"
      data = body ? head.b + body : head.b
      2.times do |attempt|
        reused = !@sock.nil?
        connect unless reused
        begin
          @sock.write(data)
          status_line = read_line
          raise EOFError, 'connection closed before response' if status_line.nil?
        rescue SystemCallError, IOError
          close
          next if reused && attempt.zero?

          raise
        end
        begin
          return read_response(status_line)
        rescue SystemCallError, IOError
          close
          raise
        end
      end
    end

    def fill
      chunk = @sock.readpartial(65_536)
      @buf << chunk
      true
    rescue EOFError
      false
    end

    def read_line
      loop do
        i = @buf.index("\n")
        if i
          line = @buf.slice!(0, i + 1)
          return line.chomp
        end
        next if fill

        return nil if @buf.empty?

        line = @buf.dup
        @buf.clear
        return line
      end
    end

    def read_exact(n)
      while @buf.bytesize < n
        raise EOFError, 'connection closed inside response body' unless fill
      end
      @buf.slice!(0, n)
    end

    def read_response(status_line)
      version, code, = status_line.split(' ', 3)
      raise RuntimeApiError, "bad status line from runtime api: #{status_line.inspect}" unless version&.start_with?('HTTP/') && code

      status = Integer(code)
      headers = {}
      loop do
        line = read_line
        raise EOFError, 'connection closed inside response headers' if line.nil?
        break if line.empty?

        name, value = line.split(':', 2)
        headers[name.strip.downcase] = value.to_s.strip
      end
      close_after = headers['connection']&.casecmp?('close') || version == 'HTTP/1.0'
      body =
        if headers['transfer-encoding']&.casecmp?('chunked')
          read_chunked
        elsif headers['content-length']
          read_exact(Integer(headers['content-length']))
        elsif status == 204 || status == 304 || status < 200
          +''
        else
          nil while fill
          close_after = true
          @buf.slice!(0, @buf.bytesize)
        end
      close if close_after
      Response.new(status, headers, body)
    end

    def read_chunked
      out = String.new(encoding: Encoding::BINARY)
      loop do
        size_line = read_line
        raise EOFError, 'connection closed inside chunked body' if size_line.nil?

        size = size_line.split(';', 2)[0].strip.to_i(16)
        if size.zero?
          loop { l = read_line; break if l.nil? || l.empty? }
          return out
        end
        out << read_exact(size)
        read_line
      end
    end
  end

  # The context object, with the attribute names of Lambda's Ruby runtime.
  class LambdaContext
    attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
                :function_name, :memory_limit_in_mb, :function_version, :identity,
                :client_context, :deadline_ms, :tenant_id

    def initialize(headers)
      @deadline_ms = headers['lambda-runtime-deadline-ms'].to_i
      @aws_request_id = headers['lambda-runtime-aws-request-id']
      @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
      @tenant_id = headers['lambda-runtime-aws-tenant-id']
      @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
      @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
      @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
      @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
      @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
      cognito = headers['lambda-runtime-cognito-identity']
      client_context = headers['lambda-runtime-client-context']
      @identity = JSON.parse(cognito) if cognito && !cognito.empty?
      @client_context = JSON.parse(client_context) if client_context && !client_context.empty?
    end

    def get_remaining_time_in_millis
      remaining = @deadline_ms - Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      remaining.positive? ? remaining : 0
    end
  end

  # An error as Lambda's Ruby runtime reports it: errorType "<Classification><Class>".
  class LambdaError
    STANDARD = %w[ArgumentError NoMethodError Exception StandardError NameError LoadError
                  SystemExit SystemStackError].freeze

    attr_reader :original

    def initialize(original, classification = 'Function')
      @original = original
      @error_class = original.class.to_s
      @error_type = "#{classification}<#{original.class}>"
      @error_message = original.message
      @stack_trace = sanitize(original.backtrace_locations || [])
    end

    # The Lambda-Runtime-Function-Error-Type header: user-defined classes are not named.
    def runtime_error_type
      STANDARD.include?(@error_class) ? @error_type : 'Function<UserException>'
    end

    def to_lambda_response
      { errorMessage: @error_message, errorType: @error_type, stackTrace: @stack_trace }
    end

    private

    # The first 100 frames, cut at the first frame of this runtime.
    def sanitize(locations)
      out = []
      locations.first(100).each do |loc|
        break if loc.absolute_path == BOOTSTRAP_FILE || loc.path == BOOTSTRAP_FILE

        out << loc.to_s
      end
      out
    end
  end

  # Logger.new($stdout) / Logger.new($stderr) in function code get Lambda's formatter, which
  # adds the request id (as the Ruby runtime's logger patch does).
  class LogFormatter < ::Logger::Formatter
    FORMAT = '%<sev>s, [%<datetime>s #%<process>d] %<severity>5s %<request_id>s -- %<progname>s: %<msg>s'

    def call(severity, time, progname, msg)
      line = format(FORMAT, sev: severity[0, 1], datetime: format_datetime(time), process: $$,
                            severity: severity, request_id: $_global_aws_request_id,
                            progname: progname, msg: msg2str(msg))
      "#{line.encode('UTF-8', invalid: :replace, undef: :replace, replace: "\uFFFD")}\n"
    end
  end

  class JsonLogFormatter < ::Logger::Formatter
    def call(severity, time, progname, msg)
      payload = {
        timestamp: time.utc.strftime('%Y-%m-%dT%H:%M:%S.%6NZ'),
        level: severity,
        message: utf8(msg.is_a?(Exception) ? msg.message : msg2str(msg)),
        requestId: $_global_aws_request_id
      }
      payload[:logger] = utf8(progname) unless progname.nil? || progname.to_s.empty?
      if msg.is_a?(Exception)
        payload[:errorType] = msg.class.to_s
        payload[:errorMessage] = utf8(msg.message)
        payload[:stackTrace] = Array(msg.backtrace).map { |l| utf8(l) }
      end
      "#{JSON.generate(payload.compact)}\n"
    end

    private

    def utf8(value)
      value.to_s.encode('UTF-8', invalid: :replace, undef: :replace, replace: "\uFFFD")
    end
  end

  module LoggerPatch
    def initialize(logdev, *args, **kwargs)
      super
      return unless kwargs[:formatter].nil? && [$stdout, $stderr, STDOUT, STDERR].include?(logdev)

      self.formatter =
        ENV['AWS_LAMBDA_LOG_FORMAT'].to_s.casecmp?('JSON') ? JsonLogFormatter.new : LogFormatter.new
    end
  end
  ::Logger.prepend(LoggerPatch)

  # The handler string: file.method or file.Module::Class.method.
  class Handler
    attr_reader :file_name, :class_name, :method_name

    def initialize(handler)
      parts = handler.split('.')
      case parts.size
      when 2 then @file_name, @method_name = parts
      when 3 then @file_name, @class_name, @method_name = parts
      else
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or " \
                             'FILENAME.CLASS.METHOD where FILENAME corresponds with an existing Ruby ' \
                             'source file FILENAME.rb, CLASS is an optional module/class namespace and ' \
                             'METHOD is a callable method. If using CLASS, METHOD must be a class-level method.'
      end
    end

    def call(event, context)
      if @class_name
        Object.const_get(@class_name).send(@method_name, event: event, context: context)
      else
        TOPLEVEL_BINDING.receiver.__send__(@method_name, event: event, context: context)
      end
    end
  end

  class Runner
    def initialize(client, handler_string)
      @client = client
      @handler_string = handler_string
    end

    def log_error(message, error)
      $stdout.write("#{message}\n#{JSON.pretty_generate(error.to_lambda_response)}\n")
    end

    def run
      task_root = ENV['LAMBDA_TASK_ROOT'] || Dir.pwd
      $LOAD_PATH.unshift(task_root) unless $LOAD_PATH.include?(task_root)
      begin
        @handler = Handler.new(@handler_string)
        require @handler.file_name
      rescue Exception => e # rubocop:disable Lint/RescueException -- anything raised by user code at load
        err = LambdaError.new(e, 'Init')
        log_error("Init error when loading handler #{@handler_string}", err)
        @client.post_error(nil, JSON.generate(err.to_lambda_response), err.runtime_error_type)
        exit!(252) # exit(-4), as Lambda's Ruby runtime; exit! skips at_exit hooks of user code
      end
      loop { invoke(@client.next_invocation) }
    end

    def invoke(next_response)
      headers = next_response.headers
      request_id = headers['lambda-runtime-aws-request-id'] || ''
      $_global_aws_request_id = request_id
      trace = headers['lambda-runtime-trace-id']
      if trace && !trace.empty?
        ENV['_X_AMZN_TRACE_ID'] = trace
      else
        ENV.delete('_X_AMZN_TRACE_ID')
      end

      critical = false
      begin
        context = LambdaContext.new(headers)
        body = next_response.body
        event = headers['content-type'] == 'application/json' || headers['content-type'].nil? ? JSON.parse(body.force_encoding(Encoding::UTF_8)) : body
      rescue StandardError => e
        err = LambdaError.new(e, 'Runtime')
        @client.post_error(request_id, JSON.generate(err.to_lambda_response), err.runtime_error_type)
        return
      end

      begin
        result = @handler.call(event, context)
        if result.is_a?(StringIO) || result.is_a?(IO)
          payload = result.read.to_s
          content_type = 'application/unknown'
        else
          payload = result.to_json
          content_type = 'application/json'
        end
      rescue NoMethodError, NameError => e
        # Lambda treats these (a missing handler method included) as critical: the error is
        # reported and the environment ends.
        err = LambdaError.new(e)
        critical = true
        log_error('Critical exception from handler', err)
      rescue StandardError => e
        err = LambdaError.new(e)
        log_error('Error raised from handler method', err)
      rescue Exception => e # rubocop:disable Lint/RescueException -- SystemExit, NoMemoryError, ScriptError...
        err = LambdaError.new(e)
        critical = true
        log_error('Critical exception from handler', err)
      end

      if err
        @client.post_error(request_id, JSON.generate(err.to_lambda_response), err.runtime_error_type)
        exit!(255) if critical # exit(-1)
      else
        @client.post_response(request_id, payload, content_type)
      end
    end
  end

  def self.main
    address = ENV['AWS_LAMBDA_RUNTIME_API']
    handler = ARGV[0] || ENV['_HANDLER']
    if address.nil? || address.empty? || handler.nil? || handler.empty?
      $stderr.write("nimbus runtime: AWS_LAMBDA_RUNTIME_API and _HANDLER must be set\n")
      exit!(2)
    end
    client = RuntimeApiClient.new(address)
    begin
      Runner.new(client, handler).run
    rescue RuntimeApiError, SystemCallError, IOError => e
      $stderr.write("nimbus runtime: runtime api failure: #{e.message}\n")
      exit!(1)
    end
  end
end

NimbusLambda.main if $PROGRAM_NAME == __FILE__
