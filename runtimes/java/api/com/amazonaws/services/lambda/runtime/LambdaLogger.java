package com.amazonaws.services.lambda.runtime;

import com.amazonaws.services.lambda.runtime.logging.LogLevel;

/** Writes to the function's log; each call becomes one log record. */
public interface LambdaLogger {
    void log(String message);

    void log(byte[] message);

    /** Logs at a level; filtered by AWS_LAMBDA_LOG_LEVEL when the log format is JSON. */
    default void log(String message, LogLevel logLevel) {
        log(message);
    }

    default void log(byte[] message, LogLevel logLevel) {
        log(message);
    }
}
