package dev.nimbus.lambda;

import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import com.amazonaws.services.lambda.runtime.logging.LogFormat;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOError;
import java.io.IOException;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Nimbus's Java runtime interface client: loads the handler named by _HANDLER (or argv[0])
 * from /var/task and runs the Runtime API loop. Started by the daemon as
 * {@code java <flags> -cp /var/runtime/java/nimbus-java-runtime.jar:... dev.nimbus.lambda.Bootstrap}.
 *
 * <p>Errors are posted as Lambda's Java runtime posts them:
 * {@code {"errorMessage","errorType","stackTrace":[StackTraceElement.toString()...]}} with the
 * exception class as Lambda-Runtime-Function-Error-Type; faults found by the runtime
 * itself (class or method missing) carry only errorMessage and errorType.
 */
public final class Bootstrap {
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";

    private Bootstrap() {
    }

    /** context.getLogger() and LambdaRuntime.getLogger(): one record per call on stdout. */
    static final class FunctionLogger implements LambdaLogger {
        private final PrintStream out;
        private final LogFormat format;
        private final LogLevel minLevel;
        volatile String requestId;

        FunctionLogger(PrintStream out) {
            this.out = out;
            this.format = LogFormat.fromString(System.getenv("AWS_LAMBDA_LOG_FORMAT"));
            LogLevel l = LogLevel.fromString(System.getenv("AWS_LAMBDA_LOG_LEVEL"));
            this.minLevel = l == LogLevel.UNDEFINED ? LogLevel.UNDEFINED : l;
        }

        @Override
        public void log(String message) {
            log(message, LogLevel.UNDEFINED);
        }

        @Override
        public void log(byte[] message) {
            log(new String(message, StandardCharsets.UTF_8), LogLevel.UNDEFINED);
        }

        @Override
        public void log(byte[] message, LogLevel level) {
            log(new String(message, StandardCharsets.UTF_8), level);
        }

        @Override
        public void log(String message, LogLevel level) {
            if (message == null) {
                message = "null";
            }
            synchronized (out) {
                if (format == LogFormat.JSON) {
                    // Levels filter only in JSON format, as on Lambda.
                    if (level != LogLevel.UNDEFINED && minLevel != LogLevel.UNDEFINED
                            && level.ordinal() < minLevel.ordinal()) {
                        return;
                    }
                    StringBuilder sb = new StringBuilder(message.length() + 128);
                    sb.append("{\"timestamp\":");
                    Json.quote(sb, Instant.now().toString());
                    if (level != LogLevel.UNDEFINED) {
                        sb.append(",\"level\":");
                        Json.quote(sb, level.name());
                    }
                    sb.append(",\"message\":");
                    Json.quote(sb, message);
                    if (requestId != null) {
                        sb.append(",\"AWSRequestId\":");
                        Json.quote(sb, requestId);
                    }
                    sb.append("}\n");
                    out.print(sb);
                } else {
                    // Lambda frames each call as one record; on a line-based log the
                    // record ends with a newline.
                    out.print(message.endsWith("\n") ? message : message + "\n");
                }
                out.flush();
            }
        }
    }

    /** The smallest JSON writer the error documents need. */
    static final class Json {
        static void quote(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    case '\b': sb.append("\\b"); break;
                    case '\f': sb.append("\\f"); break;
                    default:
                        if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                }
            }
            sb.append('"');
        }

        static byte[] error(String message, String type, String[] stackTrace) {
            StringBuilder sb = new StringBuilder(256);
            sb.append("{\"errorMessage\":");
            quote(sb, message == null ? "" : message);
            if (type != null) {
                sb.append(",\"errorType\":");
                quote(sb, type);
            }
            if (stackTrace != null) {
                sb.append(",\"stackTrace\":[");
                for (int i = 0; i < stackTrace.length; i++) {
                    if (i > 0) {
                        sb.append(',');
                    }
                    quote(sb, stackTrace[i]);
                }
                sb.append(']');
            }
            sb.append('}');
            return sb.toString().getBytes(StandardCharsets.UTF_8);
        }
    }

    private static PrintStream utf8Stream(FileDescriptor fd) {
        return new PrintStream(new BufferedOutputStream(new FileOutputStream(fd), 8192), true,
                StandardCharsets.UTF_8);
    }

    /** /var/task, /var/task/lib/*.jar, then the layers' /opt/java/lib/*.jar and /opt/java. */
    static URL[] userClassPath(String taskRoot) {
        List<URL> urls = new ArrayList<>();
        try {
            urls.add(new File(taskRoot).toURI().toURL());
            addJars(urls, new File(taskRoot, "lib"));
            addJars(urls, new File("/opt/java/lib"));
            File optJava = new File("/opt/java");
            if (optJava.isDirectory()) {
                urls.add(optJava.toURI().toURL());
            }
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        return urls.toArray(new URL[0]);
    }

    private static void addJars(List<URL> urls, File dir) throws MalformedURLException {
        File[] jars = dir.listFiles((d, name) -> name.endsWith(".jar"));
        if (jars == null) {
            return;
        }
        Arrays.sort(jars);
        for (File j : jars) {
            urls.add(j.toURI().toURL());
        }
    }

    private static void flushStd() {
        System.out.flush();
        System.err.flush();
    }

    public static void main(String[] args) {
        PrintStream out = utf8Stream(FileDescriptor.out);
        System.setOut(out);
        System.setErr(utf8Stream(FileDescriptor.err));
        String address = System.getenv("AWS_LAMBDA_RUNTIME_API");
        String handler = args.length > 0 ? args[0] : System.getenv("_HANDLER");
        if (address == null || address.isEmpty() || handler == null || handler.isEmpty()) {
            System.err.println("nimbus runtime: AWS_LAMBDA_RUNTIME_API and _HANDLER must be set");
            System.exit(2);
        }
        FunctionLogger logger = new FunctionLogger(out);
        LambdaRuntime.setLogger(logger);
        RuntimeApiClient client = new RuntimeApiClient(address);
        try {
            run(client, handler, logger);
        } catch (IOException e) {
            flushStd();
            System.err.println("nimbus runtime: runtime api failure: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(RuntimeApiClient client, String handler, FunctionLogger logger) throws IOException {
        String taskRoot = System.getenv("LAMBDA_TASK_ROOT");
        if (taskRoot == null || taskRoot.isEmpty()) {
            taskRoot = System.getProperty("user.dir");
        }
        URLClassLoader loader = new URLClassLoader(userClassPath(taskRoot), ClassLoader.getSystemClassLoader());
        Thread.currentThread().setContextClassLoader(loader);

        HandlerLoader.Invoker invoker;
        try {
            invoker = HandlerLoader.load(handler, loader);
        } catch (UserFault f) {
            reportInitError(client, logger, f);
            return;
        } catch (Throwable t) {
            // Anything else escaping user init code (e.g. a Jackson type problem).
            reportInitError(client, logger, HandlerLoader.initError(t, HandlerLoader.className(handler)));
            return;
        }

        ByteArrayOutputStream output = new ByteArrayOutputStream(1024);
        while (true) {
            RuntimeApiClient.Response next = client.next();
            String requestId = next.header("lambda-runtime-aws-request-id");
            if (requestId == null) {
                requestId = "";
            }
            String trace = next.header("lambda-runtime-trace-id");
            if (trace != null && !trace.isEmpty()) {
                System.setProperty(TRACE_PROPERTY, trace);
            } else {
                System.clearProperty(TRACE_PROPERTY);
            }
            logger.requestId = requestId;
            output.reset();
            UserFault fault = null;
            byte[] errorDoc = null;
            String errorType = null;
            boolean exit = false;
            try {
                InvocationContext context = context(next, requestId, trace, logger);
                invoker.call(next.body, output, context);
            } catch (UserFault f) {
                fault = f;
                exit = f.fatal;
                errorDoc = Json.error(f.msg, f.type, null);
                errorType = f.type;
            } catch (Throwable t) {
                UserFault.filterStackTrace(t);
                fault = UserFault.of(t, false);
                StackTraceElement[] frames = t.getStackTrace();
                String[] trace2 = new String[frames.length];
                for (int i = 0; i < frames.length; i++) {
                    trace2[i] = frames[i].toString();
                }
                errorDoc = Json.error(UserFault.messageOf(t), t.getClass().getName(), trace2);
                errorType = t.getClass().getName();
                exit = t instanceof VirtualMachineError || t instanceof IOError;
            }
            Thread.interrupted();  // a flag left by user code must not break the next read
            if (fault != null) {
                logger.log(fault.reportable());
                flushStd();
                client.postError(requestId, errorDoc, errorType);
                if (exit) {
                    flushStd();
                    System.exit(1);
                }
            } else {
                flushStd();
                client.postResponse(requestId, output.toByteArray(), "application/json");
            }
        }
    }

    private static InvocationContext context(RuntimeApiClient.Response next, String requestId, String trace,
                                             FunctionLogger logger) throws IOException {
        long deadline = 0;
        String d = next.header("lambda-runtime-deadline-ms");
        if (d != null) {
            try {
                deadline = Long.parseLong(d.trim());
            } catch (NumberFormatException ignored) {
                deadline = 0;
            }
        }
        String cognito = next.header("lambda-runtime-cognito-identity");
        String clientContext = next.header("lambda-runtime-client-context");
        CognitoIdentity identity = cognito == null || cognito.isEmpty() ? null : JacksonCodec.parseIdentity(cognito);
        ClientContext cc = clientContext == null || clientContext.isEmpty() ? null
                : JacksonCodec.parseClientContext(clientContext);
        return new InvocationContext(requestId, deadline, next.header("lambda-runtime-invoked-function-arn"),
                trace, next.header("lambda-runtime-aws-tenant-id"), identity, cc, logger);
    }

    private static void reportInitError(RuntimeApiClient client, FunctionLogger logger, UserFault f)
            throws IOException {
        logger.log(f.reportable());
        flushStd();
        client.postError(null, Json.error(f.msg, f.type, null), f.type);
        flushStd();
        System.exit(1);
    }
}
