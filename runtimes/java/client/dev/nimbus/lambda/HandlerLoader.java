package dev.nimbus.lambda;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a Java handler string into an {@link Invoker}, following the Java handler
 * conventions of Lambda:
 *
 * <ul>
 *   <li>{@code pkg.Class}: the class implements RequestStreamHandler or RequestHandler&lt;I,O&gt;
 *       and has a public no-argument constructor;
 *   <li>{@code pkg.Class::method}: a public method of that name (static, or on an instance made
 *       with the no-argument constructor) taking one of (InputStream, OutputStream, Context),
 *       (InputStream, OutputStream), (InputStream, Context), (OutputStream, Context),
 *       (InputStream), (OutputStream), (Context), (T, Context), (T) or (); overloads are
 *       ranked as Lambda ranks them (non-bridge first, longer first, a trailing Context counts
 *       one extra).
 * </ul>
 *
 * <p>Problems Lambda reports per invocation (class not found, no matching method, no
 * public constructor) become an Invoker that throws a non-fatal {@link UserFault}; problems
 * it reports as init errors (a static initializer or constructor threw) are thrown as fatal
 * faults from {@link #load}.
 */
final class HandlerLoader {
    private static final byte[] JSON_NULL = "null".getBytes(StandardCharsets.US_ASCII);

    /** Runs one invocation: reads the event bytes, writes the response bytes. */
    interface Invoker {
        void call(byte[] event, ByteArrayOutputStream out, Context context) throws Throwable;
    }

    private HandlerLoader() {
    }

    static Invoker failing(UserFault fault) {
        return (event, out, context) -> {
            throw fault;
        };
    }

    static String className(String handler) {
        int i = handler.indexOf("::");
        return i < 0 ? handler : handler.substring(0, i);
    }

    static Invoker load(String handler, ClassLoader loader) {
        String cls = className(handler);
        String method = handler.indexOf("::") < 0 ? null : handler.substring(handler.indexOf("::") + 2);
        if (cls.isEmpty() || (method != null && method.isEmpty())) {
            return failing(UserFault.of("Invalid handler: `" + handler + "'"));
        }
        Class<?> c;
        try {
            c = Class.forName(cls, true, loader);
        } catch (ClassNotFoundException e) {
            return failing(new UserFault("Class not found: " + cls, e.getClass().getName(),
                    UserFault.trace(e), false));
        } catch (Throwable t) {
            // A static initializer threw (ExceptionInInitializerError), a dependency is
            // missing (NoClassDefFoundError), the class file is too new
            // (UnsupportedClassVersionError): the environment cannot run this function.
            throw initError(t, cls);
        }
        return method == null ? loadClassHandler(c) : loadMethodHandler(c, method);
    }

    static UserFault initError(Throwable t, String cls) {
        return new UserFault("Error loading class " + cls + (t.getMessage() == null ? "" : ": " + t.getMessage()),
                t.getClass().getName(), UserFault.trace(t), true);
    }

    private static Object newInstance(Class<?> c) throws Exception {
        Constructor<?> ctor;
        try {
            ctor = c.getConstructor();
        } catch (NoSuchMethodException e) {
            if (c.getEnclosingClass() != null && !Modifier.isStatic(c.getModifiers())) {
                throw new Exception("Class " + c.getName() + " cannot be instantiated because it is a non-static inner class");
            }
            throw new Exception("Class " + c.getName() + " has no public zero-argument constructor", e);
        }
        try {
            return ctor.newInstance();
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw UserFault.of(cause, true);
        }
    }

    private static UserFault faultFor(Throwable t) {
        return t instanceof UserFault ? (UserFault) t : UserFault.of(t, false);
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static Invoker loadClassHandler(Class<?> c) {
        if (RequestStreamHandler.class.isAssignableFrom(c)) {
            RequestStreamHandler h;
            try {
                h = (RequestStreamHandler) newInstance(c);
            } catch (Throwable t) {
                return fatalOrDeferred(faultFor(t));
            }
            return (event, out, context) -> h.handleRequest(new ByteArrayInputStream(event), out, context);
        }
        if (RequestHandler.class.isAssignableFrom(c)) {
            Type[] types = requestHandlerTypes(c);
            RequestHandler h;
            try {
                h = (RequestHandler) newInstance(c);
            } catch (Throwable t) {
                return fatalOrDeferred(faultFor(t));
            }
            Type in = types[0];
            Type outType = isVoid(types[1]) ? null : types[1];
            return pojo(in, outType, (input, context) -> h.handleRequest(input, context));
        }
        return failing(UserFault.of("Class does not implement an appropriate handler interface: " + c.getName()));
    }

    private static Invoker fatalOrDeferred(UserFault f) {
        if (f.fatal) {
            throw f;
        }
        return failing(f);
    }

    /** The actual I and O of RequestHandler<I,O> as implemented by c (Object if unbound). */
    static Type[] requestHandlerTypes(Class<?> c) {
        Type[] r = resolve(c, new HashMap<>());
        if (r == null) {
            return new Type[] {Object.class, Object.class};
        }
        for (int i = 0; i < r.length; i++) {
            if (r[i] instanceof TypeVariable) {
                Type[] bounds = ((TypeVariable<?>) r[i]).getBounds();
                r[i] = bounds.length > 0 ? bounds[0] : Object.class;
            }
        }
        return r;
    }

    private static Type[] resolve(Type t, Map<TypeVariable<?>, Type> bindings) {
        Class<?> raw;
        Map<TypeVariable<?>, Type> own = new HashMap<>();
        if (t instanceof ParameterizedType) {
            ParameterizedType pt = (ParameterizedType) t;
            raw = (Class<?>) pt.getRawType();
            Type[] args = pt.getActualTypeArguments();
            TypeVariable<?>[] vars = raw.getTypeParameters();
            for (int i = 0; i < vars.length && i < args.length; i++) {
                Type a = args[i];
                own.put(vars[i], a instanceof TypeVariable && bindings.containsKey(a) ? bindings.get(a) : a);
            }
        } else if (t instanceof Class) {
            raw = (Class<?>) t;
        } else {
            return null;
        }
        if (raw == RequestHandler.class) {
            TypeVariable<?>[] vars = raw.getTypeParameters();
            Type i = own.getOrDefault(vars[0], Object.class);
            Type o = own.getOrDefault(vars[1], Object.class);
            return new Type[] {i, o};
        }
        for (Type iface : raw.getGenericInterfaces()) {
            Type[] r = resolve(iface, own);
            if (r != null) {
                return r;
            }
        }
        Type sup = raw.getGenericSuperclass();
        return sup == null ? null : resolve(sup, own);
    }

    private static boolean isVoid(Type t) {
        return t == void.class || t == Void.class;
    }

    interface PojoCall {
        Object call(Object input, Context context) throws Throwable;
    }

    /** Deserialises the event into inType (null: ignored), serialises the result as outType. */
    private static Invoker pojo(Type inType, Type outType, PojoCall call) {
        JacksonCodec.TypeCodec in = inType == null ? null : JacksonCodec.codecFor(inType);
        JacksonCodec.TypeCodec out = outType == null ? null : JacksonCodec.codecFor(outType);
        return (event, sink, context) -> {
            Object input = null;
            if (in != null) {
                try {
                    input = in.read(event);
                } catch (Throwable t) {
                    throw new RuntimeException("An error occurred during JSON parsing", UserFault.filterStackTrace(t));
                }
            }
            Object result = call.call(input, context);
            if (out == null) {
                sink.write(JSON_NULL);
                return;
            }
            try {
                out.write(result, sink);
            } catch (Throwable t) {
                sink.reset();
                throw new RuntimeException("An error occurred during JSON serialization of response", t);
            }
        };
    }

    private static int rank(Method m) {
        Class<?>[] p = m.getParameterTypes();
        return p.length + (p.length > 0 && p[p.length - 1] == Context.class ? 1 : 0);
    }

    private static Invoker loadMethodHandler(Class<?> c, String name) {
        Method[] all;
        try {
            all = c.getMethods();
        } catch (NoClassDefFoundError e) {
            return failing(new UserFault("Error loading method " + name + " on class " + c.getName(),
                    e.getClass().getName(), UserFault.trace(e), false));
        }
        List<Method> candidates = new ArrayList<>();
        for (Method m : all) {
            if (m.getName().equals(name)) {
                candidates.add(m);
            }
        }
        candidates.sort((a, b) -> {
            if (a.isBridge() != b.isBridge()) {
                return a.isBridge() ? 1 : -1;
            }
            return Integer.compare(rank(b), rank(a));
        });
        for (Method m : candidates) {
            Invoker inv;
            try {
                inv = forMethod(c, m);
            } catch (Throwable t) {
                return fatalOrDeferred(faultFor(t));
            }
            if (inv != null) {
                return inv;
            }
        }
        return failing(UserFault.of("No public method named " + name
                + " with appropriate method signature found on class " + c.getName()));
    }

    private static Object invoke(Method m, Object target, Object... args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause() == null ? e : e.getCause();
        }
    }

    /** An Invoker for a method with a supported signature, or null to skip this overload. */
    private static Invoker forMethod(Class<?> c, Method m) throws Throwable {
        Class<?>[] p = m.getParameterTypes();
        Type[] gp = m.getGenericParameterTypes();
        Type ret = m.getGenericReturnType();
        boolean stream = false;
        boolean in = false;
        boolean out = false;
        boolean ctx = false;
        Type pojoIn = null;
        if (p.length == 3) {
            if (p[0] != InputStream.class || p[1] != OutputStream.class || p[2] != Context.class) {
                return null;
            }
            stream = in = out = ctx = true;
        } else if (p.length == 2) {
            if (p[0] == InputStream.class && p[1] == OutputStream.class) {
                stream = in = out = true;
            } else if (p[0] == InputStream.class && p[1] == Context.class) {
                stream = in = ctx = true;
            } else if (p[0] == OutputStream.class && p[1] == Context.class) {
                stream = out = ctx = true;
            } else if (p[0] != Context.class && p[0] != InputStream.class && p[0] != OutputStream.class
                    && p[1] == Context.class) {
                pojoIn = gp[0];
                ctx = true;
            } else {
                return null;
            }
        } else if (p.length == 1) {
            if (p[0] == InputStream.class) {
                stream = in = true;
            } else if (p[0] == OutputStream.class) {
                stream = out = true;
            } else if (p[0] == Context.class) {
                ctx = true;
            } else {
                pojoIn = gp[0];
            }
        } else if (p.length != 0) {
            return null;
        }
        Object target = Modifier.isStatic(m.getModifiers()) ? null : newInstance(c);
        final boolean wantIn = in;
        final boolean wantOut = out;
        final boolean wantCtx = ctx;
        if (stream) {
            return (event, sink, context) -> {
                List<Object> args = new ArrayList<>(3);
                if (wantIn) {
                    args.add(new ByteArrayInputStream(event));
                }
                if (wantOut) {
                    args.add(sink);
                }
                if (wantCtx) {
                    args.add(context);
                }
                invoke(m, target, args.toArray());
            };
        }
        final boolean hasInput = pojoIn != null;
        return pojo(pojoIn, isVoid(ret) ? null : ret, (input, context) -> {
            if (hasInput && wantCtx) {
                return invoke(m, target, input, context);
            } else if (hasInput) {
                return invoke(m, target, input);
            } else if (wantCtx) {
                return invoke(m, target, context);
            }
            return invoke(m, target);
        });
    }
}
