import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import { buildTestApp } from './support.js';

describe('stateful stack', () => {
  let template: Template;

  before(() => {
    // Prepare
    const { stateful } = buildTestApp({ config: { deploymentId: 'test' } });
    // Act
    template = Template.fromStack(stateful);
  });

  it('has one on-demand table with point-in-time recovery, KMS encryption and deletion protection', () => {
    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
      KeySchema: [
        { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
      ],
    });
  });

  it('keeps the table when the stack or the resource is removed', () => {
    // Assess
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('has the three sparse GSIs exactly as table-schema.ts describes them (string keys)', () => {
    // Prepare
    const { dueIndex, instanceIndex, reviewIndex } = TABLE_SCHEMA;

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
        { AttributeName: dueIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: dueIndex.sortKey, AttributeType: 'S' },
        { AttributeName: instanceIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: reviewIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: reviewIndex.sortKey, AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: dueIndex.name,
          KeySchema: [
            { AttributeName: dueIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: dueIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: instanceIndex.name,
          KeySchema: [{ AttributeName: instanceIndex.partitionKey, KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
        {
          IndexName: reviewIndex.name,
          KeySchema: [
            { AttributeName: reviewIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: reviewIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('has an ECC P-256 SIGN_VERIFY signing key with an alias, retained', () => {
    // Assess
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', PendingWindowInDays: 30 }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/carrel/test/signing' });
  });

  it('tags its resources with the deployment', () => {
    // Assess
    for (const type of ['AWS::DynamoDB::Table', 'AWS::KMS::Key']) {
      template.hasResourceProperties(type, { Tags: Match.arrayWith([{ Key: 'carrel:deployment', Value: 'test' }]) });
    }
  });

  it('is protected from deletion as a stack', () => {
    // Prepare
    const { stateful } = buildTestApp({ config: { deploymentId: 'test' } });

    // Act / Assess
    assert.equal(stateful.terminationProtection, true);
  });
});
