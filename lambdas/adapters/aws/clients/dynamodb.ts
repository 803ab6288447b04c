/** The DynamoDB client and document client (the store and the catalog, in every function). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function dynamoClient(options: AwsClientOptions = {}): DynamoDBClient {
  return memoized('dynamodb', options, () => new DynamoDBClient(baseConfig(options)));
}

/**
 * Document client over `dynamoClient(options)`. `removeUndefinedValues` lets adapters write records
 * whose optional fields are unset: the attribute is simply absent (which keeps sparse indexes sparse).
 */
export function dynamoDocumentClient(options: AwsClientOptions = {}): DynamoDBDocumentClient {
  return memoized('dynamodb-document', options, () =>
    DynamoDBDocumentClient.from(dynamoClient(options), {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
  );
}
