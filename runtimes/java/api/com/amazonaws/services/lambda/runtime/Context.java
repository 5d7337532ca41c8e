// Nimbus's own definition of the Lambda Java handler API (same names and signatures as
// aws-lambda-java-core, so handler code compiled against either runs on Nimbus).
package com.amazonaws.services.lambda.runtime;

/** What a handler learns about the invocation and its execution environment. */
public interface Context {
    /** The request id of this invocation (Lambda-Runtime-Aws-Request-Id). */
    String getAwsRequestId();

    /** The CloudWatch Logs group of the function: {@code /aws/lambda/<name>}. */
    String getLogGroupName();

    /** The log stream of this execution environment. */
    String getLogStreamName();

    String getFunctionName();

    /** {@code $LATEST} or a version number. */
    String getFunctionVersion();

    /** The ARN the caller used, including an alias or version qualifier if one was given. */
    String getInvokedFunctionArn();

    /** Cognito identity of a mobile-SDK caller, or null. */
    CognitoIdentity getIdentity();

    /** Client context of a mobile-SDK caller, or null. */
    ClientContext getClientContext();

    /** Milliseconds until the invocation times out (0 once the deadline has passed). */
    int getRemainingTimeInMillis();

    /** The function's configured memory in MB. */
    int getMemoryLimitInMB();

    LambdaLogger getLogger();

    /** The tenant id of a multi-tenant function's invocation, or null. */
    default String getTenantId() {
        return null;
    }

    /** The X-Ray trace header of this invocation, or null. */
    default String getXrayTraceId() {
        return null;
    }
}
