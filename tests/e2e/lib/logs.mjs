// Helpers around @aws-sdk/client-cloudwatch-logs: read back what functions logged.
import { DescribeLogStreamsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';

// The ids of the function's execution environments that have logged: the part
// after "]" of each log stream name of /aws/lambda/NAME ("2024/01/02/[$LATEST]<id>").
export async function environmentIds(logs, name) {
  const ids = [];
  let nextToken;
  do {
    let page;
    try {
      page = await logs.send(new DescribeLogStreamsCommand({ logGroupName: `/aws/lambda/${name}`, nextToken }));
    } catch (e) {
      if (e.name === 'ResourceNotFoundException') return ids;
      throw e;
    }
    for (const s of page.logStreams ?? []) ids.push(s.logStreamName.slice(s.logStreamName.indexOf(']') + 1));
    nextToken = page.nextToken;
  } while (nextToken);
  return ids;
}

// Every log event message of /aws/lambda/NAME, in the order FilterLogEvents pages them;
// empty when the log group does not exist yet (nothing logged).
export async function logMessages(logs, name) {
  const out = [];
  let nextToken;
  do {
    let page;
    try {
      page = await logs.send(new FilterLogEventsCommand({ logGroupName: `/aws/lambda/${name}`, nextToken }));
    } catch (e) {
      if (e.name === 'ResourceNotFoundException') return out; // nothing logged yet
      throw e;
    }
    for (const ev of page.events ?? []) out.push(ev.message);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}
