// Helpers around @aws-sdk/client-dynamodb for the suites that read tables back
// whole (the crash suites).
import { ScanCommand } from '@aws-sdk/client-dynamodb';

// Every item of `TableName` (strongly consistent, all pages), by its string
// partition key `pk`: Map(pk → item in DynamoDB JSON).
export async function scanAll(ddb, TableName) {
  const items = new Map();
  let ExclusiveStartKey;
  do {
    const r = await ddb.send(new ScanCommand({ TableName, ConsistentRead: true, ExclusiveStartKey }));
    for (const it of r.Items) items.set(it.pk.S, it);
    ExclusiveStartKey = r.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}
