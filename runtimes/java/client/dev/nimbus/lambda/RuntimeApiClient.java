package dev.nimbus.lambda;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A minimal HTTP/1.1 client for the Lambda Runtime API (2018-06-01) on one keep-alive
 * connection. java.net.http.HttpClient and HttpURLConnection cost 50-150 ms of class loading
 * at start-up; the Runtime API is plain HTTP on loopback, so a request writer and a
 * Content-Length/chunked reader are enough. A reused connection that turns out to be closed
 * before any response byte arrived is re-opened once. Not thread-safe (one invoke at a time).
 */
final class RuntimeApiClient {
    static final String PREFIX = "/2018-06-01/runtime";
    private static final String USER_AGENT =
            "nimbus-java/" + System.getProperty("java.specification.version");

    /** A response: status, lower-case header names, body. */
    static final class Response {
        final int status;
        final Map<String, String> headers;
        final byte[] body;

        Response(int status, Map<String, String> headers, byte[] body) {
            this.status = status;
            this.headers = headers;
            this.body = body;
        }

        String header(String lowerName) {
            return headers.get(lowerName);
        }
    }

    /** The Runtime API is unusable (unreachable, 5xx, malformed replies): the runtime exits. */
    static final class RuntimeApiException extends IOException {
        private static final long serialVersionUID = 1L;

        RuntimeApiException(String message) {
            super(message);
        }
    }

    private final String host;
    private final int port;
    private final String hostHeader;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    RuntimeApiClient(String address) {
        int colon = address.lastIndexOf(':');
        String h = colon < 0 ? address : address.substring(0, colon);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        this.host = h;
        this.port = colon < 0 ? 80 : Integer.parseInt(address.substring(colon + 1));
        this.hostHeader = address;
    }

    Response next() throws IOException {
        Response r = request("GET", PREFIX + "/invocation/next", null, null);
        if (r.status != 200) {
            throw new RuntimeApiException("GET /runtime/invocation/next returned " + r.status + ": "
                    + new String(r.body, 0, Math.min(r.body.length, 512), StandardCharsets.UTF_8));
        }
        return r;
    }

    void postResponse(String requestId, byte[] body, String contentType) throws IOException {
        Map<String, String> h = new HashMap<>();
        h.put("Content-Type", contentType);
        post("/invocation/" + quote(requestId) + "/response", body, h);
    }

    /** Posts an error document; requestId null means /init/error. */
    void postError(String requestId, byte[] errorJson, String errorType) throws IOException {
        Map<String, String> h = new HashMap<>();
        h.put("Content-Type", "application/json");
        if (errorType != null && !errorType.isEmpty()) {
            h.put("Lambda-Runtime-Function-Error-Type", errorType);
        }
        String path = requestId == null ? "/init/error" : "/invocation/" + quote(requestId) + "/error";
        post(path, errorJson, h);
    }

    private void post(String path, byte[] body, Map<String, String> headers) throws IOException {
        Response r = request("POST", PREFIX + path, body, headers);
        if (r.status == 202) {
            return;
        }
        String text = new String(r.body, 0, Math.min(r.body.length, 512), StandardCharsets.UTF_8);
        // 413: the response was too large; the platform fails the invoke itself. Other 4xx
        // (unknown or already-answered request id): reported, the loop goes on. 5xx: exit.
        if (r.status >= 400 && r.status < 500) {
            System.err.println("nimbus runtime: POST " + path + " returned " + r.status + ": " + text);
            System.err.flush();
            return;
        }
        throw new RuntimeApiException("POST " + path + " returned " + r.status + ": " + text);
    }

    private static String quote(String requestId) {
        StringBuilder sb = new StringBuilder(requestId.length());
        for (byte b : requestId.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '~') {
                sb.append(c);
            } else {
                sb.append('%').append(Character.toUpperCase(Character.forDigit((b >> 4) & 0xf, 16)))
                        .append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
            }
        }
        return sb.toString();
    }

    private void connect() throws IOException {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.connect(new InetSocketAddress(host, port));
        } catch (IOException e) {
            s.close();
            throw new RuntimeApiException("cannot connect to runtime api " + hostHeader + ": " + e);
        }
        socket = s;
        in = new BufferedInputStream(s.getInputStream(), 65536);
        out = s.getOutputStream();
    }

    private void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing to do
            }
        }
        socket = null;
        in = null;
        out = null;
    }

    Response request(String method, String path, byte[] body, Map<String, String> headers)
            throws IOException {
        StringBuilder head = new StringBuilder(256);
        head.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ").append(hostHeader)
                .append("\r\nUser-Agent: ").append(USER_AGENT).append("\r\n");
        if (body != null) {
            head.append("Content-Length: ").append(body.length).append("\r\n");
        }
        if (headers != null) {
            for (Map.Entry<String, String> e : headers.entrySet()) {
                head.append(e.getKey()).append(": ").append(e.getValue()).append("\r\n");
            }
        }
        head.append("\r\n");
        byte[] headBytes = head.toString().getBytes(StandardCharsets.ISO_8859_1);
        for (int attempt = 0; ; attempt++) {
            boolean reused = socket != null;
            if (!reused) {
                connect();
            }
            String statusLine;
            try {
                out.write(headBytes);
                if (body != null) {
                    out.write(body);
                }
                out.flush();
                statusLine = readLine();
                if (statusLine == null) {
                    throw new EOFException("connection closed before response");
                }
            } catch (IOException e) {
                close();
                if (reused && attempt == 0) {
                    continue;
                }
                throw e;
            }
            try {
                return readResponse(statusLine);
            } catch (IOException e) {
                close();
                throw e;
            }
        }
    }

    private Response readResponse(String statusLine) throws IOException {
        String[] parts = statusLine.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
            close();
            throw new RuntimeApiException("bad status line from runtime api: " + statusLine);
        }
        int status;
        try {
            status = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            close();
            throw new RuntimeApiException("bad status line from runtime api: " + statusLine);
        }
        Map<String, String> headers = new HashMap<>();
        while (true) {
            String line = readLine();
            if (line == null) {
                throw new EOFException("connection closed inside response headers");
            }
            if (line.isEmpty()) {
                break;
            }
            int colon = line.indexOf(':');
            if (colon > 0) {
                headers.put(line.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT),
                        line.substring(colon + 1).trim());
            }
        }
        byte[] body;
        String te = headers.get("transfer-encoding");
        String cl = headers.get("content-length");
        boolean closeAfter = "close".equalsIgnoreCase(headers.get("connection"))
                || parts[0].equals("HTTP/1.0");
        if (te != null && te.equalsIgnoreCase("chunked")) {
            body = readChunked();
        } else if (cl != null) {
            body = readExact(Integer.parseInt(cl));
        } else if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
            body = new byte[0];
        } else {
            body = in.readAllBytes();
            closeAfter = true;
        }
        if (closeAfter) {
            close();
        }
        return new Response(status, headers, body);
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(128);
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int n = line.size();
                byte[] b = line.toByteArray();
                if (n > 0 && b[n - 1] == '\r') {
                    n--;
                }
                return new String(b, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(c);
        }
        return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    private byte[] readExact(int n) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new EOFException("connection closed inside response body");
        }
        return b;
    }

    private byte[] readChunked() throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String sizeLine = readLine();
            if (sizeLine == null) {
                throw new EOFException("connection closed inside chunked body");
            }
            int semi = sizeLine.indexOf(';');
            int size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
            if (size == 0) {
                String l;
                while ((l = readLine()) != null && !l.isEmpty()) {
                    // trailers: ignored
                }
                return body.toByteArray();
            }
            body.write(readExact(size));
            readLine();
        }
    }
}
