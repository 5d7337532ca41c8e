// Helpers around @aws-sdk/client-cloudwatch-logs: read back what functions logged.
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';

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
