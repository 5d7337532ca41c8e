package com.amazonaws.services.lambda.runtime.logging;

/** The function's log format (LoggingConfig.LogFormat, env AWS_LAMBDA_LOG_FORMAT). */
public enum LogFormat {
    TEXT,
    JSON;

    public static LogFormat fromString(String name) {
        return name != null && name.trim().equalsIgnoreCase("JSON") ? JSON : TEXT;
    }
}
