package com.amazonaws.services.lambda.runtime;

/**
 * A handler whose input is deserialised from the event JSON into {@code I} and whose
 * result {@code O} is serialised back to JSON.
 */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
