package com.amazonaws.services.lambda.runtime.logging;

/** Log levels of {@link com.amazonaws.services.lambda.runtime.LambdaLogger}. */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL;

    /** Parses a level name case-insensitively; unknown names give UNDEFINED. */
    public static LogLevel fromString(String name) {
        if (name == null) {
            return UNDEFINED;
        }
        try {
            return valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return UNDEFINED;
        }
    }
}
