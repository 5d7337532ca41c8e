// Test events, shaped as the triggers send them (LAMBDA_COMPAT.md §events).
// Each is a function of the region and account so that ARNs look right.

const now = () => new Date().toISOString();
const requestId = () => crypto.randomUUID();

export const templates = {
  'hello-world': {
    label: 'Hello world',
    event: () => ({ key1: 'value1', key2: 'value2', key3: 'value3' }),
  },
  's3-put': {
    label: 'S3 Put',
    event: ({ region }) => ({
      Records: [{
        eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: region, eventTime: now(),
        eventName: 'ObjectCreated:Put', userIdentity: { principalId: 'EXAMPLE' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'EXAMPLE123456789', 'x-amz-id-2': 'EXAMPLE123/abcdefghijklmnopqrstuvwxyz' },
        s3: {
          s3SchemaVersion: '1.0', configurationId: 'testConfigRule',
          bucket: { name: 'example-bucket', ownerIdentity: { principalId: 'EXAMPLE' }, arn: 'arn:aws:s3:::example-bucket' },
          object: { key: 'test/key', size: 1024, eTag: '0123456789abcdef0123456789abcdef', sequencer: '0A1B2C3D4E5F678901' },
        },
      }],
    }),
  },
  sqs: {
    label: 'SQS message batch',
    event: ({ region, account }) => ({
      Records: [{
        messageId: requestId(), receiptHandle: 'MessageReceiptHandle', body: 'Hello from SQS!',
        attributes: {
          ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: account,
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {}, md5OfBody: '7b270e59b47ff90a553787216d55d91d', eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${region}:${account}:my-queue`, awsRegion: region,
      }],
    }),
  },
  'apigateway-http': {
    label: 'API Gateway HTTP API (payload 2.0)',
    event: ({ account }) => ({
      version: '2.0', routeKey: 'POST /items', rawPath: '/items', rawQueryString: 'verbose=1',
      headers: { 'content-type': 'application/json', host: 'abc123.execute-api.localhost', 'user-agent': 'curl/8.0' },
      queryStringParameters: { verbose: '1' },
      requestContext: {
        accountId: account, apiId: 'abc123', domainName: 'abc123.execute-api.localhost', domainPrefix: 'abc123',
        http: { method: 'POST', path: '/items', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'curl/8.0' },
        requestId: requestId(), routeKey: 'POST /items', stage: '$default', time: new Date().toUTCString(), timeEpoch: Date.now(),
      },
      body: '{"name":"widget"}', isBase64Encoded: false,
    }),
  },
  'apigateway-rest': {
    label: 'API Gateway REST API (payload 1.0)',
    event: ({ account }) => ({
      version: '1.0', resource: '/items', path: '/items', httpMethod: 'GET',
      headers: { Accept: 'application/json', Host: 'abc123.execute-api.localhost' },
      multiValueHeaders: { Accept: ['application/json'], Host: ['abc123.execute-api.localhost'] },
      queryStringParameters: { page: '1' }, multiValueQueryStringParameters: { page: ['1'] },
      pathParameters: null, stageVariables: null,
      requestContext: {
        accountId: account, apiId: 'abc123', httpMethod: 'GET', path: '/items', stage: '$default',
        requestId: requestId(), requestTimeEpoch: Date.now(), resourcePath: '/items',
        identity: { sourceIp: '127.0.0.1', userAgent: 'curl/8.0' },
      },
      body: null, isBase64Encoded: false,
    }),
  },
  schedule: {
    label: 'Scheduled event (EventBridge)',
    event: ({ region, account }) => ({
      version: '0', id: requestId(), 'detail-type': 'Scheduled Event', source: 'aws.events', account,
      time: now().replace(/\.\d+Z$/, 'Z'), region, resources: [`arn:aws:events:${region}:${account}:rule/my-schedule`], detail: {},
    }),
  },
  'eventbridge-custom': {
    label: 'EventBridge custom event',
    event: ({ region, account }) => ({
      version: '0', id: requestId(), 'detail-type': 'Order Placed', source: 'com.example.orders', account,
      time: now().replace(/\.\d+Z$/, 'Z'), region, resources: [], detail: { orderId: '1234', amount: 42.5 },
    }),
  },
  'dynamodb-stream': {
    label: 'DynamoDB stream record',
    event: ({ region, account }) => ({
      Records: [{
        eventID: '1', eventName: 'INSERT', eventVersion: '1.1', eventSource: 'aws:dynamodb', awsRegion: region,
        dynamodb: {
          ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
          Keys: { Id: { N: '101' } },
          NewImage: { Message: { S: 'New item!' }, Id: { N: '101' } },
          SequenceNumber: '111', SizeBytes: 26, StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
        eventSourceARN: `arn:aws:dynamodb:${region}:${account}:table/ExampleTable/stream/2026-01-01T00:00:00.000`,
      }],
    }),
  },
};
