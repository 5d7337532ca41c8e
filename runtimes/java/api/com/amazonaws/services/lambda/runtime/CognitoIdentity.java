package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity of the caller. */
public interface CognitoIdentity {
    String getIdentityId();

    String getIdentityPoolId();
}
