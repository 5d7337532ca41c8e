package dev.nimbus.lambda;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.util.Map;

/** The Context of one invocation: environment fields plus the /next headers. */
final class InvocationContext implements Context {
    // Per environment (read once).
    static final String FUNCTION_NAME = System.getenv("AWS_LAMBDA_FUNCTION_NAME");
    static final String FUNCTION_VERSION = System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
    static final String LOG_GROUP_NAME = System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
    static final String LOG_STREAM_NAME = System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
    static final int MEMORY_LIMIT_MB = parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 128);

    private final String requestId;
    private final long deadlineMs;
    private final String invokedFunctionArn;
    private final String traceId;
    private final String tenantId;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;
    private final LambdaLogger logger;

    InvocationContext(String requestId, long deadlineMs, String invokedFunctionArn, String traceId,
                      String tenantId, CognitoIdentity identity, ClientContext clientContext,
                      LambdaLogger logger) {
        this.requestId = requestId;
        this.deadlineMs = deadlineMs;
        this.invokedFunctionArn = invokedFunctionArn;
        this.traceId = traceId;
        this.tenantId = tenantId;
        this.identity = identity;
        this.clientContext = clientContext;
        this.logger = logger;
    }

    static int parseInt(String s, int fallback) {
        try {
            return s == null ? fallback : Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    @Override
    public String getAwsRequestId() {
        return requestId;
    }

    @Override
    public String getLogGroupName() {
        return LOG_GROUP_NAME;
    }

    @Override
    public String getLogStreamName() {
        return LOG_STREAM_NAME;
    }

    @Override
    public String getFunctionName() {
        return FUNCTION_NAME;
    }

    @Override
    public String getFunctionVersion() {
        return FUNCTION_VERSION;
    }

    @Override
    public String getInvokedFunctionArn() {
        return invokedFunctionArn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        return identity;
    }

    @Override
    public ClientContext getClientContext() {
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        long remaining = deadlineMs - System.currentTimeMillis();
        return remaining <= 0 ? 0 : (int) Math.min(remaining, Integer.MAX_VALUE);
    }

    @Override
    public int getMemoryLimitInMB() {
        return MEMORY_LIMIT_MB;
    }

    @Override
    public LambdaLogger getLogger() {
        return logger;
    }

    @Override
    public String getTenantId() {
        return tenantId;
    }

    @Override
    public String getXrayTraceId() {
        return traceId;
    }

    static final class Identity implements CognitoIdentity {
        private final String identityId;
        private final String identityPoolId;

        Identity(String identityId, String identityPoolId) {
            this.identityId = identityId;
            this.identityPoolId = identityPoolId;
        }

        @Override
        public String getIdentityId() {
            return identityId;
        }

        @Override
        public String getIdentityPoolId() {
            return identityPoolId;
        }
    }

    static final class AppClient implements Client {
        private final String installationId;
        private final String appTitle;
        private final String appVersionName;
        private final String appVersionCode;
        private final String appPackageName;

        AppClient(String installationId, String appTitle, String appVersionName,
                  String appVersionCode, String appPackageName) {
            this.installationId = installationId;
            this.appTitle = appTitle;
            this.appVersionName = appVersionName;
            this.appVersionCode = appVersionCode;
            this.appPackageName = appPackageName;
        }

        @Override
        public String getInstallationId() {
            return installationId;
        }

        @Override
        public String getAppTitle() {
            return appTitle;
        }

        @Override
        public String getAppVersionName() {
            return appVersionName;
        }

        @Override
        public String getAppVersionCode() {
            return appVersionCode;
        }

        @Override
        public String getAppPackageName() {
            return appPackageName;
        }
    }

    static final class MobileClientContext implements ClientContext {
        private final Client client;
        private final Map<String, String> custom;
        private final Map<String, String> environment;

        MobileClientContext(Client client, Map<String, String> custom, Map<String, String> environment) {
            this.client = client;
            this.custom = custom;
            this.environment = environment;
        }

        @Override
        public Client getClient() {
            return client;
        }

        @Override
        public Map<String, String> getCustom() {
            return custom;
        }

        @Override
        public Map<String, String> getEnvironment() {
            return environment;
        }
    }
}
