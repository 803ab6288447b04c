/** The Resource Groups Tagging API client (the admin CLI lists every resource of a deployment by tag). */
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function taggingClient(options: AwsClientOptions = {}): ResourceGroupsTaggingAPIClient {
  return memoized('tagging', options, () => new ResourceGroupsTaggingAPIClient(baseConfig(options)));
}
