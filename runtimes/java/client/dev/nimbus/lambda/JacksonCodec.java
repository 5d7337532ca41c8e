package dev.nimbus.lambda;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Type;
import java.util.LinkedHashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * JSON (de)serialisation of handler inputs and outputs with Debian's Jackson
 * (/usr/share/java/jackson-*.jar). Only touched once a handler needs it, so stream handlers
 * do not pay for loading Jackson. Configured like Lambda's own serializer: unknown properties
 * are ignored, a single value is accepted where an array is expected, empty beans serialise
 * as {} and null properties are left out.
 */
final class JacksonCodec {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY, true)
            .configure(DeserializationFeature.ACCEPT_EMPTY_STRING_AS_NULL_OBJECT, true)
            .configure(SerializationFeature.FAIL_ON_EMPTY_BEANS, false)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL);

    private JacksonCodec() {
    }

    /** A reader and a writer for one declared type, built once at init. */
    static final class TypeCodec {
        private final ObjectReader reader;
        private final ObjectWriter writer;

        TypeCodec(Type type) {
            JavaType t = MAPPER.getTypeFactory().constructType(type);
            this.reader = MAPPER.readerFor(t);
            this.writer = MAPPER.writerFor(t);
        }

        Object read(byte[] json) throws IOException {
            return reader.readValue(json);
        }

        void write(Object value, OutputStream out) throws IOException {
            writer.writeValue(out, value);
        }
    }

    static TypeCodec codecFor(Type type) {
        return new TypeCodec(type);
    }

    static InvocationContext.Identity parseIdentity(String json) throws IOException {
        JsonNode n = MAPPER.readTree(json);
        return new InvocationContext.Identity(text(n, "cognitoIdentityId"), text(n, "cognitoIdentityPoolId"));
    }

    static InvocationContext.MobileClientContext parseClientContext(String json) throws IOException {
        JsonNode n = MAPPER.readTree(json);
        JsonNode c = n.get("client");
        InvocationContext.AppClient client = c == null || !c.isObject() ? null
                : new InvocationContext.AppClient(text(c, "installation_id"), text(c, "app_title"),
                        text(c, "app_version_name"), text(c, "app_version_code"), text(c, "app_package_name"));
        return new InvocationContext.MobileClientContext(client, stringMap(n.get("custom")), stringMap(n.get("env")));
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n == null ? null : n.get(field);
        return v == null || v.isNull() ? null : v.isTextual() ? v.textValue() : v.toString();
    }

    private static Map<String, String> stringMap(JsonNode n) {
        if (n == null || !n.isObject()) {
            return null;
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            m.put(e.getKey(), v.isNull() ? null : v.isTextual() ? v.textValue() : v.toString());
        }
        return m;
    }
}
