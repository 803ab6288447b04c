/**
 * AnalysisCatalog on the single DynamoDB table (docs/data-model.md):
 * - analysis item   pk=ANALYSIS#<id> sk=META            title, members, tool, size (the source of truth)
 * - membership item pk=USER#<userId> sk=ANALYSIS#<id>    a copy of the analysis for `listFor` (one Query)
 * - user item       pk=USER#<userId> sk=META            name, roles
 * Membership items are derived from the analysis item by `putAnalysis`; authorisation (`get`) reads
 * only the analysis item, so a stale membership item can never grant access.
 */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Analysis, AnalysisCatalog, User } from '../../core/ports.js';
import { rethrowAwsError } from './clients/errors.js';
import { queryAll } from './dynamo-query.js';

type Item = Record<string, unknown>;

const META = 'META';
export const analysisPk = (analysisId: string) => `ANALYSIS#${analysisId}`;
export const userPk = (userId: string) => `USER#${userId}`;
export const membershipSk = (analysisId: string) => `ANALYSIS#${analysisId}`;

function strings(value: unknown): string[] {
  if (value instanceof Set) return [...value].map(String);
  if (Array.isArray(value)) return value.map(String);
  return [];
}

function toAnalysis(item: Item): Analysis {
  return {
    analysisId: String(item.analysisId),
    title: String(item.title ?? item.analysisId),
    members: strings(item.members),
    tool: String(item.tool),
    size: String(item.size),
  };
}

function analysisAttributes(analysis: Analysis): Item {
  return {
    analysisId: analysis.analysisId,
    title: analysis.title,
    // A list, not a string set: a set cannot be empty and an analysis may (briefly) have no members.
    members: [...new Set(analysis.members)],
    tool: analysis.tool,
    size: analysis.size,
  };
}

export class DynamoAnalysisCatalog implements AnalysisCatalog {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One consistent GetItem of the analysis item (a removed member loses access at once). */
  async get(analysisId: string, _user: User): Promise<Analysis | undefined> {
    const item = await this.getItem(analysisPk(analysisId), META, 'Reading the analysis');
    return item ? toAnalysis(item) : undefined;
  }

  /** One Query of the user's membership items (more pages only past 1 MB); never a Scan. */
  async listFor(user: User): Promise<readonly Analysis[]> {
    const items = await queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': userPk(user.userId), ':prefix': 'ANALYSIS#' },
      },
      'Listing analyses',
    );
    const analyses = items.map(toAnalysis);
    return analyses.sort((a, b) => a.title.localeCompare(b.title) || a.analysisId.localeCompare(b.analysisId));
  }

  /**
   * Create or replace an analysis and its membership items (local seeding, admin tools). Without
   * transactions the steps are ordered so that re-running repairs any interruption: drop the
   * memberships of removed members, write the analysis item, then write each member's copy.
   */
  async putAnalysis(analysis: Analysis): Promise<void> {
    const attributes = analysisAttributes(analysis);
    const previous = await this.getItem(analysisPk(analysis.analysisId), META, 'Reading the analysis');
    const removed = strings(previous?.members).filter((member) => !analysis.members.includes(member));
    try {
      await Promise.all(
        removed.map((member) =>
          this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: userPk(member), sk: membershipSk(analysis.analysisId) } })),
        ),
      );
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: analysisPk(analysis.analysisId), sk: META, type: 'analysis', ...attributes } }));
      await Promise.all(
        (attributes.members as string[]).map((member) =>
          this.doc.send(
            new PutCommand({ TableName: this.tableName, Item: { pk: userPk(member), sk: membershipSk(analysis.analysisId), type: 'membership', ...attributes } }),
          ),
        ),
      );
    } catch (error) {
      return rethrowAwsError(error, 'Writing the analysis');
    }
  }

  /** A person's name and roles (e.g. `reviewer`, `admin`): one PutItem. */
  async putUser(user: User): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: userPk(user.userId), sk: META, type: 'user', userId: user.userId, name: user.name, roles: [...new Set(user.roles)] },
        }),
      );
    } catch (error) {
      return rethrowAwsError(error, 'Writing the user');
    }
  }

  /** One consistent GetItem. */
  async getUser(userId: string): Promise<User | undefined> {
    const item = await this.getItem(userPk(userId), META, 'Reading the user');
    if (!item) return undefined;
    return { userId: String(item.userId ?? userId), ...(item.name !== undefined ? { name: String(item.name) } : {}), roles: strings(item.roles) };
  }

  private async getItem(pk: string, sk: string, what: string): Promise<Item | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true }));
      return out.Item;
    } catch (error) {
      return rethrowAwsError(error, what);
    }
  }
}
