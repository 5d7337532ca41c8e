// The console's calls to Nimbus: the same AWS APIs the SDKs use, on the same
// origin. Every failure becomes an AwsError carrying the service's error type
// and message, which the pages show as they are.
//
// The console does not sign its requests (a browser on a plain-HTTP origin has
// no WebCrypto for SigV4): it signs in once (POST /console/session) and the
// server's HttpOnly session cookie goes with every request, together with the
// header X-Nimbus-Console: 1, which other sites' pages cannot send.

export class AwsError extends Error {
  constructor(status, type, message) {
    super(message || type);
    this.status = status;
    this.type = type;
  }
}

// The error type and message of a failed response, in any of the protocols'
// shapes: JSON (__type/message, Type/Message), REST (x-amzn-ErrorType) or S3 XML.
async function errorOf(response) {
  const text = await response.text();
  let type = response.headers.get('x-amzn-ErrorType') || '';
  let message = text;
  try {
    const body = JSON.parse(text);
    type = body.__type || body.Type || body.code || type;
    message = body.message || body.Message || body.errorMessage || text;
  } catch {
    const xml = /<Code>([^<]*)<\/Code>[\s\S]*?<Message>([^<]*)<\/Message>/.exec(text);
    if (xml) [, type, message] = xml;
  }
  type = String(type).split('#').pop().split(':')[0];
  return new AwsError(response.status, type || `HTTP ${response.status}`, message);
}

// What the server answers when the session has ended (expired, signed out
// elsewhere, the key deleted, the server restarted).
const SESSION_ERRORS = new Set(['ExpiredToken', 'ExpiredTokenException', 'MissingAuthenticationToken']);

let onSessionLost = () => {};

// `handler(error)` runs when an API call finds the session gone.
export function whenSessionLost(handler) {
  onSessionLost = handler;
}

// fetch() with the console's header and the session cookie.
function request(url, init = {}) {
  return fetch(url, { ...init, credentials: 'same-origin', headers: { 'X-Nimbus-Console': '1', ...init.headers } });
}

async function send(url, init = {}) {
  const response = await request(url, init);
  if (!response.ok) {
    const error = await errorOf(response);
    if ((response.status === 401 || response.status === 403) && SESSION_ERRORS.has(error.type)) onSessionLost(error);
    throw error;
  }
  return response;
}

// The console's sign-in (/console/session).
export const session = {
  // {AccessKeyId, Policy, Mode}, {Mode: 'dev'} when the server verifies
  // nothing, or null when not signed in.
  async get() {
    const response = await request('/console/session');
    if (response.status === 401) {
      await response.text();  // read, so the browser does not report the request as aborted
      return null;
    }
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
  // {AccessKeyId, Policy}; an AwsError (403, 429) when refused.
  async signIn(accessKeyId, secretAccessKey) {
    const response = await request('/console/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey }),
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
  async signOut() {
    const response = await request('/console/session', { method: 'DELETE' });
    if (!response.ok) throw await errorOf(response);
  },
};

const getJson = async (url) => (await send(url)).json();

// The JSON protocols (X-Amz-Target) of Logs, CloudWatch, SQS, DynamoDB and EventBridge.
function jsonProtocol(prefix, version) {
  return async (operation, body = {}) => {
    const response = await send('/', {
      method: 'POST',
      headers: { 'X-Amz-Target': `${prefix}.${operation}`, 'Content-Type': `application/x-amz-json-${version}` },
      body: JSON.stringify(body),
    });
    return response.json();
  };
}

export const logs = jsonProtocol('Logs_20140328', '1.1');
export const cloudwatch = jsonProtocol('GraniteServiceVersion20100801', '1.0');
export const sqs = jsonProtocol('AmazonSQS', '1.0');
export const dynamodb = jsonProtocol('DynamoDB_20120810', '1.0');
export const events = jsonProtocol('AWSEvents', '1.1');

const fn = (name) => `/2015-03-31/functions/${encodeURIComponent(name)}`;

export const lambda = {
  async listFunctions() {
    const functions = [];
    let marker = '';
    do {
      const page = await getJson(`/2015-03-31/functions/?MaxItems=50${marker ? `&Marker=${encodeURIComponent(marker)}` : ''}`);
      functions.push(...page.Functions);
      marker = page.NextMarker || '';
    } while (marker);
    return functions;
  },
  getFunction: (name) => getJson(fn(name)),
  async listMappings(name) {
    const query = name ? `?FunctionName=${encodeURIComponent(name)}` : '';
    return (await getJson(`/2015-03-31/event-source-mappings/${query}`)).EventSourceMappings;
  },
  // The function's URL (unqualified, else the first alias's), or null.
  async getUrl(name) {
    const configs = (await getJson(`/2021-10-31/functions/${encodeURIComponent(name)}/urls`)).FunctionUrlConfigs;
    return configs.find((c) => c.FunctionArn.endsWith(`:function:${name}`)) ?? configs[0] ?? null;
  },
  // RequestResponse with the log tail, as `aws lambda invoke --log-type Tail`.
  async invoke(name, payload) {
    const started = performance.now();
    const response = await send(`${fn(name)}/invocations`, {
      method: 'POST',
      headers: { 'X-Amz-Log-Type': 'Tail', 'Content-Type': 'application/json' },
      body: payload,
    });
    const elapsed = performance.now() - started;
    const tail = response.headers.get('X-Amz-Log-Result');
    return {
      body: await response.text(),
      functionError: response.headers.get('X-Amz-Function-Error'),
      version: response.headers.get('X-Amz-Executed-Version'),
      log: tail ? new TextDecoder().decode(Uint8Array.from(atob(tail), (c) => c.charCodeAt(0))) : '',
      elapsed,
    };
  },
};

// The SDKs' S3 requests are told apart by their signature's scope; the
// console's, unsigned, say so with a header (s3::S3Api::Matches).
async function s3Xml(path) {
  const text = await (await send(path, { headers: { 'X-Nimbus-Service': 's3' } })).text();
  return new DOMParser().parseFromString(text, 'application/xml');
}

const textOf = (node, tag) => node.getElementsByTagName(tag)[0]?.textContent ?? '';

export const s3 = {
  async listBuckets() {
    const doc = await s3Xml('/');
    return [...doc.getElementsByTagName('Bucket')].map((b) => ({ name: textOf(b, 'Name'), created: textOf(b, 'CreationDate') }));
  },
  async listObjects(bucket, prefix = '') {
    const doc = await s3Xml(`/${encodeURIComponent(bucket)}?list-type=2&delimiter=%2F&max-keys=1000&prefix=${encodeURIComponent(prefix)}`);
    return {
      prefixes: [...doc.getElementsByTagName('CommonPrefixes')].map((p) => textOf(p, 'Prefix')),
      objects: [...doc.getElementsByTagName('Contents')].map((o) => ({
        key: textOf(o, 'Key'), size: Number(textOf(o, 'Size')), modified: textOf(o, 'LastModified'),
      })),
      truncated: textOf(doc, 'IsTruncated') === 'true',
    };
  },
  // The bucket's Lambda notifications: [{functionArn, events, filter}].
  async notifications(bucket) {
    const doc = await s3Xml(`/${encodeURIComponent(bucket)}?notification`);
    return [...doc.getElementsByTagName('CloudFunctionConfiguration')].map((c) => ({
      functionArn: textOf(c, 'CloudFunction'),
      events: [...c.getElementsByTagName('Event')].map((e) => e.textContent),
      filter: [...c.getElementsByTagName('FilterRule')].map((r) => `${textOf(r, 'Name')}=${textOf(r, 'Value')}`).join(' '),
    }));
  },
};

export const apigateway = {
  // API Gateway's REST JSON is in lower camel case: items, apiId, routeKey...
  apis: async () => (await getJson('/v2/apis')).items,
  routes: async (id) => (await getJson(`/v2/apis/${encodeURIComponent(id)}/routes`)).items,
  integrations: async (id) => (await getJson(`/v2/apis/${encodeURIComponent(id)}/integrations`)).items,
};

export const usage = (start, end) => getJson(`/nimbus/usage?start=${start}&end=${end}`);

export async function health() {
  return (await send('/health')).json();
}
