package com.amazonaws.services.lambda.runtime;

import java.nio.charset.StandardCharsets;

/** Static access to the function's logger, for code that has no Context at hand. */
public final class LambdaRuntime {
    private LambdaRuntime() {
    }

    // Replaced by the runtime client at start-up; until then, writes to stdout.
    private static volatile LambdaLogger logger = new LambdaLogger() {
        @Override
        public void log(String message) {
            System.out.print(message);
            System.out.flush();
        }

        @Override
        public void log(byte[] message) {
            log(new String(message, StandardCharsets.UTF_8));
        }
    };

    public static LambdaLogger getLogger() {
        return logger;
    }

    /** For the runtime client only. */
    public static void setLogger(LambdaLogger l) {
        logger = l;
    }
}
