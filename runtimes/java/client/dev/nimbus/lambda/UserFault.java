package dev.nimbus.lambda;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * A problem with the function's code found by the runtime (class or method missing, handler
 * constructor failed...), reported as Lambda's Java runtime does: errorMessage and errorType
 * only, no stackTrace in the posted document. A fatal fault ends the environment.
 */
final class UserFault extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private static final String RUNTIME_PACKAGE = "dev.nimbus.lambda.";

    final String msg;
    final String type;   // may be null: then no errorType is posted
    final String trace;  // printStackTrace text of the cause, or null
    final boolean fatal;

    UserFault(String msg, String type, String trace, boolean fatal) {
        super(msg, null, false, false);
        this.msg = msg;
        this.type = type;
        this.trace = trace;
        this.fatal = fatal;
    }

    static UserFault of(String msg) {
        return new UserFault(msg, null, null, false);
    }

    static UserFault of(Throwable t, boolean fatal) {
        return new UserFault(messageOf(t), t.getClass().getName(), trace(t), fatal);
    }

    static String messageOf(Throwable t) {
        String m = t.getLocalizedMessage();
        return m == null ? t.getClass().getName() : m;
    }

    static String trace(Throwable t) {
        filterStackTrace(t);
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        return sw.toString();
    }

    /** Cuts every trace (causes and suppressed too) at the first frame of this runtime. */
    static <T extends Throwable> T filterStackTrace(T t) {
        filter(t, Collections.newSetFromMap(new IdentityHashMap<>()));
        return t;
    }

    private static void filter(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        StackTraceElement[] frames = t.getStackTrace();
        for (int i = 0; i < frames.length; i++) {
            if (frames[i].getClassName().startsWith(RUNTIME_PACKAGE)) {
                StackTraceElement[] cut = new StackTraceElement[i];
                System.arraycopy(frames, 0, cut, 0, i);
                t.setStackTrace(cut);
                break;
            }
        }
        filter(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            filter(s, seen);
        }
    }

    /** The text logged for this fault, as Lambda's Java runtime logs it. */
    String reportable() {
        if (type != null || trace != null) {
            return msg + ": " + (type == null ? "" : type) + "\n" + (trace == null ? "" : trace) + "\n";
        }
        return msg + "\n";
    }
}
